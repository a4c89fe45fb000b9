#!/usr/bin/env bash
# bench/gpu_check.sh's benchmarks and closing table, rehearsed on the fake device
# (tests/fake_device) at a tiny size: bench_eval on every CUDA path writes figures of the CUDA
# backend's form (copy ceiling, FP32 and tensor peaks), and bench/gpu_summary.py must turn
# them, with the CPU's, into every line of its table. So a GPU session never finds out first
# that the table cannot read them. Run by ctest (FakeDevice.GpuCheckBenchmarksAndTable) in
# builds without CUDA: bash bench/gpu_check_on_fake_device.sh BUILD_DIR
set -euo pipefail
build=$1
src=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$build/attnswarm" generate --users 150 --tasks 5 --segments 2 --seed 5 --out "$out/b" >/dev/null
common=(--problem "$out/b" --particles 16 --reps 1 --swarm-iterations 1)
for path in fused tensor cublas; do
  "$build/bench/bench_eval_on_fake_device" "${common[@]}" --backend cuda --eval-path "$path" >"$out/bench_$path.json"
done
"$build/bench/bench_eval" "${common[@]}" --backend cpu >"$out/bench_cpu.json"
# the bound's figures have the same form on both backends; the CPU's come in seconds
"$build/bench/bench_bound" --problem "$out/b" --particles 16 --backend cpu >"$out/bound_cpu.json"
python3 "$src/bench/gpu_summary.py" "$out" | tee "$out/summary.txt"
missing=0
for line in "batched evaluation, 150 users x 5 tasks, P = 16" "fused: " "% of the FP32 peak" \
  "tensor: its 3xTF32 products at" "fused vs CPU reference" "tensor vs CPU reference" "cuBLAS vs CPU reference" \
  "one-policy evaluation:" "of a device copy" "served of policy 0, fused vs CPU" "served of policy 0, cuBLAS vs CPU" \
  "bound (cpu, 150 x 5)"; do
  grep -qF -- "$line" "$out/summary.txt" || { echo "gpu_summary.py's table lacks: $line"; missing=1; }
done
# and the figures agree: every path's served utilization of policy 0 is the CPU's
python3 - "$out" <<'CHECK' || missing=1
import json, sys
read = lambda n: json.load(open(f"{sys.argv[1]}/bench_{n}.json"))
cpu = read("cpu")["served_policy0"]
for n in ("fused", "tensor", "cublas"):
    got = read(n)["served_policy0"]
    if not abs(got - cpu) <= 1e-5 * abs(cpu):
        sys.exit(f"bench_{n}.json: served_policy0 {got} against the CPU's {cpu}")
CHECK
exit $missing
