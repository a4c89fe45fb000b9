#!/usr/bin/env bash
# The one script a session holding the lent H200 runs, in one device call (well under 8 min):
#   device run, carry [".debs"], command "bash bench/gpu_check.sh", timeout_s 540
# (after bench/fetch_debs.sh here). It unpacks the Debian packages into a private prefix,
# builds Release for sm_90, runs the whole test suite (GPU tests included), compute-sanitizer
# memcheck and racecheck on the GPU tests at small sizes, the evaluation benchmarks (CPU
# reference, fused, cuBLAS, PyTorch, side by side on one bundle) and the bound benchmark, then
# prints the table of bench/gpu_summary.py. Logs and JSON go to $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/attnswarm-gpu-check}
mkdir -p "$OUT"
status=0
step() { echo "== $*"; }

step "unpack Debian packages"
prefix=/tmp/attnswarm-debroot
for f in .debs/*.deb; do dpkg -x "$f" "$prefix"; done
lib=$prefix/usr/lib/x86_64-linux-gnu
export CPATH=$prefix/usr/include:$prefix/usr/include/x86_64-linux-gnu/openblas-pthread
export LIBRARY_PATH=$lib:$lib/openblas-pthread
export LD_LIBRARY_PATH=$lib:$lib/openblas-pthread:${LD_LIBRARY_PATH:-}
export PKG_CONFIG_PATH=$lib/pkgconfig
export PATH=/usr/local/cuda/bin:$PATH
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"

step "configure and build (Release, sm_90)"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DCMAKE_PREFIX_PATH="$prefix/usr" -DBLAS_LIBRARIES="$lib/openblas-pthread/libopenblas.so" -DATTNSWARM_REQUIRE_CLP=OFF \
  >"$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
cmake --build build-gpu -j 16 >"$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }

step "info"
./build-gpu/attnswarm info --json | tee "$OUT/info.json"

step "tests"
ctest --test-dir build-gpu --output-on-failure -j 8 >"$OUT/ctest.log" 2>&1 || status=1
grep -E "tests passed|tests failed|Failed|Skipped" "$OUT/ctest.log" | tail -20

step "compute-sanitizer"
small='Kernels/GpuVsCpu.*odd_tasks:Kernels/GpuVsCpu.*one_user:Kernels/GpuVsCpu.*one_task:Kernels/GpuVsCpu.*no_users:Gpu.SharedMath*:Gpu.DeviceSwarm*'
for tool in memcheck racecheck; do
  compute-sanitizer --tool "$tool" --error-exitcode 3 ./build-gpu/tests/attnswarm_gpu_tests --gtest_filter="$small" \
    >"$OUT/sanitizer-$tool.log" 2>&1 && echo "$tool: clean" || { echo "$tool: ERRORS"; tail -20 "$OUT/sanitizer-$tool.log"; status=1; }
done

step "benchmarks: 10M users x 64 tasks, P = 256"
bundle=/tmp/attnswarm-bench-10m
./build-gpu/attnswarm generate --users 10000000 --tasks 64 --segments 8 --seed 1 --out "$bundle" | tee "$OUT/generate.txt"
bench() { local name=$1; shift; ./build-gpu/bench/bench_eval --problem "$bundle" --particles 256 "$@" | tee "$OUT/bench_$name.json"; }
bench cpu --backend cpu --reps 3 --swarm-iterations 2
bench fused --backend cuda --eval-path fused --reps 5
bench cublas --backend cuda --eval-path cublas --reps 5
PYTHONUNBUFFERED=1 python3 bench/torch_baseline.py --problem "$bundle" --particles 256 | tee "$OUT/bench_torch.json"

step "bound vs swarm iteration: 200k users x 32 tasks x 4 segments"
small_bundle=/tmp/attnswarm-bench-200k
./build-gpu/attnswarm generate --users 200000 --tasks 32 --segments 4 --seed 20261203 --out "$small_bundle" >/dev/null
for b in cpu cuda; do
  ./build-gpu/bench/bench_bound --problem "$small_bundle" --backend "$b" | tee "$OUT/bound_$b.json"
done

step "summary"
python3 bench/gpu_summary.py "$OUT" | tee "$OUT/summary.txt"
exit $status
