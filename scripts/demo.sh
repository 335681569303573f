#!/usr/bin/env bash
# The demo for a fresh machine: set up, then play a Process in the browser (npm run demo).
#   scripts/demo.sh [path/to/process.yaml]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh demo
exec npm run demo -- "$@"
