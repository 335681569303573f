#!/usr/bin/env bash
# The Gateway API's standard-channel CRDs (GatewayClass, Gateway, HTTPRoute, GRPCRoute,
# ReferenceGrant, BackendTLSPolicy) for the tests, taken from the Go module
# sigs.k8s.io/gateway-api, which ships them under config/crd/standard/. Nothing is copied into
# the repository: the files go to a cache directory, whose path this prints.
#
#   test/control-plane/gateway-api-crds.sh          # → ${XDG_CACHE_HOME:-~/.cache}/corecast/gateway-api/<version>
#   GATEWAY_API_VERSION=v1.3.0 test/control-plane/gateway-api-crds.sh
#
# v1.4.0 is the version Traefik v3.6.12 is built with (its go.mod), i.e. what its Gateway API
# provider implements. A second run finds the files and does nothing.
set -euo pipefail

version=${GATEWAY_API_VERSION:-v1.4.0}
module=sigs.k8s.io/gateway-api
cache=${XDG_CACHE_HOME:-$HOME/.cache}/corecast/gateway-api/$version

if [ ! -f "$cache/.complete" ]; then
  command -v go >/dev/null || { echo "gateway-api-crds.sh: needs Go (go mod download)" >&2; exit 1; }
  # Outside any module (an empty directory), so no go.mod around decides anything.
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  # A failed download still prints its JSON, with an "Error" field.
  json=$(cd "$scratch" && GOFLAGS=-mod=mod go mod download -json "$module@$version") || true
  error=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Error": "\(.*\)",\{0,1\}$/\1/p')
  if [ -n "$error" ]; then
    echo "gateway-api-crds.sh: go mod download $module@$version: $error" >&2
    exit 1
  fi
  dir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  src=$dir/config/crd/standard
  if ! ls "$src"/gateway.networking.k8s.io_*.yaml >/dev/null 2>&1; then
    echo "gateway-api-crds.sh: no standard CRDs in $src" >&2
    exit 1
  fi
  mkdir -p "$cache"
  # The module cache is read-only; the copies are ordinary files.
  for f in "$src"/gateway.networking.k8s.io_*.yaml; do
    install -m 0644 "$f" "$cache/"
  done
  printf '%s %s\n' "$module" "$version" >"$cache/.complete"
fi
echo "$cache"
