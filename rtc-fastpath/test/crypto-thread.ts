/**
 * A worker thread for thread-crypto.test.ts: it records every module it loads, keeps
 * werift's certificate library out, and then either answers a werift viewer's offer on its own
 * certificate (`workerData.mode === 'serve'`) or asks werift for a certificate with none
 * installed (`'no-certificate'`).
 */
import { registerHooks } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import {
  answerAsDtlsServer,
  keepCryptoLibrariesOut,
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
      if (state === 'connected') port.postMessage({ connected: true, certPem: keys.certPem, loaded });
    });
    port.postMessage({ answer: loopbackOnly(server.localDescription!.sdp) });
  });
  port.postMessage({ waiting: true });
}
