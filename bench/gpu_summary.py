#!/usr/bin/env python3
"""The table that bench/gpu_check.sh prints last: the JSON figures it wrote to OUT, side by
side, with the ratios the CUDA issue sets as goals. Reads only; a missing file is named, not
guessed."""
import json
import os
import sys


def read(out, name):
    try:
        with open(os.path.join(out, name)) as f:
            return json.load(f)
    except Exception as e:  # a step that failed leaves no (or no valid) file
        print(f"{name}: no figures ({e})")
        return None


def rel(a, b):
    return abs(a - b) / abs(b) if b else abs(a - b)


def main(out):
    cpu, fused, tensor, cublas, torch = (read(out, f"bench_{n}.json")
                                         for n in ("cpu", "fused", "tensor", "cublas", "torch"))
    cols = [("CPU", cpu), ("fused", fused), ("tensor", tensor), ("cuBLAS", cublas), ("PyTorch", torch)]
    have = [(n, j) for n, j in cols if j]
    if have:
        users, tasks, particles = (have[0][1].get(k) for k in ("users", "tasks", "particles"))
        print(f"batched evaluation, {users} users x {tasks} tasks, P = {particles}")
        print(f"{'':30}" + "".join(f"{n:>12}" for n, _ in have))
        print(f"{'evaluation (ms)':30}" + "".join(f"{j['batched_eval_ms']:12.2f}" for _, j in have))
        print(f"{'swarm iteration (ms)':30}" + "".join(
            f"{j['swarm_iteration_ms']:12.2f}" if j.get("swarm_iteration_ms") else f"{'-':>12}" for _, j in have))
        flops = 2.0 * users * particles * 3 * tasks
        print(f"{'GFLOP/s':30}" + "".join(f"{flops / j['batched_eval_ms'] / 1e6:12.0f}" for _, j in have))
    for n, j in (("fused", fused), ("tensor", tensor), ("cuBLAS", cublas)):
        if j and j.get("fp32_peak_gflops"):
            print(f"{n}: {100 * j['batched_eval_vs_fp32_peak']:.0f}% of the FP32 peak ({j['fp32_peak_gflops']:.0f} GFLOP/s); "
                  f"H and r read once at {j['batched_eval_min_gbps']:.0f} GB/s = "
                  f"{100 * j['batched_eval_min_bytes_vs_copy']:.0f}% of the copy")
        if j and j.get("batched_eval_tf32_products_vs_tensor_peak"):
            print(f"{n}: its 3xTF32 products at {100 * j['batched_eval_tf32_products_vs_tensor_peak']:.0f}% of the "
                  f"dense TF32 tensor peak ({j['tf32_tensor_peak_gflops']:.0f} GFLOP/s)")
    for n, j in (("fused", fused), ("tensor", tensor), ("cuBLAS", cublas)):
        if j and torch:
            print(f"{n} vs PyTorch: {torch['batched_eval_ms'] / j['batched_eval_ms']:.2f}x faster (goal, fastest path: >= 2x)")
        if j and cpu:
            print(f"{n} vs CPU reference ({cpu['threads']} threads): "
                  f"{cpu['batched_eval_ms'] / j['batched_eval_ms']:.1f}x faster (goal >= 50x)")
    ref = fused or tensor or cublas
    if ref:
        print(f"one-policy evaluation: {ref['one_policy_gbps']:.0f} GB/s of F and A = "
              f"{100 * ref['one_policy_vs_copy']:.0f}% of a device copy at {ref['copy_gbps']:.0f} GB/s (goal >= 90%)"
              + (f"; CPU {cpu['one_policy_gbps']:.2f} GB/s" if cpu else ""))
    for n, j in cols[1:]:
        if j and cpu:
            print(f"served of policy 0, {n} vs CPU: {rel(j['served_policy0'], cpu['served_policy0']):.1e} relative")
    for b in ("cpu", "cuda"):
        j = read(out, f"bound_{b}.json")
        if j:
            print(f"bound ({b}, {j['users']} x {j['tasks']}): within 0.1% in {j['within_0.1pct_s']:.3f} s = "
                  f"{j['within_0.1pct_in_swarm_iterations']:.1f} swarm evaluations of {j['swarm_iteration_s'] * 1e3:.2f} ms "
                  f"(goal <= 20); default run {j['bound_default_s']:.3f} s")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
