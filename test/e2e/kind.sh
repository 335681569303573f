#!/usr/bin/env bash
# The kind flow, for a machine with Docker, kind, kubectl and helm (docs/deploy.md):
#   test/e2e/kind.sh          create the cluster (kind-config.yaml), build and load the images,
#                             install Traefik and the chart (helm-values/kind.yaml), run
#                             examples/test-pattern.yaml, wait for Ready, and play it through the
#                             ingress in headless Chromium until frames decode; KEEP=1 keeps the
#                             cluster afterwards.
#   test/e2e/kind.sh images   only build the three images and load them into the cluster.
# Where there is no Docker engine (CI), the chart tests check instead what can be checked:
# test/kit/test/chart*.int.test.ts. Chromium: $CHROMIUM, default /usr/bin/chromium.
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
kubectl config use-context "kind-$cluster"

images
helm upgrade --install traefik traefik --repo https://traefik.github.io/charts --version "$traefik_chart_version" \
  -n traefik --create-namespace -f test/e2e/traefik-values.yaml --wait
helm upgrade --install corecast charts/corecast -n corecast-system --create-namespace -f helm-values/kind.yaml --wait
kubectl apply -f examples/test-pattern.yaml
kubectl wait --for=condition=Ready proc/demo --timeout=300s
./node_modules/.bin/node test/e2e/kind-play.ts http://localhost/api/v3/process/demo/whep/player
