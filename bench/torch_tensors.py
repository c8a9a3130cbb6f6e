#!/usr/bin/env python3
"""The torch.einsum peer of bench_tensors: the element statistics of J^(3) of
the Fashion-MNIST train split (E = 784) or of T^(3) at M = 10, H = 2048,
E = 1024 (seed 000's sizes), written the way a researcher would with
torch.einsum on one GPU, in float64:

  J^(3)_a = E_z[z⊗z⊗z] − E_{z|a}[z⊗z⊗z]        (einsum 'si,sj,sk->ijk', chunked over s)
  T^(3)_a = Σ_b U_ab W_b⊗W_b⊗W_b                 (einsum 'b,bi,bj,bk->ijk', chunked over b)

Each class's dense E³ block is materialised (no symmetric packing), its
moments taken with torch reductions and merged across classes (Pébay); the
histogram over [min, max] needs a second pass, as in the engine. Chunks keep
einsum's 'sij' intermediate under --chunk-gib. Prints a JSON line with the
statistics and the time of each pass; {"error": ...} when a block does not
fit in memory.

T^(3) takes U and W from --params DIR (U.npy, W.npy: the θ bench_tensors
streams, written by `taylorscope expand … --save-params`), else draws its own.

usage: bench/torch_tensors.py j3|t3 [--params DIR] [--device cuda] [--bins 64] [--chunk-gib 4]
"""
import argparse
import json
import os
import time

import numpy as np
import torch

from fashion_idx import read_idx  # bench/ is on sys.path: it holds this script


def fashion_train(device):
    d = os.environ.get("TS_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
    z = read_idx(os.path.join(d, "train-images-idx3-ubyte.gz")).reshape(60000, -1) / 255.0
    m = read_idx(os.path.join(d, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    return torch.tensor(z, dtype=torch.float64, device=device), torch.tensor(m, device=device)


def cube(x, w, chunk):
    """Σ_r w_r x_r⊗x_r⊗x_r over rows r, `chunk` rows at a time."""
    E = x.shape[1]
    out = torch.zeros((E, E, E), dtype=x.dtype, device=x.device)
    for r0 in range(0, x.shape[0], chunk):
        xs, ws = x[r0:r0 + chunk], w[r0:r0 + chunk]
        out += torch.einsum("s,si,sj,sk->ijk", ws, xs, xs, xs)
    return out


def blocks(kind, device, chunk_gib, params=None):
    """Yields the dense E³ block of each class."""
    if kind == "j3":
        z, m = fashion_train(device)
        E = z.shape[1]
        chunk = max(1, int(chunk_gib * 2**30 / (8 * E * E)))
        ones = torch.ones(z.shape[0], dtype=z.dtype, device=device)
        total = cube(z, ones, chunk) / z.shape[0]
        for a in range(10):
            za = z[m == a]
            yield total - cube(za, ones[: za.shape[0]], chunk) / za.shape[0]
    else:
        if params:
            U = torch.tensor(np.load(os.path.join(params, "U.npy")), dtype=torch.float64, device=device)
            W = torch.tensor(np.load(os.path.join(params, "W.npy")), dtype=torch.float64, device=device)
        else:
            g = torch.Generator(device="cpu").manual_seed(0)
            U = (0.05 * torch.randn(10, 2048, generator=g, dtype=torch.float64)).to(device)
            W = (0.05 * torch.randn(2048, 1024, generator=g, dtype=torch.float64)).to(device)
        E = W.shape[1]
        chunk = max(1, int(chunk_gib * 2**30 / (8 * E * E)))
        for a in range(U.shape[0]):
            yield cube(W, U[a], chunk)


def merge(a, b):
    """Pébay's pairwise update of (n, mean, M2, M3, M4)."""
    if a is None:
        return b
    na, nb = a[0], b[0]
    n = na + nb
    d = b[1] - a[1]
    dn = d / n
    M2 = a[2] + b[2] + d * dn * na * nb
    M3 = a[3] + b[3] + d * dn * dn * na * nb * (na - nb) + 3 * dn * (na * b[2] - nb * a[2])
    M4 = (a[4] + b[4] + d * dn**3 * na * nb * (na * na - na * nb + nb * nb)
          + 6 * dn * dn * (na * na * b[2] + nb * nb * a[2]) + 4 * dn * (na * b[3] - nb * a[3]))
    return (n, a[1] + dn * nb, M2, M3, M4)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["j3", "t3"])
    ap.add_argument("--params", default=None)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--bins", type=int, default=64)
    ap.add_argument("--chunk-gib", type=float, default=4.0)
    a = ap.parse_args()
    sync = torch.cuda.synchronize if a.device.startswith("cuda") else (lambda: None)
    try:
        sync()
        t0 = time.perf_counter()
        acc, lo, hi, neg = None, float("inf"), float("-inf"), 0
        for x in blocks(a.kind, a.device, a.chunk_gib, a.params):
            mean = x.mean()
            d = x - mean
            d2 = d * d
            acc = merge(acc, (x.numel(), mean.item(), d2.sum().item(), (d2 * d).sum().item(), (d2 * d2).sum().item()))
            lo, hi = min(lo, x.min().item()), max(hi, x.max().item())
            neg += (x < 0).sum().item()
            del d, d2
        sync()
        t1 = time.perf_counter()
        hist = torch.zeros(a.bins, dtype=torch.float64, device=a.device)
        for x in blocks(a.kind, a.device, a.chunk_gib, a.params):
            hist += torch.histc(x, bins=a.bins, min=lo, max=hi)
        sync()
        t2 = time.perf_counter()
    except torch.cuda.OutOfMemoryError as e:
        print(json.dumps({"kind": a.kind, "error": "out of memory: " + str(e).splitlines()[0]}))
        return
    n, mean, M2, M3, M4 = acc
    var = M2 / n
    print(json.dumps({
        "kind": a.kind, "device": torch.cuda.get_device_name() if a.device.startswith("cuda") else "cpu",
        "count": n, "min": lo, "max": hi, "mean": mean, "std": var**0.5,
        "skewness": M3 / n / var**1.5, "excess_kurtosis": M4 / n / var**2 - 3, "frac_negative": neg / n,
        "moments_seconds": t1 - t0, "histogram_seconds": t2 - t1, "stats_seconds": t2 - t0,
        "histogram_counts": hist.tolist()}))


if __name__ == "__main__":
    main()
