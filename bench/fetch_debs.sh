#!/usr/bin/env bash
# Fetches the Debian packages the build and tests need into .debs/ (ignored by git), so that
# bench/gpu_check.sh can unpack them on the lent GPU machine, which has no package registry.
# Run here, then name .debs in the device run's `carry`.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .debs
cd .debs
apt-get update -qq
rm -f ./*.deb
# CLP (the bound-vs-LP tests) stays behind: its link needs the BLAS alternatives that an
# unpacked prefix lacks, and those tests are CPU tests that CI runs.
apt-get download libcli11-dev nlohmann-json3-dev libgtest-dev libgmock-dev libopenblas-dev libopenblas-pthread-dev \
  libopenblas0-pthread libopenblas0 libgfortran5 2>&1 | grep -v "unsandboxed" || true
ls -1 | wc -l
