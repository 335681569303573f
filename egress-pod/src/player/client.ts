/**
 * The browser side of the player page. `runPlayer` runs in the page, not in Node: it is served
 * as its own source text (`runPlayer.toString()`), so it must not use anything outside its
 * body. Only the browser's RTCPeerConnection and fetch: no third-party script.
 */

/** What the page exposes on `window.corecast` for people and tests to read. */
export interface PlayerStatus {
  /** connecting, waiting-source, playing, reconnecting, unauthorized, forbidden, error. */
  state: string;
  /** Human-readable detail of the state. */
  detail: string;
  /** WHEP POSTs sent. */
  posts: number;
  /** Times the page set up a new session after losing one. */
  reconnects: number;
  /** Frames presented (requestVideoFrameCallback). */
  framesPresented: number;
  /** Frames decoded (getStats inbound-rtp video). */
  framesDecoded: number;
  /** Keyframes decoded. */
  keyFramesDecoded: number;
  /** PLIs the browser sent (it asks when it cannot decode). */
  pliCount: number;
  /** Decoded picture size. */
  width: number;
  /** Decoded picture size. */
  height: number;
  /** Audio RTP packets received. */
  audioPacketsReceived: number;
  /** The current session URL. */
  sessionUrl: string;
}

/** Starts the player. Self-contained: see the file comment. */
export function runPlayer(): void {
  const video = document.getElementById('video') as HTMLVideoElement;
  const stateEl = document.getElementById('state') as HTMLElement;
  const unmute = document.getElementById('unmute') as HTMLButtonElement;
  const endpoint = location.pathname.replace(/\/player\/?$/, '');
  const storageKey = `corecast-token:${endpoint}`;
  // A JWT comes in the fragment (never sent to servers or logged by proxies) or from a prompt;
  // a signed embed token comes in the query, as the server expects it.
  let bearer = new URLSearchParams(location.hash.slice(1)).get('token') ?? sessionStorage.getItem(storageKey);
  const embed = new URLSearchParams(location.search).get('token');
  const status: PlayerStatus = {
    state: 'connecting',
    detail: '',
    posts: 0,
    reconnects: 0,
    framesPresented: 0,
    framesDecoded: 0,
    keyFramesDecoded: 0,
    pliCount: 0,
    width: 0,
    height: 0,
    audioPacketsReceived: 0,
    sessionUrl: '',
  };
  (window as unknown as { corecast: PlayerStatus }).corecast = status;

  let pc: RTCPeerConnection | undefined;
  let attempt = 0;
  let retryTimer: number | undefined;
  let disconnectTimer: number | undefined;
  let stopped = false;

  const setState = (state: string, detail = ''): void => {
    status.state = state;
    status.detail = detail;
    stateEl.textContent = detail ? `${state}: ${detail}` : state;
    stateEl.dataset.state = state;
  };
  const url = (path: string): string => (embed ? `${path}?token=${encodeURIComponent(embed)}` : path);
  const headers = (extra: Record<string, string> = {}): Record<string, string> =>
    bearer ? { ...extra, Authorization: `Bearer ${bearer}` } : extra;

  const teardown = (): void => {
    clearTimeout(disconnectTimer);
    if (status.sessionUrl) {
      fetch(url(status.sessionUrl), { method: 'DELETE', headers: headers(), keepalive: true }).catch(() => {});
      status.sessionUrl = '';
    }
    pc?.close();
    pc = undefined;
  };

  /** Tries again after `seconds`, or after an exponential backoff with jitter (0.5 s … 15 s). */
  const retry = (why: string, seconds?: number): void => {
    teardown();
    if (stopped) return;
    const backoff = Math.min(15000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
    const delay = seconds !== undefined ? seconds * 1000 : backoff;
    attempt++;
    setState(why.startsWith('waiting') ? 'waiting-source' : 'reconnecting', `${why}; retrying in ${(delay / 1000).toFixed(1)} s`);
    clearTimeout(retryTimer);
    retryTimer = window.setTimeout(() => {
      status.reconnects++;
      void connect();
    }, delay);
  };

  const iceServers = async (): Promise<RTCIceServer[]> => {
    try {
      const res = await fetch(url(endpoint), { method: 'OPTIONS', headers: headers() });
      const servers: RTCIceServer[] = [];
      for (const link of (res.headers.get('Link') ?? '').split(/,\s*(?=<)/)) {
        const m = /^<([^>]+)>(.*)$/.exec(link.trim());
        if (!m || !/rel="ice-server"/.test(m[2]!)) continue;
        const param = (name: string) => new RegExp(`${name}="((?:[^"\\\\]|\\\\.)*)"`).exec(m[2]!)?.[1]?.replace(/\\(.)/g, '$1');
        const username = param('username');
        const credential = param('credential');
        servers.push(username !== undefined && credential !== undefined ? { urls: m[1]!, username, credential } : { urls: m[1]! });
      }
      return servers;
    } catch {
      return [];
    }
  };

  const gathered = (peer: RTCPeerConnection, ms: number): Promise<void> =>
    new Promise((resolve) => {
      if (peer.iceGatheringState === 'complete') return resolve();
      const timer = window.setTimeout(resolve, ms);
      peer.addEventListener('icegatheringstatechange', () => {
        if (peer.iceGatheringState === 'complete') {
          clearTimeout(timer);
          resolve();
        }
      });
    });

  const connect = async (): Promise<void> => {
    setState('connecting');
    const peer = new RTCPeerConnection({ iceServers: await iceServers(), bundlePolicy: 'max-bundle' });
    pc = peer;
    peer.addTransceiver('video', { direction: 'recvonly' });
    peer.addTransceiver('audio', { direction: 'recvonly' });
    peer.ontrack = (ev) => {
      const stream = ev.streams[0] ?? new MediaStream([ev.track]);
      if (video.srcObject !== stream) video.srcObject = stream;
      video.play().catch(() => {});
    };
    peer.onconnectionstatechange = () => {
      if (pc !== peer) return;
      const s = peer.connectionState;
      if (s === 'connected') {
        clearTimeout(disconnectTimer);
        attempt = 0;
        setState('playing');
      } else if (s === 'failed' || s === 'closed') retry(`connection ${s}`);
      else if (s === 'disconnected') {
        // Often transient; a server that went away stays disconnected.
        disconnectTimer = window.setTimeout(() => pc === peer && retry('connection lost'), 2000);
      }
    };
    try {
      await peer.setLocalDescription(await peer.createOffer());
      await gathered(peer, 2000);
      status.posts++;
      const res = await fetch(url(endpoint), {
        method: 'POST',
        headers: headers({ 'Content-Type': 'application/sdp' }),
        body: peer.localDescription?.sdp ?? '',
      });
      if (pc !== peer) return;
      const retryAfter = Number(res.headers.get('Retry-After') ?? 'NaN');
      const wait = Number.isFinite(retryAfter) ? retryAfter : undefined;
      if (res.status === 201) {
        status.sessionUrl = new URL(res.headers.get('Location') ?? '', location.href).pathname;
        await peer.setRemoteDescription({ type: 'answer', sdp: await res.text() });
        // A session the server ends (a drain, its source gone) sends a DTLS close_notify: the
        // DTLS transport closes while ICE still looks connected for seconds. Come back at once
        // through the same URL (with replicas, replica 0 places the viewer elsewhere).
        const dtls = peer.getReceivers()[0]?.transport;
        if (dtls) {
          dtls.onstatechange = () => {
            if (pc === peer && dtls.state === 'closed') retry('the server ended the session');
          };
        }
        return;
      }
      const detail = await res.text();
      if (res.status === 401) {
        sessionStorage.removeItem(storageKey);
        // No token yet, or one refused (expired, signed with another key, from a stale link):
        // ask for one either way. Cancelling the prompt stops the player.
        const token = window.prompt(bearer ? 'The access token was refused; enter another one:' : 'This stream needs an access token:');
        if (token?.trim()) {
          bearer = token.trim();
          sessionStorage.setItem(storageKey, bearer);
          retry('token entered', 0);
        } else {
          bearer = null;
          stop('unauthorized', 'a valid access token is needed');
        }
      } else if (res.status === 403) stop('forbidden', 'this token does not allow this stream');
      else if (res.status === 409) retry('waiting for the source', wait);
      else if (res.status === 503) retry('server full', wait);
      else retry(`server answered ${res.status}${detail ? ` (${detail.slice(0, 120)})` : ''}`, wait);
    } catch (err) {
      if (pc === peer) retry(`cannot reach the server (${(err as Error).message})`);
    }
  };

  const stop = (state: string, detail: string): void => {
    stopped = true;
    teardown();
    setState(state, detail);
  };

  const sample = async (): Promise<void> => {
    const peer = pc;
    if (!peer) return;
    const report = await peer.getStats();
    report.forEach((s: Record<string, unknown>) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video') {
        status.framesDecoded = Number(s.framesDecoded ?? 0);
        status.keyFramesDecoded = Number(s.keyFramesDecoded ?? 0);
        status.pliCount = Number(s.pliCount ?? 0);
        status.width = Number(s.frameWidth ?? status.width);
        status.height = Number(s.frameHeight ?? status.height);
      } else if (s.kind === 'audio') status.audioPacketsReceived = Number(s.packetsReceived ?? 0);
    });
  };
  window.setInterval(() => void sample().catch(() => {}), 500);

  const onFrame = (): void => {
    status.framesPresented++;
    video.requestVideoFrameCallback(onFrame);
  };
  if ('requestVideoFrameCallback' in video) video.requestVideoFrameCallback(onFrame);

  unmute.hidden = false;
  unmute.addEventListener('click', () => {
    video.muted = !video.muted;
    unmute.textContent = video.muted ? 'Unmute' : 'Mute';
    video.play().catch(() => {});
  });
  window.addEventListener('pagehide', () => {
    stopped = true;
    teardown();
  });
  void connect();
}
