#!/usr/bin/env bash
# The demo for a fresh machine, the same as `npm run demo`: npm's predemo step sets up (npm
# packages with Node 24, FFmpeg: scripts/setup.sh demo), then the demo plays a Process.
#   scripts/demo.sh [path/to/process.yaml]
set -euo pipefail
cd "$(dirname "$0")/.."
exec npm run demo -- "$@"
