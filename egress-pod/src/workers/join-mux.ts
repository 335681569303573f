/**
 * A fan-out worker's side of the pod's one media port (ice-mux.ts has the main thread's): kept
 * apart so that a worker thread loads only what it runs — ice-mux.ts also registers the mux's
 * metrics, and prom-client with its dependencies is a few MiB of heap in every thread that loads it.
 */
import { TcpMux, UdpMux, useThreadMux } from '@corecast/rtc-fastpath';
import type { MuxSetup } from '../ice-mux.ts';
import type { Logger } from '../log.ts';

/** A worker joins the pod's media port as owner `index`; its peers use it from then on. */
export async function joinPodMux(setup: MuxSetup, index: number, log: Logger): Promise<UdpMux> {
  const mux = await UdpMux.open({
    port: setup.port,
    ipv6: setup.ipv6,
    owner: index,
    shared: true,
    onError: (err) => log.warn({ err: err.message }, 'media socket error'),
  });
  if (setup.tcpPort !== undefined) await TcpMux.open(setup.tcpPort, mux, true);
  useThreadMux(mux);
  return mux;
}
