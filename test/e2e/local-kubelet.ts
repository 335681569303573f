/**
 * Plays the kubelet for the egress pods of one namespace, on this machine: every egress pod the
 * operator creates in the real API server is run for real (egress-pod/src/main.ts as a child
 * process, with the container's environment), and its status is written back (Running, with
 * the pod address). What a kubelet does besides starting the container is done here too:
 *
 * - environment variables from Secrets (secretKeyRef) and from the pod (fieldRef status.podIP,
 *   status.hostIP) are resolved;
 * - the downward API volume is a directory per pod, rewritten whenever the pod's annotations
 *   change (the real kubelet does the same, a few seconds late), so the pin, the relay targets
 *   and the drain deadline reach the running process the way they do on a node;
 * - a pod deleted from the API server is stopped (the API server deletes pods that were never
 *   bound to a node at once, so nothing waits for a graceful end here).
 *
 * The "node" is loopback: the operator runs with host networking (every egress pod holds its
 * own slot of host ports, so several share 127.0.0.1), and the only change to a pod's
 * configuration besides the mount paths is allowLoopbackCandidates, since its viewers are on
 * this machine's loopback too (an egress pod drops such candidates otherwise).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EGRESS_CONFIG_ENV, LABELS } from '@corecast/api';
import type { CoreV1Api, V1EnvVar, V1Pod } from '@kubernetes/client-node';
import { merge, runningStatus } from '../../operator/test/helpers/cluster.ts';
import { EgressChild } from './egress-child.ts';

/** Where the operator mounts the egress pod's downward API volume. */
const DOWNWARD_DIR = '/etc/corecast/rtp-source';

interface Running {
  readonly uid: string;
  readonly child: EgressChild;
  readonly dir: string;
  /** The downward API files as last written (path → content). */
  files: string;
}

/** Runs the egress pods of a namespace as local processes. */
export class LocalKubelet {
  readonly #core: CoreV1Api;
  readonly #ns: string;
  readonly #dir: string;
  readonly #ip: string;
  readonly #pods = new Map<string, Running>();
  readonly #starting = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #syncing: Promise<void> = Promise.resolve();
  #errors: string[] = [];

  /** `dir`: where each pod's volume and log go; `ip`: the node's (and every pod's) address. */
  constructor(core: CoreV1Api, ns: string, dir: string, ip = '127.0.0.1') {
    this.#core = core;
    this.#ns = ns;
    this.#dir = dir;
    this.#ip = ip;
  }

  /** Starts following the namespace's egress pods (every 200 ms). */
  start(): void {
    const tick = () => {
      this.#syncing = this.#sync()
        .catch((err: unknown) => {
          this.#errors.push(String(err));
        })
        .finally(() => {
          if (this.#timer) this.#timer = setTimeout(tick, 200);
        });
    };
    this.#timer = setTimeout(tick, 0);
  }

  /** Stops following and kills every pod's process. */
  async stop(): Promise<void> {
    const timer = this.#timer;
    this.#timer = undefined;
    clearTimeout(timer);
    await this.#syncing;
    await Promise.all([...this.#pods.values()].map((r) => r.child.kill()));
    this.#pods.clear();
  }

  /** The running process of pod `name`, if any. */
  egress(name: string): EgressChild | undefined {
    return this.#pods.get(name)?.child;
  }

  /** The names of the pods running now. */
  running(): string[] {
    return [...this.#pods.keys()].sort();
  }

  /** What went wrong while following (a pod that would not start, an API error). */
  errors(): readonly string[] {
    return this.#errors;
  }

  async #sync(): Promise<void> {
    const list = await this.#core.listNamespacedPod({ namespace: this.#ns, labelSelector: `${LABELS.component}=egress` });
    const live = new Map(list.items.map((p) => [p.metadata?.name ?? '', p]));
    for (const [name, run] of this.#pods) {
      const pod = live.get(name);
      if (!pod || pod.metadata?.uid !== run.uid || pod.metadata?.deletionTimestamp) {
        this.#pods.delete(name);
        await run.child.kill();
      }
    }
    for (const [name, pod] of live) {
      if (pod.metadata?.deletionTimestamp) continue;
      const run = this.#pods.get(name);
      if (run) this.#writeVolume(run, pod);
      else if (!this.#starting.has(name)) {
        this.#starting.add(name);
        // Started in the background: one slow pod does not hold the others' volumes back.
        void this.#run(pod)
          .catch((err: unknown) => this.#errors.push(`${name}: ${String(err)}`))
          .finally(() => this.#starting.delete(name));
      }
    }
  }

  /** The downward API files of `pod` (the annotations each item names). */
  #volumeFiles(pod: V1Pod): Record<string, string> {
    const volume = pod.spec?.volumes?.find((v) => v.downwardAPI);
    const out: Record<string, string> = {};
    for (const item of volume?.downwardAPI?.items ?? []) {
      const m = /^metadata\.annotations\['(.+)'\]$/.exec(item.fieldRef?.fieldPath ?? '');
      if (m) out[item.path] = pod.metadata?.annotations?.[m[1]!] ?? '';
    }
    return out;
  }

  #writeVolume(run: Running, pod: V1Pod): void {
    const files = this.#volumeFiles(pod);
    const text = JSON.stringify(files);
    if (text === run.files) return;
    for (const [path, content] of Object.entries(files)) writeFileSync(join(run.dir, path), content);
    run.files = text;
  }

  async #env(pod: V1Pod, vars: readonly V1EnvVar[]): Promise<Record<string, string>> {
    const env: Record<string, string> = {};
    for (const v of vars) {
      if (v.value !== undefined) env[v.name] = v.value;
      else if (v.valueFrom?.fieldRef) {
        const path = v.valueFrom.fieldRef.fieldPath;
        if (path === 'status.podIP' || path === 'status.hostIP') env[v.name] = this.#ip;
        else throw new Error(`pod ${pod.metadata?.name}: field ${path} is not played here`);
      } else if (v.valueFrom?.secretKeyRef) {
        const ref = v.valueFrom.secretKeyRef;
        const secret = await this.#core.readNamespacedSecret({ name: ref.name!, namespace: this.#ns });
        const data = secret.data?.[ref.key];
        if (data === undefined) throw new Error(`secret ${ref.name} has no key ${ref.key}`);
        env[v.name] = Buffer.from(data, 'base64').toString('utf8');
      }
    }
    return env;
  }

  async #run(pod: V1Pod): Promise<void> {
    const name = pod.metadata!.name!;
    const uid = pod.metadata!.uid!;
    const dir = join(this.#dir, name, uid);
    mkdirSync(dir, { recursive: true });
    const env = await this.#env(pod, pod.spec?.containers?.[0]?.env ?? []);
    const raw = env[EGRESS_CONFIG_ENV];
    if (!raw) throw new Error(`pod ${name} has no ${EGRESS_CONFIG_ENV}`);
    // The volume is mounted from this pod's directory; the viewers are on loopback.
    const config = JSON.parse(raw.replaceAll(DOWNWARD_DIR, dir));
    config.ice = { ...config.ice, allowLoopbackCandidates: true };
    delete env[EGRESS_CONFIG_ENV];
    const run: Running = { uid, child: new EgressChild(config, { env, logFile: join(dir, 'egress.log') }), dir, files: '' };
    this.#writeVolume(run, pod);
    await run.child.start();
    this.#pods.set(name, run);
    // A merge patch of the status alone: the operator may have moved an annotation meanwhile.
    const status = {
      ...runningStatus('egress'),
      podIP: this.#ip,
      podIPs: [{ ip: this.#ip }],
      hostIP: this.#ip,
      hostIPs: [{ ip: this.#ip }],
    };
    await this.#core.patchNamespacedPodStatus({ name, namespace: this.#ns, body: { status } }, merge);
  }
}
