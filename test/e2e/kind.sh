#!/usr/bin/env bash
# The kind flow, for a machine with Docker, kind, kubectl and helm (docs/deploy.md):
#   test/e2e/kind.sh          create the cluster (kind-config.yaml), build and load the images,
#                             install Traefik, then run the same whole-product test as the test
#                             node (test/e2e/node/product.node.test.ts: helm install with
#                             helm-values/local-node.yaml + helm-values/kind.yaml, the test
#                             pattern, Chromium through the ingress, the faults); KEEP=1 keeps
#                             the cluster afterwards.
#   test/e2e/kind.sh images   only build the three images and load them into the cluster.
# Where there is no Docker engine, `npm run test:node` runs that test on a single-node cluster
# made of local processes instead (test/kit/src/node-cluster.ts). Chromium: Debian's, /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")/../.."
cluster=corecast # kind-config.yaml's name
traefik_chart_version=${TRAEFIK_CHART_VERSION:-41.4.0}

images() {
  for spec in operator:operator/Dockerfile egress:egress-pod/Dockerfile ffmpeg:images/ffmpeg/Dockerfile; do
    docker build -t "corecast/${spec%%:*}:dev" -f "${spec#*:}" .
    kind load docker-image --name "$cluster" "corecast/${spec%%:*}:dev"
  done
}

if [ "${1:-}" = images ]; then images; exit 0; fi

[ -x node_modules/.bin/node ] || npm ci --no-audit --no-fund
kind get clusters | grep -qx "$cluster" || kind create cluster --config kind-config.yaml --wait 120s
[ "${KEEP:-}" = 1 ] || trap 'kind delete cluster --name "$cluster"' EXIT
kubeconfig=$(mktemp -d)/kubeconfig
kind get kubeconfig --name "$cluster" > "$kubeconfig"

images
helm --kubeconfig "$kubeconfig" upgrade --install traefik traefik --repo https://traefik.github.io/charts \
  --version "$traefik_chart_version" -n traefik --create-namespace -f test/e2e/traefik-values.yaml --wait
# Media reaches the browser through kind's port mappings on 127.0.0.1, not the egress pod's own address.
CORECAST_NODE_KUBECONFIG=$kubeconfig CORECAST_INGRESS_URL=http://localhost \
  CORECAST_HELM_VALUES=helm-values/local-node.yaml,helm-values/kind.yaml CORECAST_MEDIA_ADDRESS=127.0.0.1 \
  CORECAST_GATEWAY_PORT=8000 \
  ./node_modules/.bin/node --test --test-timeout=1800000 test/e2e/node/product.node.test.ts
