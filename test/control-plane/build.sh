#!/bin/sh
# Builds kube-apiserver, kube-controller-manager and etcd (the control plane), and
# kubelet, kube-scheduler and kube-proxy (what a single node adds), from the Go
# modules pinned in go.mod into a cache directory outside the repository:
#   ${CORECAST_CONTROL_PLANE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/corecast/control-plane/<k8s-version>}
# Skips the build when that directory already holds a complete build (stamp file).
#
#   build.sh          build if needed, print the directory
#   build.sh --dir    only print the directory
#   build.sh --force  rebuild even when the stamp exists
#
# Prints one JSON line per phase ({name,value,unit}) on stderr when it builds,
# so a cold build can be timed by measure.sh.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

# The pinned release is the single source of truth: the require line in go.mod.
version=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' go.mod)
if [ -z "$version" ]; then
  echo "build.sh: no k8s.io/kubernetes version found in $here/go.mod" >&2
  exit 1
fi
out=${CORECAST_CONTROL_PLANE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/corecast/control-plane/$version}
stamp="$out/.stamp"

case "${1:-}" in
  --dir) echo "$out"; exit 0 ;;
  --force) force=1 ;;
  '') force=0 ;;
  *) echo "usage: build.sh [--dir|--force]" >&2; exit 2 ;;
esac

mkdir -p "$out"
# Two test runs may ask for the binaries at once: the second waits for the first.
exec 9>"$out/.lock"
flock 9

# The stamp records the inputs, so an edited go.mod/go.sum/etcd main rebuilds.
inputs=$(cat go.mod go.sum etcd/main.go build.sh | sha256sum | cut -d' ' -f1)
bins="kube-apiserver kube-controller-manager etcd kubelet kube-scheduler kube-proxy"
have_all() {
  for bin in $bins; do [ -x "$out/$bin" ] || return 1; done
}
if [ "$force" = 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ] && have_all; then
  echo "$out"
  exit 0
fi
rm -f "$stamp"

major=$(echo "$version" | sed -E 's/^v([0-9]+)\..*/\1/')
minor=$(echo "$version" | sed -E 's/^v[0-9]+\.([0-9]+)\..*/\1/')
# The same variables Kubernetes' own hack/lib/version.sh sets, so /version and
# the compatibility-version machinery see the real release instead of v0.0.0.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags="$ldflags -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags="$ldflags -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

targets="k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager ./etcd"
targets="$targets k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-proxy"
# Static, path-independent binaries: the same inputs give the same bytes.
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -trimpath -mod=readonly"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

echo "build.sh: building Kubernetes $version control plane and node binaries into $out (slow on a cold cache)" >&2
t0=$(now)
# Fetch only the modules the six commands import (go mod download would fetch the whole graph).
go list -deps $targets > /dev/null
t1=$(now)
tmp="$out/.build.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
# shellcheck disable=SC2086 # targets is a word list on purpose
go build -ldflags "$ldflags" -o "$tmp/" $targets
t2=$(now)
for bin in $bins; do
  mv -f "$tmp/$bin" "$out/$bin"
done
rmdir "$tmp"
echo "$inputs" > "$stamp"

echo "{\"name\":\"control_plane_module_download\",\"value\":$(elapsed "$t0" "$t1"),\"unit\":\"s\"}" >&2
echo "{\"name\":\"control_plane_compile\",\"value\":$(elapsed "$t1" "$t2"),\"unit\":\"s\"}" >&2
echo "$out"
