#!/bin/sh
# Measures the control plane and prints JSON lines {name,value,unit}:
#   control_plane_warm_start_*   binaries present -> etcd, kube-apiserver /readyz and
#                                kube-controller-manager /healthz all ready (3 runs)
#   control_plane_stop_median    stop() until every process has exited
# With --cold, first a build from nothing: empty GOMODCACHE, GOCACHE and output directory
# (temporary, removed afterwards), timed in phases by build.sh:
#   control_plane_module_download, control_plane_compile, control_plane_cold_build
# Run through npm (`npm run bench:control-plane [-- --cold]`) so `node` is the repository's Node 24.
set -eu
here=$(cd "$(dirname "$0")" && pwd)

if [ "${1:-}" = "--cold" ]; then
  scratch=$(mktemp -d "${TMPDIR:-/tmp}/corecast-cold-build.XXXXXX")
  trap 'chmod -R u+w "$scratch" 2>/dev/null; rm -rf "$scratch"' EXIT
  start=$(date +%s.%N)
  GOMODCACHE="$scratch/mod" GOCACHE="$scratch/cache" CORECAST_CONTROL_PLANE_DIR="$scratch/out" \
    "$here/build.sh" 2>"$scratch/build.log" >/dev/null || { cat "$scratch/build.log" >&2; exit 1; }
  end=$(date +%s.%N)
  grep '^{' "$scratch/build.log"
  awk -v a="$start" -v b="$end" 'BEGIN { printf "{\"name\":\"control_plane_cold_build\",\"value\":%.1f,\"unit\":\"s\"}\n", b - a }'
fi

"$here/build.sh" >/dev/null
node "$here/../kit/src/control-plane-measure.ts"
