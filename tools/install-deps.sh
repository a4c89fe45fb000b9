#!/usr/bin/env bash
# Installs the Debian 12 packages attnswarm builds and tests with, when any is missing.
# The CUDA toolkit is not a Debian package here: nvcc is used when it is on PATH.
set -euo pipefail
packages=(cmake ninja-build g++ pkg-config libcli11-dev nlohmann-json3-dev libopenblas-dev libgtest-dev
          python3-numpy coinor-libclp-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "attnswarm: installing Debian packages: ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
