#!/usr/bin/env bash
# compute-sanitizer's memcheck without a GPU: builds the fake-device tests (the CUDA backend's
# driver and launchers, the kernels on the emulator, and the GPU tests themselves; see
# tests/test_fake_device.cpp) with AddressSanitizer into build-asan/ and runs them. The fake
# device's memory is exactly the bytes each cudaMalloc asked for, so a kernel or a copy that
# reads or writes past any device allocation, or a host buffer the driver stages, stops the
# test with the kernel's source line. A CPU-only build, as the fake device needs; CI runs it
# (.ci/run). Extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Release -DATTNSWARM_CUDA=OFF \
  -DCMAKE_CXX_FLAGS="-fsanitize=address -fno-omit-frame-pointer" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address"
cmake --build build-asan --target attnswarm_fake_device_tests attnswarm_gpu_tests_on_fake_device attnswarm_on_fake_device
# GpuCheckBenchmarksAndTable drives bench/gpu_check_on_fake_device.sh, whose benchmark
# programs this build leaves out: the plain CPU-only build runs it.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
  ctest --test-dir build-asan --output-on-failure -j "$(nproc)" -R 'FakeDevice' -E 'GpuCheckBenchmarksAndTable' "$@"
