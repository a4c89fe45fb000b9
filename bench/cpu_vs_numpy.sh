#!/usr/bin/env bash
# The CPU reference beside the same batched evaluation in numpy, in one run, on one
# generated bundle (default 200k users x 64 tasks x 4 segments, P = 128).
# Usage: bench/cpu_vs_numpy.sh [USERS] [TASKS] [PARTICLES]   (after tools/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-200000}; tasks=${2:-64}; particles=${3:-128}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
./build/attnswarm generate --users "$users" --tasks "$tasks" --segments 4 --seed 1 --out "$tmp/b" >/dev/null
ours=$(./build/bench/bench_eval --problem "$tmp/b" --particles "$particles")
theirs=$(/usr/bin/python3 bench/numpy_baseline.py --problem "$tmp/b" --particles "$particles")
/usr/bin/python3 - "$ours" "$theirs" <<'PY'
import json, sys
o, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"problem: {o['users']} users x {o['tasks']} tasks x {o['segments']} segments, P = {o['particles']}, {o['threads']} threads")
print(f"{'':28}{'attnswarm CPU':>16}{'numpy ' + t['numpy']:>16}{'ratio':>10}")
print(f"{'batched eval (ms)':28}{o['batched_eval_ms']:16.1f}{t['batched_eval_ms']:16.1f}{t['batched_eval_ms']/o['batched_eval_ms']:9.2f}x")
print(f"{'one-policy eval (GB/s)':28}{o['one_policy_gbps']:16.2f}{t['one_policy_gbps']:16.2f}{o['one_policy_gbps']/t['one_policy_gbps']:9.2f}x")
print(f"{'batched GFLOP/s':28}{o['batched_eval_gflops']:16.1f}")
rel = abs(o['served_policy0'] - t['served_policy0']) / abs(t['served_policy0'])
print(f"served of policy 0 agrees to {rel:.1e} relative")
PY
