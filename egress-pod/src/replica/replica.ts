/**
 * This pod as one egress replica of a Process (docs/scale-out.md; egress-pod/README.md,
 * "Replicas"). Replica 0 receives FFmpeg's RTP and every WHEP request: it relays the RTP to its
 * siblings, places each new viewer on the least loaded replica with room and passes the
 * requests of a sibling's sessions on to it. Every replica can be drained. What the routes ask
 * of it is `ReplicaRouting`; without a `replica` section the pod runs alone, as before.
 */
import type { EgressConfig } from '@corecast/api';
import { parseRelayTargets, type RelayTarget } from '@corecast/api/light';
import type Koa from 'koa';
import type { Logger } from '../log.ts';
import type { EgressMetrics } from '../metrics.ts';
import { WatchedFile } from '../pin-file.ts';
import type { Stream } from '../stream.ts';
import { statusOf, WhepError } from '../whep/errors.ts';
import { readBody } from '../whep/http.ts';
import type { SessionStore } from '../whep/sessions.ts';
import { Drain, parseDrain } from './drain.ts';
import { forward, replicaOfSession, respond, sessionPrefix } from './forward.ts';
import { Relay } from './relay.ts';
import { placementOrder, type Room, Siblings } from './siblings.ts';

/** What the WHEP routes ask of the replica. */
export interface ReplicaRouting {
  /** The client's address: X-Forwarded-For only when replica 0 (the pin) sent the request. */
  client(ctx: Koa.Context): string;
  /** Opens the viewer's session here (`local`) or on a sibling, whichever placement picks; throws 503 when none can. */
  place(ctx: Koa.Context, offer: string, local: () => Promise<void>): Promise<void>;
  /** Replica 0: passes a request of a sibling's session (`r<i>-…`) on to it; false for a session of this pod. */
  forwardSession(ctx: Koa.Context, session: string): Promise<boolean>;
}

/** The replica side of the pod. */
export class Replica implements ReplicaRouting {
  /** This pod's replica index. */
  readonly index: number;
  /** Replica 0 with a relay-targets file: the relay to the siblings. */
  readonly relay: Relay | undefined;
  /** Replica 0 with a relay-targets file: the siblings and their rooms. */
  readonly siblings: Siblings | undefined;
  readonly #config: EgressConfig;
  readonly #metrics: EgressMetrics;
  readonly #log: Logger;
  readonly #files: WatchedFile<unknown>[] = [];
  #sessions: SessionStore | undefined;
  #streams: ReadonlyMap<string, Stream> = new Map();
  #drain: Drain | undefined;

  constructor(config: EgressConfig, metrics: EgressMetrics, log: Logger) {
    const replica = config.replica ?? { index: 0, drainSeconds: 30 };
    this.index = replica.index;
    this.#config = config;
    this.#metrics = metrics;
    this.#log = log.child({ replica: this.index });
    if (replica.relayTargetsFile !== undefined) {
      const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? undefined : config.http.host;
      this.relay = new Relay(
        { targets: (n) => metrics.relayTargets.set(n), sent: (n) => metrics.relayPackets.inc(n) },
        { bindAddress: host, log: this.#log },
      );
      this.siblings = new Siblings({ log: this.#log });
      this.#files.push(
        new WatchedFile<RelayTarget[]>({
          path: replica.relayTargetsFile,
          what: 'relay-targets file',
          parse: (text) => {
            const parsed = parseRelayTargets(text);
            return 'error' in parsed ? parsed : { value: parsed.targets };
          },
          fallback: { value: [], meaning: 'nothing is relayed and every viewer stays on replica 0' },
          onValue: (targets) => {
            this.relay!.setTargets(targets);
            this.siblings!.setTargets(targets);
          },
          log: this.#log,
        }) as WatchedFile<unknown>,
      );
    }
    if (replica.drainFile !== undefined) {
      const drain = new Drain({ sessions: () => this.#sessions?.all() ?? [] }, replica.drainSeconds, {
        log: this.#log,
        onChange: (on) => metrics.draining.set(on ? 1 : 0),
      });
      this.#drain = drain;
      this.#files.push(
        new WatchedFile({
          path: replica.drainFile,
          what: 'drain file',
          parse: (text) => ({ value: parseDrain(text) }),
          fallback: { value: undefined, meaning: 'not draining' },
          onValue: (value) => drain.set(value),
          log: this.#log,
        }) as WatchedFile<unknown>,
      );
    }
  }

  /** The prefix of this replica's session ids. */
  get sessionPrefix(): string {
    return sessionPrefix(this.index);
  }

  /** Hears every accepted RTP datagram (the stream's ingest), or undefined when nothing is relayed. */
  get relaySink(): ((kind: 'video' | 'audio', datagram: Buffer) => void) | undefined {
    const relay = this.relay;
    return relay && ((kind, datagram) => relay.send(kind, datagram));
  }

  /** Binds the relay, reads the files and starts polling the siblings. */
  async start(sessions: SessionStore, streams: ReadonlyMap<string, Stream>): Promise<void> {
    this.#sessions = sessions;
    this.#streams = streams;
    await this.relay?.start();
    for (const file of this.#files) file.start();
    this.siblings?.start();
  }

  /** Stops reading, polling, draining and relaying. */
  async stop(): Promise<void> {
    for (const file of this.#files) file.stop();
    this.siblings?.stop();
    this.#drain?.stop();
    await this.relay?.close();
  }

  /** True while this replica drains. */
  get draining(): boolean {
    return this.#drain?.draining ?? false;
  }

  /** This replica's room (GET /room): viewers, the cap that counts (pod, or all its streams together), draining. */
  room(): Room {
    const streamCap = this.#config.streams.reduce((n, s) => n + s.maxViewers, 0);
    return { viewers: this.#sessions?.count() ?? 0, max: Math.min(this.#config.maxViewers, streamCap), draining: this.draining };
  }

  client(ctx: Koa.Context): string {
    const peer = plain(ctx.req.socket.remoteAddress ?? '');
    if (this.index === 0) return ctx.ip;
    // Replica 0's forwards carry the viewer's address; anyone else's header is not believed.
    const fromReplica0 = [...this.#streams.values()].some((s) => s.pinned?.includes(peer));
    const forwarded = ctx.get('x-forwarded-for').split(',').pop()?.trim();
    return fromReplica0 && forwarded ? plain(forwarded) : peer;
  }

  async place(ctx: Koa.Context, offer: string, local: () => Promise<void>): Promise<void> {
    const retry = { 'Retry-After': String(this.#config.retryAfterSeconds.full) };
    const siblings = this.siblings;
    const alone = !siblings || siblings.rooms().length === 0;
    if (this.draining && alone) {
      throw new WhepError('draining', 'this server is being drained and takes no new viewers; try again', retry);
    }
    // No sibling listed: this pod alone, with its own answers (and its own caps' messages).
    if (alone) return local();
    // Tried in the order the rooms as last heard give; when none took the viewer, the rooms are
    // asked afresh once and any replica not yet tried that has room after all is tried too (a
    // sibling's count can run one ahead for up to a poll: its 201 counted on top of a poll
    // answer that already held that viewer).
    const tried = new Set<'local' | number>();
    for (let pass = 0; pass < 2; pass++) {
      if (pass === 1) await siblings.poll();
      const order = placementOrder(this.room(), siblings.rooms()).filter((where) => !tried.has(where));
      for (const where of order) {
        tried.add(where);
        if (where === 'local') {
          try {
            return await local();
          } catch (err) {
            // This replica full after all: the siblings next (a 429, 4xx or 504 is the viewer's answer).
            if (!(err instanceof WhepError) || statusOf(err.kind) !== 503) throw err;
            continue;
          }
        }
        const target = siblings.target(where)!;
        const answer = await forward(ctx, target, this.client(ctx), offer, this.#forwardTimeoutMs()).catch((err: unknown) => {
          if (err instanceof WhepError) throw err;
          this.#log.warn({ replica: where, err: (err as Error).message }, 'replica did not answer a forwarded POST; trying the next');
          siblings.unreachable(where);
          return undefined;
        });
        if (!answer) continue;
        this.#metrics.forwardedRequests.inc({ verb: 'POST' });
        siblings.answered(where, 'POST', answer.status);
        if (answer.status === 503) continue;
        respond(ctx, answer);
        return;
      }
    }
    throw new WhepError('pod-full', 'every replica of this stream has its maximum of viewers; try again later', retry);
  }

  async forwardSession(ctx: Koa.Context, session: string): Promise<boolean> {
    const index = replicaOfSession(session);
    if (index === 0 || this.index !== 0) return false;
    const target = this.siblings?.target(index);
    if (!target) {
      // Its replica is gone, and the session with it.
      if (ctx.method === 'DELETE') {
        ctx.status = 204;
        return true;
      }
      throw new WhepError('not-found', 'no such session (it ended or never existed)');
    }
    const body = ctx.method === 'PATCH' ? await readBody(ctx, this.#config.session.maxBodyBytes) : undefined;
    const answer = await forward(ctx, target, this.client(ctx), body, this.#forwardTimeoutMs()).catch((err: unknown) => {
      if (err instanceof WhepError) throw err;
      this.#log.warn({ replica: index, method: ctx.method, err: (err as Error).message }, 'replica did not answer a forwarded request');
      throw new WhepError('bad-gateway', 'the server holding this session did not answer; try again, or start over with a POST');
    });
    this.#metrics.forwardedRequests.inc({ verb: ctx.method });
    this.siblings?.answered(index, ctx.method, answer.status);
    respond(ctx, answer);
    return true;
  }

  /** A sibling answers a POST or an ICE restart after gathering: its gathering budget and some. */
  #forwardTimeoutMs(): number {
    return this.#config.ice.gatherTimeoutSeconds * 1000 + 5000;
  }
}

/** A dual-stack socket's IPv4 peers as plain IPv4 addresses. */
function plain(address: string): string {
  const lower = address.toLowerCase();
  return lower.startsWith('::ffff:') && lower.includes('.') ? lower.slice(7) : lower;
}
