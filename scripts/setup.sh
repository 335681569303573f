#!/usr/bin/env bash
# Installs what Corecast's demo and tests need on a fresh Debian machine. Safe to run again.
#   scripts/setup.sh demo   — npm packages (with Node 24) and FFmpeg
#   scripts/setup.sh test   — the above, Chromium, iproute2, unzip, the test control plane, and
#                             the test node: containerd, runc, CNI plugins, iptables, buildah and
#                             mmdebstrap from Debian; kubelet, kube-scheduler, kube-proxy, CoreDNS
#                             and Traefik built from Go modules; the images built here
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-test}

debs=(ffmpeg)
[ "$what" = test ] && debs+=(chromium iproute2 unzip coturn tcpdump
  containerd runc containernetworking-plugins iptables buildah mmdebstrap gcc g++ libc6-dev make python3)
missing=()
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  echo "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node 24 comes from the `node` npm package (see package.json); npm itself may be older.
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ] || [ -n "${CI:-}" ]; then
  echo "installing npm packages (npm ci)"
  npm ci --no-fund --no-audit --loglevel=error
fi
# rtc-fastpath's batched UDP sends (an N-API addon built with node-gyp; its install script tries
# too, but may run before Node's headers are unpacked). The tests want it; the demo can do without.
if [ ! -f rtc-fastpath/build/Release/batch_send.node ]; then
  if [ "$what" = test ]; then node_modules/.bin/node rtc-fastpath/native/build.mjs --require
  else node_modules/.bin/node rtc-fastpath/native/build.mjs; fi
fi

if [ "$what" = test ]; then
  bash test/control-plane/build.sh
  bash test/node/build.sh
  bash test/node/images.sh
  bash test/control-plane/gateway-api-crds.sh >/dev/null
fi
