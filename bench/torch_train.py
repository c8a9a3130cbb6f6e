#!/usr/bin/env python3
"""A plain PyTorch eager training loop of taylorscope's model, for the epoch
time comparison of bench/RESULTS.md: f(z) = U silu(Wz + b) + c on
Fashion-MNIST train, softmax cross-entropy + (l2/2)(|U|² + |W|²), SGD, the
same batch size, one shuffle per epoch. --mode eager (the default) is the
loop a researcher writes first: no compilation, no CUDA graphs; --mode
compiled runs the forward and the loss through torch.compile (its first
epoch pays the compilation, so compare best epochs). --optimizer adam is
torch.optim.Adam with the engine's settings (β = 0.9, 0.999, ε = 1e-8, the
L2 term in the loss as in the engine's gradient). Prints one line per epoch
and a JSON summary.

usage: bench/torch_train.py [--hidden 2048] [--batch 50] [--epochs 2] [--optimizer sgd|adam]
                            [--lr 0.1] [--dtype float64|float32] [--device cuda|cpu]
                            [--mode eager|compiled]
"""
import argparse
import json
import os
import time

import numpy as np
import torch

from fashion_idx import read_idx  # bench/ is on sys.path: it holds this script


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--hidden", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--optimizer", default="sgd", choices=["sgd", "adam"])
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--l2", type=float, default=1e-3)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--mode", default="eager", choices=["eager", "compiled"])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    dtype = getattr(torch, args.dtype)
    dev = torch.device(args.device)

    x = read_idx(os.path.join(args.data_dir, "train-images-idx3-ubyte.gz")).reshape(60000, -1)
    y = read_idx(os.path.join(args.data_dir, "train-labels-idx1-ubyte.gz"))
    X = torch.tensor(x / 255.0, dtype=dtype, device=dev)
    Y = torch.tensor(y, dtype=torch.long, device=dev)
    N, E, H, M = X.shape[0], X.shape[1], args.hidden, 10

    g = torch.Generator().manual_seed(0)
    lw, lu = (6 / (E + H)) ** 0.5, (6 / (H + M)) ** 0.5
    W = ((torch.rand(H, E, generator=g, dtype=dtype) * 2 - 1) * lw).to(dev).requires_grad_()
    U = ((torch.rand(M, H, generator=g, dtype=dtype) * 2 - 1) * lu).to(dev).requires_grad_()
    b = torch.zeros(H, dtype=dtype, device=dev, requires_grad=True)
    c = torch.zeros(M, dtype=dtype, device=dev, requires_grad=True)
    params = [U, W, b, c]
    if args.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    else:
        opt = torch.optim.SGD(params, lr=args.lr)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def batch_loss(xb, yb):
        logits = torch.nn.functional.silu(xb @ W.T + b) @ U.T + c
        return torch.nn.functional.cross_entropy(logits, yb) + 0.5 * args.l2 * ((U * U).sum() + (W * W).sum())

    if args.mode == "compiled":
        batch_loss = torch.compile(batch_loss)

    times = []
    for epoch in range(1, args.epochs + 1):
        perm = torch.randperm(N, generator=g).to(dev)
        sync()
        t0 = time.perf_counter()
        for k in range(0, N, args.batch):
            idx = perm[k: k + args.batch]
            loss = batch_loss(X[idx], Y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sync()
        times.append(time.perf_counter() - t0)
        print(f"epoch {epoch}: {times[-1]:.3f} s (last batch loss {loss.item():.4f})", flush=True)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    print(json.dumps({"peer": "torch_train", "mode": args.mode, "torch": torch.__version__, "device": name,
                      "dtype": args.dtype, "hidden": H, "optimizer": args.optimizer, "threads": torch.get_num_threads(),
                      "batch": args.batch, "epoch_seconds": times,
                      "best_epoch_seconds": min(times)}))


if __name__ == "__main__":
    main()
