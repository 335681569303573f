/**
 * A WHEP signalling adapter in front of Janus's streaming plugin, so the benchmark's load client
 * plays from Janus exactly as from the egress. Janus's streaming plugin makes the SDP offer (a
 * viewer asks to "watch", Janus sends an offer, the viewer answers with "start"), where a WHEP
 * client normally offers; the adapter serves the server-offer form of WHEP (as Meetecho's own
 * WHEP server for Janus does):
 *
 *   POST   /whep (empty body)            → 201, Janus's offer (application/sdp), Location
 *   PATCH  <Location> (the viewer's answer) → 204, once Janus took it
 *   DELETE <Location>                      → 200, the Janus session is destroyed
 *
 * Signalling only: media goes straight from Janus to the viewer, the adapter never touches it,
 * and it is idle while a benchmark window runs. One Janus session and handle per viewer.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { JANUS_MOUNTPOINT } from './janus.ts';

/** A Janus API reply (the fields read here). */
interface JanusReply {
  janus: string;
  data?: { id: number };
  error?: { code: number; reason: string };
  jsep?: { type: string; sdp: string };
  reason?: string;
  plugindata?: { data?: { error?: string } };
}

/** The adapter's view of one viewer. */
interface Viewer {
  session: number;
  handle: number;
}

const transaction = () => randomBytes(6).toString('hex');

async function janusPost(url: string, body: Record<string, unknown>): Promise<JanusReply> {
  const res = await fetch(url, { method: 'POST', body: JSON.stringify({ ...body, transaction: transaction() }) });
  const reply = (await res.json()) as JanusReply;
  if (reply.janus === 'error') throw new Error(`Janus: ${reply.error?.code} ${reply.error?.reason}`);
  return reply;
}

/** Long-polls a session's events until one carries an SDP (Janus's offer). */
async function offerOf(api: string, session: number): Promise<string> {
  for (let polls = 0; polls < 4; polls++) {
    const res = await fetch(`${api}/${session}?maxev=10&rid=${Date.now()}`);
    const got = (await res.json()) as JanusReply | JanusReply[];
    for (const event of Array.isArray(got) ? got : [got]) {
      const error = event.plugindata?.data?.error;
      if (error) throw new Error(`Janus streaming plugin: ${error}`);
      if (event.janus === 'hangup') throw new Error(`Janus hung up: ${event.reason}`);
      if (event.jsep?.type === 'offer') return event.jsep.sdp;
    }
  }
  throw new Error('Janus sent no offer');
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
}

/** Starts the adapter on 127.0.0.1:`port` in front of Janus's HTTP API `api`; resolves once it listens. */
export async function startJanusWhep(api: string, port: number): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const viewers = new Map<string, Viewer>();

  async function watch(res: ServerResponse): Promise<void> {
    const session = (await janusPost(api, { janus: 'create' })).data!.id;
    try {
      const handle = (await janusPost(`${api}/${session}`, { janus: 'attach', plugin: 'janus.plugin.streaming' })).data!.id;
      await janusPost(`${api}/${session}/${handle}`, { janus: 'message', body: { request: 'watch', id: JANUS_MOUNTPOINT } });
      const offer = await offerOf(api, session);
      const id = randomBytes(8).toString('hex');
      viewers.set(id, { session, handle });
      res.writeHead(201, { 'content-type': 'application/sdp', location: `/whep/${id}` }).end(offer);
    } catch (error) {
      await janusPost(`${api}/${session}`, { janus: 'destroy' }).catch(() => undefined);
      throw error;
    }
  }

  async function answer(viewer: Viewer, sdp: string, res: ServerResponse): Promise<void> {
    const at = `${api}/${viewer.session}/${viewer.handle}`;
    await janusPost(at, { janus: 'message', body: { request: 'start' }, jsep: { type: 'answer', sdp } });
    // The answer carries the viewer's candidates: no more will come.
    await janusPost(at, { janus: 'trickle', candidate: { completed: true } });
    res.writeHead(204).end();
  }

  const server = createServer((req, res) => {
    const handle = async () => {
      const path = new URL(req.url ?? '/', 'http://adapter').pathname;
      if (req.method === 'POST' && path === '/whep') return watch(res);
      const viewer = viewers.get(path.slice('/whep/'.length));
      if (!path.startsWith('/whep/') || !viewer) return void res.writeHead(404).end('no such session');
      if (req.method === 'PATCH') {
        if (req.headers['content-type'] !== 'application/sdp') return void res.writeHead(415).end('an SDP answer is expected');
        return answer(viewer, await readBody(req), res);
      }
      if (req.method === 'DELETE') {
        viewers.delete(path.slice('/whep/'.length));
        await janusPost(`${api}/${viewer.session}`, { janus: 'destroy' });
        return void res.writeHead(200).end();
      }
      res.writeHead(405).end();
    };
    handle().catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(String((error as Error).message));
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${port}/whep`,
    server,
    close: async () => {
      await Promise.all([...viewers.values()].map((v) => janusPost(`${api}/${v.session}`, { janus: 'destroy' }).catch(() => undefined)));
      await new Promise((r) => server.close(r));
    },
  };
}
