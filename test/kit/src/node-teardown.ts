/**
 * Tearing the test node down. Killing the component processes is not enough: containers live on
 * in their shims, the kubelet leaves volume mounts and cgroups, containerd leaves rootfs and
 * network-namespace mounts, and the node's namespace holds a bridge and veth pairs. One shell
 * script does all of it, written into the state directory at start, so the same steps run on a
 * normal stop, from the process guard when the test runner dies (SIGKILL, OOM), and before a new
 * node starts over the remains of a crashed one. Every step tolerates what is already gone.
 */
import { NODE, type NodePaths } from './node-config.ts';

/** Where the running node records its state directory and owner pid (one node per machine). */
export const nodeRecordFile = `/run/${NODE.netns}.state`;

/** The teardown script for the node whose state is in `p.dir`. */
export function teardownScript(p: NodePaths): string {
  return `#!/bin/sh
# Tears down the test node with state in ${p.dir}. Safe to run more than once.
dir='${p.dir}'
sock='${p.containerdSocket}'

# 1. Every container process (they all live in the kubelet's kubepods cgroups), then the
#    containerd shims of this node's containerd (they outlive the daemon by design).
# (cgroup v1: the pids hierarchy; v2: the unified one.)
for procs in $(find /sys/fs/cgroup/pids/kubepods /sys/fs/cgroup/kubepods -name cgroup.procs 2>/dev/null); do
  for pid in $(cat "$procs"); do kill -KILL "$pid" 2>/dev/null; done
done
pkill -KILL -f "containerd-shim-runc-v2 .*-address $sock" 2>/dev/null
sleep 0.5

# 2. Mounts under the state directory (volumes, container root filesystems, Pod network
#    namespaces), deepest first.
awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
  umount -l "$m" 2>/dev/null
done

# 3. The kubelet's cgroups, deepest first, in every hierarchy.
for root in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
  [ -d "$root" ] && find "$root" -depth -type d -exec rmdir {} + 2>/dev/null
done

# 4. The node's network namespace (its bridge and veth pairs go with it) and the host's end.
ip netns delete '${NODE.netns}' 2>/dev/null
ip link delete '${NODE.hostInterface}' 2>/dev/null

# 5. Files.
rm -rf "$dir"
rm -f '${nodeRecordFile}'
exit 0
`;
}
