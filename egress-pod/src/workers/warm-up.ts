/**
 * A fan-out worker's first viewer would pay for everything werift does for the first time in a
 * fresh thread — its DTLS certificate, the handshake's crypto code cold in the JIT — about a
 * quarter of a second more time to first frame than every later viewer. So each worker, before
 * it reports ready, connects two werift peers to each other once over loopback (ICE, DTLS as
 * the server like a real session, SRTP keys) and throws them away. Nothing leaves the machine: no STUN server (werift's public
 * default removed), loopback candidate pairs only.
 */
import { RTCPeerConnection, useH264, useOPUS } from 'werift';
import { answerAsDtlsServer, loopbackOnly, loopbackPeerConfig, removeDefaultStun } from '@corecast/rtc-fastpath';

const peer = () => new RTCPeerConnection(loopbackPeerConfig({ video: [useH264()], audio: [useOPUS()] }));

/** Connects two peers over loopback and closes them; resolves true when they connected within `timeoutMs`. */
export async function warmUp(timeoutMs = 3000): Promise<boolean> {
  const viewer = peer();
  const server = peer();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    viewer.addTransceiver('video', { direction: 'recvonly' });
    viewer.addTransceiver('audio', { direction: 'recvonly' });
    const offer = await viewer.createOffer();
    removeDefaultStun(viewer);
    await viewer.setLocalDescription(offer);
    server.addTransceiver('video', { direction: 'sendonly' });
    server.addTransceiver('audio', { direction: 'sendonly' });
    await server.setRemoteDescription({ type: 'offer', sdp: loopbackOnly(viewer.localDescription!.sdp) });
    removeDefaultStun(server);
    answerAsDtlsServer(server);
    await server.setLocalDescription(await server.createAnswer());
    const connected = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
      server.connectionStateChange.subscribe((state) => {
        if (state === 'connected') resolve(true);
      });
    });
    await viewer.setRemoteDescription({ type: 'answer', sdp: loopbackOnly(server.localDescription!.sdp) });
    return await connected;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    await Promise.allSettled([viewer.close(), server.close()]);
  }
}
