#!/usr/bin/env bash
# Fetches the Debian packages the build and tests need into .debs/ (ignored by git), so that
# bench/gpu_check.sh can unpack them on the lent GPU machine, which has no package registry.
# Run here, then name .debs in the device run's `carry`.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .debs
cd .debs
apt-get update -qq
apt-get download libcli11-dev nlohmann-json3-dev libgtest-dev libopenblas-dev libopenblas-pthread-dev \
  libopenblas0-pthread libopenblas0 libgfortran5 coinor-libclp-dev coinor-libclp1 coinor-libcoinutils-dev \
  coinor-libcoinutils3v5 liblapack3 libblas3 2>&1 | tail -1
ls -1 | wc -l
