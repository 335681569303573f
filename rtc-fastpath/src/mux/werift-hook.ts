/**
 * Puts a werift peer's ICE agents on the thread's mux. werift has no option for a shared socket:
 * each ICE agent (ice/src/ice.ts `Connection`, reached as `iceTransport.connection`) makes a
 * `StunProtocol` per gathered address and, in its `connectionMade`, binds a `UdpTransport` of its
 * own. Three instance-level reaches, on this peer's agents only (no module or prototype is
 * patched, so peers without the mux are untouched):
 *
 * 1. `connection.ensureProtocol(protocol)` runs on each new protocol before its
 *    `connectionMade`: for a UDP `StunProtocol`, `connectionMade` is replaced by one that gives
 *    it a virtual transport of the mux session instead of binding a socket. The candidate then
 *    carries the mux's port (werift reads it from `transport.address`).
 * 2. `connection.localUsername` / `localPassword` / `userHistory` are set to credentials the mux
 *    made (its ufrag names this thread, credentials.ts), and `connection.restart` is wrapped so an
 *    ICE restart takes new mux credentials too.
 * 3. When an authenticated check shows that the viewer's address moved (a NAT rebinding) and the
 *    selected pair's old address has gone quiet, or the check nominates (USE-CANDIDATE), the
 *    selected pair's remote candidate is pointed at the new address: werift's DTLS, consent
 *    checks and the fast path all send to `nominated.remoteAddr`.
 *
 * The upstream change that retires this file: werift accepting an ICE UDP mux (or a factory for
 * the agent's transports) and local credentials from the application, as pion's `UDPMux` and
 * `SettingEngine.SetICECredentials` do.
 */
import type { RTCPeerConnection } from 'werift';
import type { MuxSession } from './session.ts';
import type { TcpTarget } from './tcp-mux.ts';
import type { UdpMux } from './udp-mux.ts';

/** A selected pair that heard nothing for this long has lost its path (ms): a viewer sends RTCP every second or so. */
export const MOVE_AFTER_SILENCE_MS = 2000;

/** The parts of werift's ICE Connection touched here. */
interface Agent {
  localUsername: string;
  localPassword: string;
  userHistory: Record<string, string>;
  protocols: Protocol[];
  nominated?: { protocol: Protocol; remoteCandidate: { host: string; port: number } } | undefined;
  ensureProtocol(protocol: Protocol): void;
  restart(): Promise<void>;
}

interface Protocol {
  type?: string;
  transport?: unknown;
  localCandidate?: { ufrag?: string };
  connectionMade?: (...args: unknown[]) => Promise<void>;
  datagramReceived?: (data: Buffer, addr: [string, number]) => void;
  registerSocket?: (socket: unknown, remoteAddr: [string, number]) => unknown;
}

let threadMux: UdpMux | undefined;

/** Sets (or clears) the mux this thread's peers use. */
export function useThreadMux(mux: UdpMux | undefined): void {
  threadMux = mux;
}

/** The mux of this thread, if there is one. */
export function currentMux(): UdpMux | undefined {
  return threadMux;
}

const attached = new WeakMap<object, MuxSession>();

/**
 * Puts the peer's ICE agents on `mux` (the thread's by default). Call after the remote
 * description created the ICE transports and before gathering; calling again (after an ICE
 * restart's description) only attaches agents it has not seen. Returns the mux sessions.
 */
export function attachMux(pc: RTCPeerConnection, mux: UdpMux | undefined = threadMux): MuxSession[] {
  if (!mux) return [];
  const sessions: MuxSession[] = [];
  for (const transport of pc.iceTransports) {
    const agent = (transport as unknown as { connection?: Agent }).connection;
    if (!agent || typeof agent.ensureProtocol !== 'function' || typeof agent.restart !== 'function') {
      throw new Error('werift ICE transport has no connection.ensureProtocol/restart; cannot use the ICE mux');
    }
    let session = attached.get(agent);
    if (!session) {
      session = hook(agent, mux);
      attached.set(agent, session);
    }
    sessions.push(session);
  }
  return sessions;
}

/** Every mux session of the peer's agents leaves the mux (call when the peer closes). */
export function detachMux(pc: RTCPeerConnection): void {
  for (const transport of pc.iceTransports) {
    const agent = (transport as unknown as { connection?: object }).connection;
    if (agent) attached.get(agent)?.close();
  }
}

function hook(agent: Agent, mux: UdpMux): MuxSession {
  const session = mux.session();
  const useCredentials = () => {
    agent.localUsername = session.ufrag;
    agent.localPassword = session.password;
    agent.userHistory = { ...agent.userHistory, [session.ufrag]: session.password };
    for (const p of agent.protocols) if (p.localCandidate) p.localCandidate.ufrag = session.ufrag;
  };
  // Only ours: werift's own random ones must not authenticate anything.
  agent.userHistory = {};
  useCredentials();

  const restart = agent.restart.bind(agent);
  agent.restart = () => {
    const werifts = agent.localUsername;
    const done = restart();
    delete agent.userHistory[werifts];
    session.renew();
    useCredentials();
    return done;
  };

  const ensureProtocol = agent.ensureProtocol.bind(agent);
  agent.ensureProtocol = (protocol: Protocol) => {
    if (protocol.type === 'stun' && protocol.transport === undefined && typeof protocol.datagramReceived === 'function') {
      protocol.connectionMade = async (useIpv4: unknown) => {
        const transport = session.transport(useIpv4 ? 4 : 6);
        transport.onData = (data, addr) => protocol.datagramReceived!(data, addr);
        protocol.transport = transport;
      };
    } else if (protocol.type === 'tcp' && 'server' in protocol && typeof protocol.registerSocket === 'function' && mux.tcpPort !== undefined) {
      // A passive TCP protocol (TcpPassiveProtocol): no listening socket of its own; its
      // candidate carries the TCP mux's port, which hands it authenticated connections.
      const tcpPort = mux.tcpPort;
      protocol.connectionMade = async (localIp: unknown) => {
        (protocol as { localIp?: unknown }).localIp = localIp;
      };
      Object.defineProperty(protocol, 'listeningPort', { get: () => tcpPort });
      session.addTcp(protocol as TcpTarget);
    }
    ensureProtocol(protocol);
  };

  // Every signed check from an address other than the selected pair's may show the viewer has
  // moved — not only the first from there: the first may come before the old path went quiet.
  session.onCheck = (host, port, check) => {
    const pair = agent.nominated;
    if (!pair) return;
    const remote = pair.remoteCandidate;
    if (remote.host === host && remote.port === port) return;
    const last = session.lastHeard(remote.host, remote.port) ?? 0;
    if (check.useCandidate || performance.now() - last >= MOVE_AFTER_SILENCE_MS) {
      // Same family only: the pair's local socket must be able to reach it.
      if (host.includes(':') !== remote.host.includes(':')) return;
      remote.host = host;
      remote.port = port;
    }
  };
  return session;
}

/**
 * The thread's mux figures as flat counts: gauges `mux-<entry kind>` (sessions, ufrags,
 * addresses, transactions, routes, sockets, …) and counters, which only grow, under
 * `mux-count-…` (`mux-count-dropped-<reason>`, `mux-count-forwarded`, `mux-count-received`).
 * Empty without a mux.
 */
export function muxCounts(): Record<string, number> {
  if (!threadMux) return {};
  const s = threadMux.stats();
  const out: Record<string, number> = {
    'mux-sockets': s.sockets,
    'mux-sessions': s.sessions,
    'mux-ufrags': s.ufrags,
    'mux-addresses': s.addresses,
    'mux-transactions': s.transactions,
    'mux-routes': s.routes,
    'mux-count-forwarded': s.forwarded,
    'mux-count-received': s.received,
    'mux-tcp-piped': s.tcpPiped,
    'mux-send-buffer-bytes': s.sendBuffer,
  };
  for (const [reason, n] of Object.entries(s.dropped)) out[`mux-count-dropped-${reason}`] = n;
  return out;
}
