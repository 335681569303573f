#!/usr/bin/env bash
# The test command for a fresh machine: set up, then run every test level (npm test).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
exec npm test
