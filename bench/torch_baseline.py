#!/usr/bin/env python3
"""The batched evaluation of DESIGN §3 written with PyTorch matrix products on the GPU.

The same work as the CUDA backend's evaluate() and bench/numpy_baseline.py: H = [G0 | A*G0]
per segment is built once on the device (not timed; tau = 1, beta = 0), then each evaluation
of P policies is, per segment, Den = G0 E^T, R = r / Den, [L | V] += E o (R^T H) in float64,
and U = sum min(1, cap/L) V. The policies are W[q, d] = sin(1 + 0.7 q + 0.3 d), as in
bench_eval. Prints one JSON object. Needs torch with CUDA and numpy (the lent GPU machine)."""
import argparse, json, os, time
import numpy as np
import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--problem", required=True)
    ap.add_argument("--particles", type=int, default=256)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    d, dev = a.problem, torch.device("cuda")
    F = np.load(os.path.join(d, "fitness.npy"), mmap_mode="r")
    A = np.load(os.path.join(d, "attraction.npy"), mmap_mode="r")
    n, m = F.shape
    load = lambda name, default: np.load(os.path.join(d, name)) if os.path.exists(os.path.join(d, name)) else default
    r = load("mass.npy", np.ones(n))
    seg = load("segment.npy", np.zeros(n, np.int64))
    cap = torch.as_tensor(load("capacity.npy", np.full(m, np.inf)), device=dev)
    S = int(seg.max()) + 1 if n else 1
    P = a.particles
    torch.backends.cuda.matmul.allow_tf32 = False

    H, R = [], []
    for s in range(S):
        idx = np.flatnonzero(seg == s)
        f = torch.as_tensor(np.asarray(F[idx], dtype=np.float32), device=dev)
        at = torch.as_tensor(np.asarray(A[idx], dtype=np.float32), device=dev)
        top = f.max(dim=1, keepdim=True).values
        g0 = torch.where(top > 0, f / top.clamp_min(1e-30), torch.zeros_like(f))
        H.append(torch.cat([g0, at * g0], dim=1).contiguous())
        R.append(torch.as_tensor(r[idx], dtype=torch.float32, device=dev))
        del f, at, g0
    q = torch.arange(P, device=dev, dtype=torch.float64)[:, None]
    dd = torch.arange(S * m, device=dev, dtype=torch.float64)[None, :]
    W = torch.sin(1.0 + 0.7 * q + 0.3 * dd).reshape(P, S, m)

    def evaluate():
        LV = torch.zeros(P, 2 * m, dtype=torch.float64, device=dev)
        for s in range(S):
            E = torch.exp(W[:, s, :])
            Hs = H[s]
            den = Hs[:, :m] @ E.float().T
            Rs = torch.where(den > 0, R[s][:, None] / den, torch.zeros_like(den))
            LV += E.repeat(1, 2) * (Rs.T @ Hs).double()
        L, V = LV[:, :m], LV[:, m:]
        f = torch.where(L > cap, cap / L, torch.ones_like(L))
        return (f * V).sum(dim=1)

    evaluate()
    torch.cuda.synchronize()
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        served = evaluate()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    t = sorted(times)[len(times) // 2]
    print(json.dumps({"users": n, "tasks": m, "particles": P, "torch": torch.__version__,
                      "batched_eval_ms": t * 1e3, "served_policy0": float(served[0])}))


if __name__ == "__main__":
    main()
