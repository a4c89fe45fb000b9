#!/usr/bin/env bash
# The one script a session holding the lent H200 runs, in one device call (well under 8 min):
#   device run, carry [".debs"], command "bash bench/gpu_check.sh", timeout_s 540
# (after bench/fetch_debs.sh here). It unpacks the Debian packages into a private prefix,
# builds Release for sm_90, runs the whole test suite (GPU tests included), compute-sanitizer
# memcheck and racecheck on the GPU tests at small sizes, the evaluation benchmarks (CPU
# reference, fused, tensor, cuBLAS, PyTorch, side by side on one bundle), the bound benchmark
# and, budget permitting, Nsight Compute on the fused kernels, then prints the table of
# bench/gpu_summary.py. Logs and JSON go to $OUT.
# Every step runs under a time limit cut to what is left of GPU_CHECK_BUDGET_S (default 480 s,
# under the call's 540), so that a step that hangs costs its own figures, not the ones after
# it, and the summary is always printed. Each step's seconds go to $OUT/steps.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/attnswarm-gpu-check}
mkdir -p "$OUT"
budget=${GPU_CHECK_BUDGET_S:-480}
reserve=15  # kept back for the summary
started=$SECONDS
status=0

# step NAME LIMIT_S FUNCTION [ARGS...]: runs one of the functions below in a child bash under
# min(LIMIT_S, what the budget has left), and notes its seconds and verdict.
step() {
  local name=$1 limit=$2
  shift 2
  local left=$((budget - reserve - (SECONDS - started)))
  ((limit > left)) && limit=$left
  if ((limit < 5)); then
    echo "$name: skipped, the time budget is spent" | tee -a "$OUT/steps.txt"
    status=1
    return 1
  fi
  echo "== $name (at most ${limit} s)"
  local t0=$SECONDS rc=0
  timeout --kill-after=5 "$limit" bash -c '"$@"' step "$@" || rc=$?
  local verdict="ok"
  if ((rc == 124 || rc == 137)); then verdict="TIMED OUT"; elif ((rc != 0)); then verdict="failed (exit $rc)"; fi
  echo "$name: $((SECONDS - t0)) s, $verdict" | tee -a "$OUT/steps.txt"
  ((rc != 0)) && status=1
  return $rc
}

export OUT prefix=/tmp/attnswarm-debroot
export lib=$prefix/usr/lib/x86_64-linux-gnu
export CPATH=$prefix/usr/include:$prefix/usr/include/x86_64-linux-gnu/openblas-pthread
export LIBRARY_PATH=$lib:$lib/openblas-pthread
export LD_LIBRARY_PATH=$lib:$lib/openblas-pthread:${LD_LIBRARY_PATH:-}
export PKG_CONFIG_PATH=$lib/pkgconfig
export PATH=/usr/local/cuda/bin:$PATH
export bundle=/tmp/attnswarm-bench-10m small_bundle=/tmp/attnswarm-bench-200k
: >"$OUT/steps.txt"

unpack() { for f in .debs/*.deb; do dpkg -x "$f" "$prefix" || return 1; done; }
build() {
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DCMAKE_PREFIX_PATH="$prefix/usr" -DBLAS_LIBRARIES="$lib/openblas-pthread/libopenblas.so" \
    -DATTNSWARM_REQUIRE_CLP=OFF >"$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; return 1; }
  cmake --build build-gpu -j 16 >"$OUT/build.log" 2>&1 ||
    { grep -m 20 -E "error|Error" "$OUT/build.log"; tail -20 "$OUT/build.log"; return 1; }
}
info() { ./build-gpu/attnswarm info --json | tee "$OUT/info.json"; }
tests() {
  ctest --test-dir build-gpu --output-on-failure --timeout 90 -j 8 >"$OUT/ctest.log" 2>&1
  local rc=$?
  grep -E "tests passed|tests failed|\(Failed\)|\(Timeout\)|Not Run" "$OUT/ctest.log" | tail -25
  echo "$(grep -c "(Skipped)" "$OUT/ctest.log") skipped (reasons in ctest.log)"
  return $rc
}
# On a gVisor machine compute-sanitizer refuses the device (the device tool's KINDS.md): that
# is said and is not a failure of ours; any error it finds is.
sanitize() {
  local small='Kernels/GpuVsCpu.*odd_tasks:Kernels/GpuVsCpu.*one_user:Kernels/GpuVsCpu.*one_task:Kernels/GpuVsCpu.*no_users:Gpu.SharedMath*:Gpu.DeviceSwarm*'
  command -v compute-sanitizer >/dev/null || { echo "$1: compute-sanitizer is not on the PATH here"; return 0; }
  local rc=0
  compute-sanitizer --tool "$1" --error-exitcode 3 ./build-gpu/tests/attnswarm_gpu_tests --gtest_filter="$small" \
    >"$OUT/sanitizer-$1.log" 2>&1 || rc=$?
  if ((rc == 0)); then
    echo "$1: clean"
  elif grep -q "Device not supported" "$OUT/sanitizer-$1.log"; then
    echo "$1: compute-sanitizer does not support this machine's device runtime; not checked"
    rc=0
  else
    tail -20 "$OUT/sanitizer-$1.log"
  fi
  return $rc
}
generate() { ./build-gpu/attnswarm generate --seed "$1" --out "$2" "${@:3}" | tee "$OUT/generate-$(basename "$2").txt"; }
# figures go to NAME.json only when the run finished (a cut-off run leaves no half file)
keep_json() {
  local name=$1
  shift
  "$@" >"$OUT/$name.json.part" && mv "$OUT/$name.json.part" "$OUT/$name.json" && cat "$OUT/$name.json"
}
bench() { local name=$1; shift; keep_json "bench_$name" ./build-gpu/bench/bench_eval --problem "$bundle" --particles 256 "$@"; }
torch_bench() { PYTHONUNBUFFERED=1 keep_json bench_torch python3 bench/torch_baseline.py --problem "$bundle" --particles 256; }
bound() { keep_json "bound_$1" ./build-gpu/bench/bench_bound --problem "$small_bundle" --backend "$1"; }
# Nsight Compute on the evaluation kernels of each fused path, on the 200k bundle: where the
# time goes (DRAM, L2, shared memory, issue, occupancy), for the next change to the kernels.
# Counters need a Firecracker machine (the device tool's KINDS.md); on gVisor this says so.
profile() {
  command -v ncu >/dev/null || { echo "ncu is not on the PATH here"; return 0; }
  local path run rc=0
  for path in fused tensor; do
    run=0
    ncu --clock-control none --kernel-name regex:'fused_eval_kernel|tensor_eval_kernel|report_kernel' \
      --launch-count 4 --section SpeedOfLight --section MemoryWorkloadAnalysis --section ComputeWorkloadAnalysis \
      --section Occupancy ./build-gpu/bench/bench_eval --problem "$small_bundle" --backend cuda --eval-path "$path" \
      --particles 256 --reps 1 --swarm-iterations 0 >"$OUT/ncu-$path.log" 2>&1 || run=$?
    if ! grep -q "Duration" "$OUT/ncu-$path.log"; then
      # no counters here is the machine's limit, not a failure of ours
      echo "ncu ($path): no kernel profiled (exit $run; no counters on this machine?):"
      grep -m 3 -E "ERR|rror|not supported" "$OUT/ncu-$path.log"
      continue
    fi
    ((run != 0)) && rc=$run
    echo "ncu ($path):"
    grep -E "^  [a-z_]+.*\(|Duration|Throughput|Hit Rate|Busy|Occupancy|Registers" "$OUT/ncu-$path.log" | head -40
  done
  return $rc
}
export -f build info tests sanitize generate keep_json bench torch_bench bound unpack profile

step "unpack Debian packages" 60 unpack || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
step "configure and build (Release, sm_90)" 240 build || exit 1
step "info" 30 info
step "tests" 150 tests
step "compute-sanitizer memcheck" 60 sanitize memcheck
step "compute-sanitizer racecheck" 60 sanitize racecheck
# the GPU figures first, so that a short budget loses the CPU's, which can be had here
step "generate 10M users x 64 tasks" 90 generate 1 "$bundle" --users 10000000 --tasks 64 --segments 8
step "benchmark fused (P = 256)" 60 bench fused --backend cuda --eval-path fused --reps 5
step "benchmark tensor cores, 3xTF32 (P = 256)" 60 bench tensor --backend cuda --eval-path tensor --reps 5
step "benchmark cuBLAS (P = 256)" 60 bench cublas --backend cuda --eval-path cublas --reps 5
step "benchmark PyTorch (P = 256)" 60 torch_bench
step "generate 200k users x 32 tasks" 30 generate 20261203 "$small_bundle" --users 200000 --tasks 32 --segments 4
step "bound vs swarm iteration (cuda)" 45 bound cuda
step "bound vs swarm iteration (cpu)" 45 bound cpu
step "benchmark CPU reference, all cores (P = 256)" 90 bench cpu --backend cpu --reps 3 --swarm-iterations 2
step "Nsight Compute on the fused kernels (200k bundle)" 60 profile

echo "== summary ($((SECONDS - started)) s in all)"
python3 bench/gpu_summary.py "$OUT" | tee "$OUT/summary.txt"
exit $status
