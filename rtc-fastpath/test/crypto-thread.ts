/**
 * A worker thread for thread-crypto.test.ts, set up as the egress's fan-out thread is: it
 * records every module it loads, keeps werift's certificate library out and werift's sources one
 * byte per character (recording which werift files still reached V8 with a wider character), and
 * then either answers a werift viewer's offer on its own
 * certificate (`workerData.mode === 'serve'`) or asks werift for a certificate with none
 * installed (`'no-certificate'`).
 */
import { registerHooks } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import {
  answerAsDtlsServer,
  keepCryptoLibrariesOut,
  leanWeriftSource,
  loopbackOnly,
  loopbackPeerConfig,
  makeDtlsCertificate,
  removeDefaultStun,
  useOwnDtlsCertificate,
} from '../src/index.ts';

const port = parentPort!;
const loaded: string[] = [];
registerHooks({
  load(url, context, nextLoad) {
    loaded.push(url);
    return nextLoad(url, context);
  },
});
keepCryptoLibrariesOut();
leanWeriftSource();
/** werift files whose source, as V8 gets it (after the hook above), has a character above U+00FF or a localeCompare call. */
const wide: string[] = [];
registerHooks({
  load(url, context, nextLoad) {
    const result = nextLoad(url, context);
    const text =
      typeof result.source === 'string' ? result.source : Buffer.from((result.source ?? new Uint8Array()) as Uint8Array).toString('utf8');
    if (url.includes('/node_modules/werift/') && (/[\u0100-\uffff]/.test(text) || text.includes('localeCompare'))) wide.push(url);
    return result;
  },
});

if ((workerData as { mode: string }).mode === 'no-certificate') {
  const { RTCDtlsTransport } = await import('werift');
  const error = await RTCDtlsTransport.SetupCertificate().then(
    () => '',
    (err: unknown) => (err as Error).message,
  );
  port.postMessage({ error, loaded });
} else {
  const keys = makeDtlsCertificate();
  await useOwnDtlsCertificate(keys);
  const { RTCPeerConnection, useH264, useOPUS } = await import('werift');
  const server = new RTCPeerConnection(loopbackPeerConfig({ video: [useH264()], audio: [useOPUS()] }));
  port.once('message', async (offer: string) => {
    server.addTransceiver('video', { direction: 'sendonly' });
    await server.setRemoteDescription({ type: 'offer', sdp: offer });
    removeDefaultStun(server);
    answerAsDtlsServer(server);
    await server.setLocalDescription(await server.createAnswer());
    server.connectionStateChange.subscribe((state) => {
      if (state === 'connected') port.postMessage({ connected: true, certPem: keys.certPem, loaded, wide });
    });
    port.postMessage({ answer: loopbackOnly(server.localDescription!.sdp) });
  });
  port.postMessage({ waiting: true });
}
