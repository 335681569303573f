/**
 * Command lines of etcd, kube-apiserver and kube-controller-manager for a throwaway,
 * loopback-only control plane. Pure: paths and ports in, argv out.
 *
 * The apiserver flags follow what envtest starts (controller-runtime
 * pkg/internal/testing/controlplane), plus a controller manager for garbage collection.
 */

/**
 * Service CIDR: only allocates ClusterIPs in etcd, never routed anywhere. A /16 (65 534
 * ClusterIPs) so benchmarks can create a thousand and more Services. Only kube-apiserver takes
 * it: the controller manager would need it only for the node IPAM controller, which is not run.
 */
export const serviceClusterIpRange = '10.0.0.0/16';

/**
 * Controllers the harness runs. garbagecollector and namespace are what tests rely on
 * (owner-reference GC, namespaces that finish terminating); deployment and replicaset let a
 * Deployment produce Pods; serviceaccount(-token) give namespaces a `default` ServiceAccount.
 * No node, scheduler or kubelet exists, so Pods stay Pending.
 */
export const controllers = ['garbagecollector', 'namespace', 'deployment', 'replicaset', 'serviceaccount', 'serviceaccount-token'] as const;

/** Inputs of `etcdArgs`. */
export interface EtcdFlags {
  dataDir: string;
  clientPort: number;
  peerPort: number;
}

/** etcd as a single loopback member; fsync off because the data is thrown away. */
export function etcdArgs({ dataDir, clientPort, peerPort }: EtcdFlags): string[] {
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return [
    '--name=default',
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=default=${peer}`,
    '--unsafe-no-fsync=true',
    '--log-level=warn',
  ];
}

/** Inputs of `apiserverArgs`. */
export interface ApiserverFlags {
  etcdClientPort: number;
  securePort: number;
  certDir: string;
  tokenFile: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
  /**
   * Set for a cluster whose Pods really run (the test node): the API server listens on this
   * address instead of loopback, so Pods reach it through the `kubernetes` Service, and Pods get
   * ServiceAccount tokens (the ServiceAccount admission plugin stays on).
   */
  node?: { address: string; serviceRange: string };
}

/** kube-apiserver on 127.0.0.1 (or the node's address) with a static admin token and RBAC. */
export function apiserverArgs(f: ApiserverFlags): string[] {
  const address = f.node?.address ?? '127.0.0.1';
  return [
    `--etcd-servers=http://127.0.0.1:${f.etcdClientPort}`,
    `--cert-dir=${f.certDir}`,
    `--secure-port=${f.securePort}`,
    `--bind-address=${address}`,
    `--advertise-address=${address}`,
    `--service-cluster-ip-range=${f.node?.serviceRange ?? serviceClusterIpRange}`,
    '--authorization-mode=RBAC',
    `--token-auth-file=${f.tokenFile}`,
    ...(f.node
      ? // Tokens for Pods, with the issuer in-cluster clients expect; the kubelet is reached by
        // its InternalIP (the node has no resolvable host name).
        ['--service-account-issuer=https://kubernetes.default.svc', '--kubelet-preferred-address-types=InternalIP']
      : [
          // The ServiceAccount admission plugin would reject Pods until a controller has created
          // each namespace's default ServiceAccount; tests create Pods right after the namespace.
          '--disable-admission-plugins=ServiceAccount',
          `--service-account-issuer=https://127.0.0.1:${f.securePort}`,
        ]),
    `--service-account-key-file=${f.serviceAccountPub}`,
    `--service-account-signing-key-file=${f.serviceAccountKey}`,
    '--allow-privileged=true',
  ];
}

/** Inputs of `controllerManagerArgs`. */
export interface ControllerManagerFlags {
  kubeconfig: string;
  securePort: number;
  certDir: string;
  serviceAccountKey: string;
  rootCaFile: string;
  /** Controllers to run (default `controllers`; the test node runs every default one, `*`). */
  controllers?: readonly string[];
  /** Address of its health and metrics port (default 127.0.0.1). */
  bindAddress?: string;
}

/** kube-controller-manager with one shared admin identity and no leader election. */
export function controllerManagerArgs(f: ControllerManagerFlags): string[] {
  return [
    `--kubeconfig=${f.kubeconfig}`,
    // Delegated authn/authz of its own /metrics and /healthz goes to the same API server.
    `--authentication-kubeconfig=${f.kubeconfig}`,
    `--authorization-kubeconfig=${f.kubeconfig}`,
    `--controllers=${(f.controllers ?? controllers).join(',')}`,
    '--use-service-account-credentials=false',
    '--leader-elect=false',
    `--service-account-private-key-file=${f.serviceAccountKey}`,
    `--root-ca-file=${f.rootCaFile}`,
    `--bind-address=${f.bindAddress ?? '127.0.0.1'}`,
    `--secure-port=${f.securePort}`,
    `--cert-dir=${f.certDir}`,
  ];
}
