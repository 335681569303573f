/**
 * A real single-node Kubernetes cluster on this machine, in the shape of Kubernetes' own
 * hack/local-up-cluster.sh: every component is a local process — etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler, containerd (CRI, runc, CNI bridge), kubelet,
 * kube-proxy, CoreDNS and Traefik as the ingress controller — all inside one network namespace
 * (node-config.ts draws it). Pods are real containers from images built here
 * (test/node/images.sh), imported into the node's containerd; nothing is ever pulled.
 *
 * One node per machine at a time (fixed addresses); a second start waits for nothing and fails
 * with the owner's pid, and the remains of a crashed run are torn down first.
 */
import { execFile } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, CustomObjectsApi, KubeConfig, NetworkingV1Api } from '@kubernetes/client-node';
import { type ControlPlane, controlPlaneHandle } from './control-plane.ts';
import { ensureControlPlaneBinaries } from './control-plane-binaries.ts';
import { kubeconfigYaml, writeCredentials } from './control-plane-credentials.ts';
import { apiserverArgs, controllerManagerArgs, etcdArgs } from './control-plane-flags.ts';
import { probe, waitUntil } from './control-plane-net.ts';
import { died, ProcessGroup, type Supervised } from './control-plane-processes.ts';
import { installGatewayApiCrds } from './gateway-api-crds.ts';
import { ensureNodeBinaries } from './node-binaries.ts';
import {
  containerdConfig,
  cniConfig,
  corednsArgs,
  corefile,
  ingressUrl,
  kubeletArgs,
  kubeletConfig,
  kubeProxyArgs,
  kubeProxyConfig,
  kubernetesServiceIp,
  NODE,
  nodePaths,
  type NodePaths,
  schedulerArgs,
  traefikArgs,
} from './node-config.ts';
import { ensureImages } from './node-images.ts';
import { nodeRecordFile, teardownScript } from './node-teardown.ts';

const run = promisify(execFile);

/** A running node cluster: a control plane handle plus what only a node has. */
export interface NodeCluster extends ControlPlane {
  /** The ingress controller's base URL (`http://198.18.0.2`). */
  ingressUrl: string;
  /** The node's InternalIP. */
  address: string;
  /** The state directory (component logs are `<dir>/<component>.log`). */
  dir: string;
  /** Packets sent so far towards an address outside the cluster (the dead-end default route). */
  outsidePackets(): Promise<number>;
  /** Runs a command inside the node's network namespace. */
  exec(command: string, args: readonly string[]): Promise<string>;
}

/** Options of `startNodeCluster`. */
export interface NodeOptions {
  /** Give up when the node is not ready after this long (default 300 s). */
  timeoutMs?: number;
  /** Keep the state directory after stop, for debugging (logs). */
  keepState?: boolean;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** Environment variables a test process reads to attach to a running node cluster. */
export const nodeEnv = { kubeconfig: 'CORECAST_NODE_KUBECONFIG', ingress: 'CORECAST_INGRESS_URL' } as const;

/** True when this machine can run the node (root, iproute2, containerd, runc, CNI plugins). */
export function nodePrerequisites(): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root');
  for (const bin of ['/usr/bin/containerd', '/usr/sbin/runc', '/usr/lib/cni/bridge', '/usr/sbin/iptables', '/usr/bin/nsenter']) {
    if (!existsSync(bin)) missing.push(bin);
  }
  return missing;
}

/** Starts the whole node; resolves once the Node is Ready and the ingress and DNS answer. */
export async function startNodeCluster(opts: NodeOptions = {}): Promise<NodeCluster> {
  const missing = nodePrerequisites();
  if (missing.length > 0) throw new Error(`the test node needs ${missing.join(', ')} (scripts/setup.sh test installs them)`);
  const log = opts.log ?? (() => {});
  await clearStaleNode(log);

  log('building or locating binaries and images');
  // One after another: on a cold cache each is a long build that takes both cores.
  const bins = await ensureControlPlaneBinaries();
  const nodeBins = await ensureNodeBinaries();
  const images = await ensureImages();
  // The time to start counts from here: a cold or changed cache takes minutes to build above.
  const deadline = Date.now() + (opts.timeoutMs ?? 300_000);

  const p = nodePaths(mkdtempSync(join(tmpdir(), 'corecast-node-')));
  writeFileSync(p.cleanupScript, teardownScript(p), { mode: 0o755 });
  writeFileSync(nodeRecordFile, `${process.pid} ${p.dir}\n`);
  const group = new ProcessGroup();
  const keep = opts.keepState ?? process.env.CORECAST_KEEP_CONTROL_PLANE === '1';
  group.runOnDeath(p.cleanupScript);
  const teardown = async (): Promise<void> => {
    await group.stop(3000);
    if (keep) {
      // Everything but the files: the logs stay for a person to read.
      await run('sh', ['-c', `sed 's/^rm -rf "$dir"$/: kept/' '${p.cleanupScript}' | sh`]).catch(() => {});
    } else {
      await run('sh', [p.cleanupScript]).catch(() => {});
    }
  };

  try {
    await createNodeNetwork();
    const spawnIn = (name: string, bin: string, args: readonly string[]): Supervised =>
      group.spawn(name, 'nsenter', [`--net=/run/netns/${NODE.netns}`, '--', bin, ...args], join(p.dir, `${name}.log`));
    const creds = writeCredentials(p.dir);

    log('starting etcd and kube-apiserver');
    const etcd = spawnIn('etcd', bins.etcd, etcdArgs({ dataDir: join(p.dir, 'etcd'), clientPort: 2379, peerPort: 2380 }));
    const certDir = join(p.dir, 'apiserver-certs');
    mkdirSync(certDir);
    // etcd listens on the node's loopback; the API server retries until it answers.
    const apiserver = spawnIn(
      'kube-apiserver',
      bins.kubeApiserver,
      apiserverArgs({
        etcdClientPort: 2379,
        securePort: NODE.apiserverPort,
        certDir,
        ...creds,
        node: { address: NODE.address, serviceRange: NODE.serviceCidr },
      }),
    );
    const server = `https://${NODE.address}:${NODE.apiserverPort}`;
    const caFile = join(certDir, 'apiserver.crt');
    let caPem = '';
    await waitUntil(
      async () => {
        caPem ||= readFileSync(caFile, 'utf8');
        return (await probe(`${server}/readyz`, { ca: caPem, token: creds.token })).status === 200;
      },
      { what: 'kube-apiserver /readyz', deadline, failFast: died(etcd, apiserver) },
    );
    const kubeconfigPath = join(p.dir, 'kubeconfig');
    writeFileSync(kubeconfigPath, kubeconfigYaml({ server, caPem, token: creds.token }), { mode: 0o600 });

    log('starting kube-controller-manager, kube-scheduler and containerd');
    const kcm = spawnIn(
      'kube-controller-manager',
      bins.kubeControllerManager,
      controllerManagerArgs({
        kubeconfig: kubeconfigPath,
        securePort: 10257,
        certDir: join(p.dir, 'kcm-certs'),
        serviceAccountKey: creds.serviceAccountKey,
        rootCaFile: caFile,
        controllers: ['*'],
        bindAddress: NODE.address,
      }),
    );
    const scheduler = spawnIn('kube-scheduler', bins.kubeScheduler, schedulerArgs(kubeconfigPath));
    mkdirSync(p.cniConfDir, { recursive: true });
    writeFileSync(join(p.cniConfDir, '10-corecast.conflist'), cniConfig(p));
    writeFileSync(p.containerdConfig, containerdConfig(p));
    const containerd = spawnIn('containerd', '/usr/bin/containerd', ['--config', p.containerdConfig]);
    const ctr = (...args: string[]) => run('ctr', ['--address', p.containerdSocket, '-n', 'k8s.io', ...args], { maxBuffer: 16 << 20 });
    await waitUntil(async () => (await ctr('version'), true), { what: 'containerd', deadline, failFast: died(containerd) });

    log('importing images into containerd');
    for (const archive of Object.values(images.archives)) await ctr('images', 'import', archive);

    log('starting kubelet, kube-proxy, CoreDNS and Traefik');
    writeFileSync(p.resolvConf, '');
    writeFileSync(p.kubeletConfig, kubeletConfig(p));
    const kubelet = spawnIn('kubelet', bins.kubelet, kubeletArgs(p, kubeconfigPath));
    writeFileSync(p.kubeProxyConfig, kubeProxyConfig(kubeconfigPath));
    const proxy = spawnIn('kube-proxy', bins.kubeProxy, kubeProxyArgs(p));
    writeFileSync(p.corefile, corefile(kubeconfigPath));
    const coredns = spawnIn('coredns', nodeBins.coredns, corednsArgs(p));
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    // Traefik serves both APIs, as its Helm chart sets it up: the IngressClass and GatewayClass
    // `traefik`, and the Gateway API's CRDs, which must be there before its provider starts.
    await ensureIngressClass(kc);
    await installGatewayApiCrds(kc);
    await ensureGatewayClass(kc);
    const traefik = spawnIn('traefik', nodeBins.traefik, traefikArgs({ server, token: creds.token, caFile, gatewayApi: true }));
    const all = [etcd, apiserver, kcm, scheduler, containerd, kubelet, proxy, coredns, traefik];

    const core = kc.makeApiClient(CoreV1Api);
    await waitUntil(
      async () => {
        const node = await core.readNode({ name: NODE.name });
        return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
      },
      { what: `Node ${NODE.name} Ready`, deadline, failFast: died(...all) },
    );
    await waitUntil(async () => (await probe(`http://${NODE.address}:${NODE.ingressPingPort}/ping`)).status === 200, {
      what: 'Traefik /ping',
      deadline,
      failFast: died(...all),
    });
    const exec = async (command: string, args: readonly string[]): Promise<string> =>
      (await run('nsenter', [`--net=/run/netns/${NODE.netns}`, '--', command, ...args], { maxBuffer: 16 << 20 })).stdout;
    await waitUntil(() => resolvesKubernetesService(), { what: 'cluster DNS (CoreDNS)', deadline, failFast: died(...all) });
    log(`ready: ${server}, ingress ${ingressUrl}, state ${p.dir}`);
    return {
      ...controlPlaneHandle({ kubeconfigPath, server, token: creds.token, pids: group.pids(), stop: teardown }),
      ingressUrl,
      address: NODE.address,
      dir: p.dir,
      exec,
      outsidePackets: () => outsidePackets(),
    };
  } catch (err) {
    log(`start failed; logs in ${p.dir}`);
    await group.stop(1000);
    // Keep the logs of a failed start (the error names them); take down everything else.
    await run('sh', ['-c', `sed 's/^rm -rf "$dir"$/: kept/' '${p.cleanupScript}' | sh`]).catch(() => {});
    throw err;
  }
}

/** tx_packets of the node's dead-end default route (see createNodeNetwork). */
export async function outsidePackets(): Promise<number> {
  const { stdout } = await run('ip', ['-n', NODE.netns, '-s', '-j', 'link', 'show', NODE.outInterface]);
  const [link] = JSON.parse(stdout) as { stats64?: { tx?: { packets?: number } } }[];
  const packets = link?.stats64?.tx?.packets;
  if (packets === undefined) throw new Error(`no counters for ${NODE.outInterface} in ${NODE.netns}`);
  return packets;
}

/** Creates the node's network namespace, its link to the host, and the host's route to Pods. */
async function createNodeNetwork(): Promise<void> {
  const ip = (...args: string[]) => run('ip', args);
  const inNode = (...args: string[]) => run('ip', ['netns', 'exec', NODE.netns, ...args]);
  await ip('netns', 'add', NODE.netns);
  await ip('link', 'add', NODE.hostInterface, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NODE.netns);
  await run('sysctl', ['-q', '-w', `net.ipv6.conf.${NODE.hostInterface}.disable_ipv6=1`]);
  await ip('addr', 'add', `${NODE.hostAddress}/${NODE.linkPrefix}`, 'dev', NODE.hostInterface);
  await ip('link', 'set', NODE.hostInterface, 'up');
  for (const key of ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1', 'net.ipv4.ip_forward=1']) {
    await inNode('sysctl', '-q', '-w', key);
  }
  await ip('-n', NODE.netns, 'link', 'set', 'lo', 'up');
  await ip('-n', NODE.netns, 'addr', 'add', `${NODE.address}/${NODE.linkPrefix}`, 'dev', 'eth0');
  await ip('-n', NODE.netns, 'link', 'set', 'eth0', 'up');
  // The host reaches Pods (a browser here plays from a Pod's ICE candidate) through the node.
  await ip('route', 'add', NODE.podCidr, 'via', NODE.address, 'dev', NODE.hostInterface);
  // The way out that is no way out: the node's default route leads into a veth pair whose other
  // end is also inside the node, towards a gateway that does not exist (its neighbour entry is
  // static, so packets really leave instead of waiting for ARP). Every packet anything on the
  // node or in a Pod sends to an address outside the cluster is counted there and goes nowhere.
  await ip('-n', NODE.netns, 'link', 'add', NODE.outInterface, 'type', 'veth', 'peer', 'name', `${NODE.outInterface}-peer`);
  await ip('-n', NODE.netns, 'addr', 'add', `${NODE.outAddress}/30`, 'dev', NODE.outInterface);
  await ip('-n', NODE.netns, 'link', 'set', `${NODE.outInterface}-peer`, 'up');
  await ip('-n', NODE.netns, 'link', 'set', NODE.outInterface, 'up');
  await ip('-n', NODE.netns, 'neigh', 'add', NODE.outGateway, 'lladdr', '02:00:00:00:00:fe', 'dev', NODE.outInterface, 'nud', 'permanent');
  await ip('-n', NODE.netns, 'route', 'add', 'default', 'via', NODE.outGateway, 'dev', NODE.outInterface);
  // The cluster's own range is not outside either: a packet for a ClusterIP that kube-proxy has
  // not programmed yet (FFmpeg starts sending RTP to its egress Service at once) is dropped here,
  // as it would be dropped by the DNAT that is about to exist, instead of taking the way out.
  await ip('-n', NODE.netns, 'route', 'add', 'blackhole', NODE.clusterRange);
  // This machine's own addresses are not outside: a browser here offers them as ICE host
  // candidates, and the egress pod's checks to them reach the browser through the host's end.
  for (const address of await hostAddresses()) {
    await ip('-n', NODE.netns, 'route', 'add', `${address}/32`, 'via', NODE.hostAddress, 'dev', 'eth0');
  }
}

/** The host's own IPv4 addresses, but loopback and its end of the link to the node. */
async function hostAddresses(): Promise<string[]> {
  const { stdout } = await run('ip', ['-4', '-j', 'addr', 'show']);
  const links = JSON.parse(stdout) as { ifname: string; addr_info?: { local: string }[] }[];
  return links
    .filter((l) => l.ifname !== 'lo' && l.ifname !== NODE.hostInterface)
    .flatMap((l) => (l.addr_info ?? []).map((a) => a.local))
    .filter((a) => !a.startsWith('127.'));
}

/** A node left by a run that died: its owner is gone, so tear it down; a live owner is an error. */
async function clearStaleNode(log: (line: string) => void): Promise<void> {
  const netnsExists = existsSync(`/run/netns/${NODE.netns}`);
  const record = existsSync(nodeRecordFile) ? readFileSync(nodeRecordFile, 'utf8').trim().split(' ') : [];
  if (!netnsExists && record.length === 0) return;
  const [pid, dir] = record;
  if (pid && pidAlive(Number(pid))) throw new Error(`a test node is already running (pid ${pid}, state ${dir}); stop it first`);
  log(`tearing down the remains of an earlier node (${dir ?? 'no state recorded'})`);
  if (dir && existsSync(join(dir, 'cleanup.sh'))) {
    await run('sh', [join(dir, 'cleanup.sh')]).catch(() => {});
  } else {
    await run('ip', ['netns', 'delete', NODE.netns]).catch(() => {});
    await run('ip', ['link', 'delete', NODE.hostInterface]).catch(() => {});
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Traefik's IngressClass, as its Helm chart would create it. */
async function ensureIngressClass(kc: KubeConfig): Promise<void> {
  const api = kc.makeApiClient(NetworkingV1Api);
  await api
    .createIngressClass({ body: { metadata: { name: 'traefik' }, spec: { controller: 'traefik.io/ingress-controller' } } })
    .catch((err: unknown) => {
      if ((err as { code?: number }).code !== 409) throw err;
    });
}

/** Traefik's GatewayClass (Gateways of this class are programmed by the node's Traefik). */
async function ensureGatewayClass(kc: KubeConfig): Promise<void> {
  const api = kc.makeApiClient(CustomObjectsApi);
  await api
    .createClusterCustomObject({
      group: 'gateway.networking.k8s.io',
      version: 'v1',
      plural: 'gatewayclasses',
      body: {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'GatewayClass',
        metadata: { name: 'traefik' },
        spec: { controllerName: 'traefik.io/gateway-controller' },
      },
    })
    .catch((err: unknown) => {
      if ((err as { code?: number }).code !== 409) throw err;
    });
}

/** One A query to the node's DNS for the `kubernetes` Service, which has the range's first IP. */
async function resolvesKubernetesService(): Promise<boolean> {
  const resolver = new Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([NODE.address]);
  const answer = await resolver.resolve4(`kubernetes.default.svc.${NODE.clusterDomain}`);
  return answer.includes(kubernetesServiceIp);
}

/** Paths of a node's state (for tests that read component logs). */
export { nodePaths, type NodePaths };
