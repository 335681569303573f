/**
 * The progress port: `POST /progress/<namespace>/<name>` from an FFmpeg pod's wrapper, the body
 * one `-progress` block, header `X-Corecast-Pod-Uid` the pod's uid (from the downward API). A
 * report is taken only from the Process's current FFmpeg pod. Answers: 204 taken, 400 not a
 * block, 404 unknown Process or not its pod, 413 too large, 503 this replica is not the leader
 * (the wrapper tries again at once, and the Service's next pick is likely another replica). A 204
 * carries `X-Corecast-Want-Streams: true` while the hub has not had the pod's FFmpeg header lines
 * (a new leader, or the wrapper had none yet): the wrapper adds them to its next report.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readBounded } from '@corecast/api';
import { type Listening, listen } from '../runtime/http.ts';
import type { ProgressHub } from './hub.ts';
import { MAX_BLOCK_BYTES } from './parse.ts';

/** Header carrying the reporting pod's uid. */
export const POD_UID_HEADER = 'x-corecast-pod-uid';

/** Answer header asking the wrapper for FFmpeg's header lines. */
export const WANT_STREAMS_HEADER = 'X-Corecast-Want-Streams';

const PATH = /^\/progress\/([a-z0-9][-a-z0-9]{0,62})\/([a-z][-a-z0-9]{0,62})$/;

function answer(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' }).end(text ? `${text}\n` : undefined);
}

/** The report, or undefined when it is larger than a progress block can be (the rest is not read). */
const readBody = (req: IncomingMessage) => readBounded(req, Number(req.headers['content-length'] ?? '0'), MAX_BLOCK_BYTES);

/** Serves the progress port. `leading()` says whether this replica takes reports. */
export function serveProgress(
  hub: ProgressHub,
  leading: () => boolean,
  port: number,
  onReport?: (accepted: boolean) => void,
): Promise<Listening> {
  const server = createServer((req, res) => {
    const m = PATH.exec(req.url?.split('?')[0] ?? '');
    if (!m) return answer(res, 404, 'not found; reports go to /progress/<namespace>/<name>');
    if (req.method !== 'POST') return answer(res, 405, 'POST only');
    if (!leading()) {
      res.setHeader('retry-after', '1');
      return answer(res, 503, 'not the leader');
    }
    // The wrapper always says how long its report is; a body without a length is cut at the limit.
    if (Number(req.headers['content-length'] ?? 0) > MAX_BLOCK_BYTES)
      return answer(res, 413, `a report is at most ${MAX_BLOCK_BYTES} bytes`);
    readBody(req).then(
      (body) => {
        if (body === undefined) return answer(res, 413, `a report is at most ${MAX_BLOCK_BYTES} bytes`);
        const uid = typeof req.headers[POD_UID_HEADER] === 'string' ? req.headers[POD_UID_HEADER] : '';
        const key = `${m[1]}/${m[2]}`;
        const refused = hub.report(key, uid, body);
        onReport?.(refused === undefined);
        if (refused === undefined) {
          if (hub.wantsHeaders(key, uid)) res.setHeader(WANT_STREAMS_HEADER, 'true');
          return answer(res, 204, '');
        }
        answer(res, refused === 'not-a-block' ? 400 : 404, refused);
      },
      () => answer(res, 400, 'bad request'),
    );
  });
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  return listen(server, port);
}
