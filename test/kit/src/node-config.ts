/**
 * The test node's addresses and the configuration of each of its components, as pure functions:
 * a state directory in, file contents and command lines out. node-cluster.ts writes and runs them.
 *
 * The node is one network namespace (`corecast-node`) joined to the host by a veth pair. Every
 * address is taken from 198.18.0.0/15 (RFC 2544's benchmarking range), so nothing resembles a
 * real network, and the namespace's default route is a dead end that counts what takes it
 * (`out0`): a packet for any other address goes nowhere, and a test can see that none was sent. Inside it run etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
 * containerd, kubelet, kube-proxy, CoreDNS and Traefik; Pods hang off a bridge.
 *
 *   host (root namespace)            corecast-node namespace                 Pods
 *   cc-node 198.18.0.1/30 ──veth── eth0 198.18.0.2/30          cc-br0 198.18.16.1/20 ── 198.18.16.x
 *   route 198.18.16.0/20 via .0.2    apiserver :6443, ingress :80, DNS :53
 */
import { join } from 'node:path';
import { stringify } from 'yaml';
import { imageRefs } from './node-images.ts';

/** Fixed names and addresses of the test node (one per machine at a time). */
export const NODE = {
  /** The Node object's name and the network namespace's. */
  name: 'corecast-node',
  netns: 'corecast-node',
  /** Host end of the veth pair (the node end is `eth0` inside the namespace). */
  hostInterface: 'cc-node',
  hostAddress: '198.18.0.1',
  /** The node's InternalIP: API server, kubelet, ingress (port 80) and cluster DNS (port 53). */
  address: '198.18.0.2',
  linkPrefix: 30,
  /** Every address of the cluster (link, Pods, Services): never routed out of the node. */
  clusterRange: '198.18.0.0/15',
  /** Pod network (a Linux bridge, host-local IPAM). */
  podCidr: '198.18.16.0/20',
  podGateway: '198.18.16.1',
  bridge: 'cc-br0',
  /** Service ClusterIPs (kube-proxy, iptables mode); the `kubernetes` Service is the first. */
  serviceCidr: '198.19.0.0/16',
  clusterDomain: 'cluster.local',
  /**
   * The node's default route: a dead end that counts what tries to leave (node-cluster.ts), so a
   * test can prove that nothing on the node contacts an outside address.
   */
  outInterface: 'out0',
  outAddress: '198.18.0.5',
  outGateway: '198.18.0.6',
  apiserverPort: 6443,
  ingressPort: 80,
  /** Traefik's ping endpoint (readiness of the ingress controller). */
  ingressPingPort: 8082,
} as const;

/** ClusterIP of the `kubernetes` Service: the first address of the Service range. */
export const kubernetesServiceIp = '198.19.0.1';

/** The ingress controller's address as a URL base (no trailing slash). */
export const ingressUrl = `http://${NODE.address}${NODE.ingressPort === 80 ? '' : `:${NODE.ingressPort}`}`;

/** Paths inside a node's state directory. */
export function nodePaths(dir: string) {
  return {
    dir,
    containerdConfig: join(dir, 'containerd.toml'),
    containerdRoot: join(dir, 'containerd', 'root'),
    containerdState: join(dir, 'containerd', 'state'),
    containerdSocket: join(dir, 'containerd', 'containerd.sock'),
    cniConfDir: join(dir, 'cni', 'net.d'),
    cniIpamDir: join(dir, 'cni', 'ipam'),
    kubeletConfig: join(dir, 'kubelet.yaml'),
    kubeletRoot: join(dir, 'kubelet'),
    kubeletPki: join(dir, 'kubelet-pki'),
    podLogs: join(dir, 'pod-logs'),
    resolvConf: join(dir, 'resolv.conf'),
    volumePlugins: join(dir, 'volume-plugins'),
    kubeProxyConfig: join(dir, 'kube-proxy.yaml'),
    corefile: join(dir, 'Corefile'),
    cleanupScript: join(dir, 'cleanup.sh'),
  };
}

/** The state directory's paths. */
export type NodePaths = ReturnType<typeof nodePaths>;

/** The sandbox image containerd starts first in every Pod (built here: test/node/images.sh). */
export const pauseImage = imageRefs.pause;

/** containerd's configuration (format version 2, containerd 1.6): CRI with runc and CNI. */
export function containerdConfig(p: NodePaths): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
root = "${p.containerdRoot}"
state = "${p.containerdState}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "${p.containerdSocket}"

[${cri}]
  sandbox_image = "${pauseImage}"
  # This machine does not grant CAP_SYS_RESOURCE: a negative oom_score_adj is refused and runc
  # then fails every sandbox. Clamp it to the daemon's own instead.
  restrict_oom_score_adj = true
  # Pod network namespaces are mounted under the state directory, not /var/run/netns.
  netns_mounts_under_state_dir = true
  enable_selinux = false
  disable_apparmor = true
  [${cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [${cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [${cri}.containerd.runtimes.runc.options]
        # cgroup v1 through cgroupfs, as the kubelet is configured.
        SystemdCgroup = false
  [${cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${p.cniConfDir}"
`;
}

/** The Pod network: one bridge, addresses from host-local, no masquerade (nothing leaves the node). */
export function cniConfig(p: NodePaths): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'corecast',
      plugins: [
        {
          type: 'bridge',
          bridge: NODE.bridge,
          isGateway: true,
          ipMasq: false,
          // A Pod reaching itself through its own Service's ClusterIP.
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: NODE.podCidr, gateway: NODE.podGateway }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: p.cniIpamDir,
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

/** KubeletConfiguration for cgroup v1 with cgroupfs, everything under the state directory. */
export function kubeletConfig(p: NodePaths): string {
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    // v1.35 refuses cgroup v1 unless told otherwise; this machine has only v1 controllers.
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    failSwapOn: false,
    containerRuntimeEndpoint: `unix://${p.containerdSocket}`,
    address: NODE.address,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 10248,
    // The kubelet API listens only inside the node's namespace; the API server (kubectl logs,
    // exec) reaches it without client certificates.
    authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
    authorization: { mode: 'AlwaysAllow' },
    clusterDNS: [NODE.address],
    clusterDomain: NODE.clusterDomain,
    // Pods get the cluster's DNS only: no search domain or server of the host's leaks in.
    resolvConf: p.resolvConf,
    podLogsDir: p.podLogs,
    volumePluginDir: p.volumePlugins,
    // A shared test machine's disk may be fuller than a kubelet likes; never evict test Pods.
    evictionHard: { 'memory.available': '50Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    // Images are imported, never pulled.
    serializeImagePulls: false,
    registerNode: true,
    maxPods: 110,
    // Probes and status on a node with two cores under load: the defaults are fine, but the
    // node-status cadence is shortened so a test sees a Ready node quickly.
    nodeStatusUpdateFrequency: '4s',
    shutdownGracePeriod: '0s',
  });
}

/** kubelet's command line. */
export function kubeletArgs(p: NodePaths, kubeconfig: string): string[] {
  return [
    `--config=${p.kubeletConfig}`,
    `--kubeconfig=${kubeconfig}`,
    `--root-dir=${p.kubeletRoot}`,
    `--cert-dir=${p.kubeletPki}`,
    `--hostname-override=${NODE.name}`,
    `--node-ip=${NODE.address}`,
    '--v=1',
  ];
}

/** kube-proxy (iptables mode) inside the node's namespace. */
export function kubeProxyConfig(kubeconfig: string): string {
  return stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    mode: 'iptables',
    clientConnection: { kubeconfig },
    hostnameOverride: NODE.name,
    clusterCIDR: NODE.podCidr,
    bindAddress: NODE.address,
    healthzBindAddress: '127.0.0.1:10256',
    metricsBindAddress: '127.0.0.1:10249',
    // nf_conntrack_max is global and read-only outside the host's own namespace: leave it.
    conntrack: { maxPerCore: 0, min: 0 },
    // Only the node's own address serves NodePorts (no other interface exists there anyway).
    nodePortAddresses: [`${NODE.address}/32`],
  });
}

/** kube-proxy's command line. */
export function kubeProxyArgs(p: NodePaths): string[] {
  return [`--config=${p.kubeProxyConfig}`, '--v=1'];
}

/**
 * CoreDNS: the cluster domain from the API server, and nothing else — names outside it get
 * NXDOMAIN instead of being forwarded anywhere.
 */
export function corefile(kubeconfig: string): string {
  return `${NODE.clusterDomain}:53 in-addr.arpa:53 {
    bind ${NODE.address}
    errors
    kubernetes ${NODE.clusterDomain} in-addr.arpa {
        kubeconfig ${kubeconfig} corecast
        pods insecure
        ttl 5
    }
    cache 5
}
.:53 {
    bind ${NODE.address}
    errors
    template ANY ANY {
        rcode NXDOMAIN
    }
}
`;
}

/** CoreDNS's command line (health on the node's loopback). */
export function corednsArgs(p: NodePaths): string[] {
  return ['-conf', p.corefile, '-dns.port', '53'];
}

/** Inputs of `traefikArgs`. */
export interface TraefikFlags {
  server: string;
  token: string;
  caFile: string;
  /** Also read Gateway API routes (the CRDs must be installed first). */
  gatewayApi: boolean;
}

/**
 * Traefik as the ingress controller: Ingresses of class `traefik` (and, with `gatewayApi`,
 * HTTPRoutes of its GatewayClass) routed from the node's port 80 to Pod endpoints.
 */
export function traefikArgs(f: TraefikFlags): string[] {
  const provider = (name: string) => [
    `--providers.${name}=true`,
    `--providers.${name}.endpoint=${f.server}`,
    `--providers.${name}.token=${f.token}`,
    `--providers.${name}.certauthfilepath=${f.caFile}`,
  ];
  return [
    `--entrypoints.web.address=${NODE.address}:${NODE.ingressPort}`,
    `--entrypoints.traefik.address=${NODE.address}:${NODE.ingressPingPort}`,
    '--ping=true',
    '--ping.entrypoint=traefik',
    // Never call home (version check, usage statistics).
    '--global.checkNewVersion=false',
    '--global.sendAnonymousUsage=false',
    '--log.level=INFO',
    '--accesslog=true',
    ...provider('kubernetesingress'),
    ...(f.gatewayApi ? provider('kubernetesgateway') : []),
  ];
}

/** Scheduler's command line (no leader election: one of it). */
export function schedulerArgs(kubeconfig: string): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    '--leader-elect=false',
    `--bind-address=${NODE.address}`,
    '--secure-port=10259',
  ];
}
