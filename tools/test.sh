#!/usr/bin/env bash
# Builds (tools/build.sh) and runs every test under ctest. GPU tests (label gpu) skip with
# their reason when no device is usable.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh "$@"
ctest --test-dir build --output-on-failure -j "$(nproc)"
