#!/usr/bin/env bash
# The one script a session holding the lent H200 runs, in one device call (well under 8 min):
#   device run, carry [".debs"], command "bash bench/gpu_check.sh", timeout_s 540
# (after bench/fetch_debs.sh here). It unpacks the Debian packages into a private prefix,
# builds Release for sm_90, runs the whole test suite (GPU tests included), compute-sanitizer
# memcheck and racecheck on the GPU tests at small sizes, and the CPU-vs-CUDA evaluation
# benchmark, then prints a short table. Logs and JSON go to $OUT.
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
small='Kernels/GpuVsCpu.*odd_tasks:Kernels/GpuVsCpu.*one_user:Kernels/GpuVsCpu.*no_users:Gpu.SharedMath*'
for tool in memcheck racecheck; do
  compute-sanitizer --tool "$tool" --error-exitcode 3 ./build-gpu/tests/attnswarm_gpu_tests --gtest_filter="$small" \
    >"$OUT/sanitizer-$tool.log" 2>&1 && echo "$tool: clean" || { echo "$tool: ERRORS"; tail -20 "$OUT/sanitizer-$tool.log"; status=1; }
done

step "benchmarks: 10M users x 64 tasks, P = 256"
bundle=/tmp/attnswarm-bench-10m
./build-gpu/attnswarm generate --users 10000000 --tasks 64 --segments 8 --seed 1 --out "$bundle" | tee "$OUT/generate.txt"
./build-gpu/bench/bench_eval --problem "$bundle" --particles 256 --reps 3 --backend cpu | tee "$OUT/bench_cpu.json"
./build-gpu/bench/bench_eval --problem "$bundle" --particles 256 --reps 5 --backend cuda | tee "$OUT/bench_cuda.json"
PYTHONUNBUFFERED=1 python3 bench/torch_baseline.py --problem "$bundle" --particles 256 | tee "$OUT/bench_torch.json"

step "summary"
python3 - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
def read(name):
    try:
        return json.load(open(os.path.join(out, name)))
    except Exception as e:
        print(f"{name}: no figures ({e})")
        return None
c, g, t = read("bench_cpu.json"), read("bench_cuda.json"), read("bench_torch.json")
if c and g:
    print(f"{'':34}{'CPU (16 cores)':>16}{'CUDA cuBLAS':>16}{'CPU/CUDA':>10}")
    print(f"{'batched eval, P=256 (ms)':34}{c['batched_eval_ms']:16.1f}{g['batched_eval_ms']:16.2f}{c['batched_eval_ms']/g['batched_eval_ms']:9.1f}x")
    print(f"{'one-policy eval (GB/s of F, A)':34}{c['one_policy_gbps']:16.2f}{g['one_policy_gbps']:16.1f}{g['one_policy_gbps']/c['one_policy_gbps']:9.1f}x")
    print(f"{'batched GFLOP/s':34}{c['batched_eval_gflops']:16.1f}{g['batched_eval_gflops']:16.1f}")
    print(f"one-policy eval vs device copy ({g['copy_gbps']:.0f} GB/s): {100 * g['one_policy_vs_copy']:.0f}%")
    rel = abs(c['served_policy0'] - g['served_policy0']) / abs(c['served_policy0'])
    print(f"served of policy 0: CPU and CUDA agree to {rel:.1e} relative")
if g and t:
    rel = abs(t['served_policy0'] - g['served_policy0']) / abs(g['served_policy0'])
    print(f"PyTorch {t['torch']}: batched eval {t['batched_eval_ms']:.2f} ms; CUDA is {t['batched_eval_ms']/g['batched_eval_ms']:.2f}x faster; served agrees to {rel:.1e}")
PY
exit $status
