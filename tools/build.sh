#!/usr/bin/env bash
# Installs what is missing, then configures and builds Release into build/ (CUDA when nvcc
# is found; pass -DATTNSWARM_CUDA=OFF for a CPU-only build). Extra arguments go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build
