#!/bin/sh
# Builds the two cluster add-ons of the tests' single-node cluster from the Go
# modules pinned in coredns/go.mod and traefik/go.mod, into a cache directory
# outside the repository:
#   ${CORECAST_NODE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/corecast/node/coredns-<v>-traefik-<v>}
# holding `coredns` (cluster DNS) and `traefik` (ingress controller).
# Skips the build when that directory already holds a complete build (stamp file).
#
#   build.sh          build if needed, print the directory
#   build.sh --dir    only print the directory
#   build.sh --force  rebuild even when the stamp exists
#
# Prints one JSON line per phase ({name,value,unit}) on stderr when it builds.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

# The pinned releases are the single source of truth: the require lines in the go.mod files.
pinned() {
  awk -v m="$1" '$1 == "require" { $1 = ""; $0 = $0 } $1 == m && $2 ~ /^v/ { print $2; exit }' "$2"
}
coredns_version=$(pinned github.com/coredns/coredns coredns/go.mod)
traefik_version=$(pinned github.com/traefik/traefik/v3 traefik/go.mod)
if [ -z "$coredns_version" ] || [ -z "$traefik_version" ]; then
  echo "build.sh: no github.com/coredns/coredns or github.com/traefik/traefik/v3 version in $here/*/go.mod" >&2
  exit 1
fi
out=${CORECAST_NODE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/corecast/node/coredns-$coredns_version-traefik-$traefik_version}
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

# The stamp records the inputs, so an edited go.mod/go.sum or build.sh rebuilds.
inputs=$(cat coredns/go.mod coredns/go.sum traefik/go.mod traefik/go.sum build.sh | sha256sum | cut -d' ' -f1)
if [ "$force" = 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ] &&
  [ -x "$out/coredns" ] && [ -x "$out/traefik" ]; then
  echo "$out"
  exit 0
fi
rm -f "$stamp"

coredns_pkg=github.com/coredns/coredns
traefik_pkg=github.com/traefik/traefik/v3/cmd/traefik
# CoreDNS carries its release in a constant; Traefik's comes from the linker, as in its own release builds.
traefik_ldflags="-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$traefik_version"
traefik_ldflags="$traefik_ldflags -X github.com/traefik/traefik/v3/pkg/version.BuildDate=1970-01-01T00:00:00Z"
# Static, path-independent binaries: the same inputs give the same bytes.
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -trimpath -mod=readonly"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

echo "build.sh: building CoreDNS $coredns_version and Traefik $traefik_version into $out (slow on a cold cache)" >&2
tmp="$out/.build.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
t0=$(now)
# Fetch only the modules the two commands import (go mod download would fetch the whole graph).
(cd coredns && go list -deps "$coredns_pkg" > /dev/null)
(cd traefik && go list -deps "$traefik_pkg" > /dev/null)
t1=$(now)
# One build at a time: each already uses every core.
(cd coredns && go build -ldflags "-s -w" -o "$tmp/coredns" "$coredns_pkg")
t2=$(now)
(cd traefik && go build -ldflags "$traefik_ldflags" -o "$tmp/traefik" "$traefik_pkg")
t3=$(now)
for bin in coredns traefik; do
  mv -f "$tmp/$bin" "$out/$bin"
done
rmdir "$tmp"
echo "$inputs" > "$stamp"

echo "{\"name\":\"node_module_download\",\"value\":$(elapsed "$t0" "$t1"),\"unit\":\"s\"}" >&2
echo "{\"name\":\"node_coredns_compile\",\"value\":$(elapsed "$t1" "$t2"),\"unit\":\"s\"}" >&2
echo "{\"name\":\"node_traefik_compile\",\"value\":$(elapsed "$t2" "$t3"),\"unit\":\"s\"}" >&2
echo "$out"
