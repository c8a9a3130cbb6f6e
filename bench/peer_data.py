#!/usr/bin/env python3
"""The data the peers and the engine both read (scripts/device-check, stage
peers; bench/compare-jax): the first --per-class samples of each class (0:
every sample) of the Fashion-MNIST test split (--split train: the train split), pixels/255, as Z.npy (N×784, float64) and labels.npy (N, int64). The
engine reads them with --data npy:Z.npy,labels.npy (no scaling), so both sides
see the same numbers bit for bit.

usage: bench/peer_data.py --out DIR [--per-class 100] [--split test|train] [--data-dir DIR]
"""
import argparse
import os

import numpy as np

from fashion_idx import read_idx  # bench/ is on sys.path: it holds this script


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--per-class", type=int, default=100, help="0: every sample")
    ap.add_argument("--split", default="test", choices=["test", "train"])
    ap.add_argument("--data-dir", default=os.environ.get("TS_FASHION_MNIST_DIR",
                                                         "/usr/share/datasets/fashion-mnist"))
    args = ap.parse_args()
    prefix = "t10k" if args.split == "test" else "train"
    x = read_idx(os.path.join(args.data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    x = x.reshape(x.shape[0], -1)
    y = read_idx(os.path.join(args.data_dir, f"{prefix}-labels-idx1-ubyte.gz")).astype(np.int64)
    per_class = args.per_class if args.per_class > 0 else len(y)
    keep = np.concatenate([np.flatnonzero(y == a)[:per_class] for a in range(10)])
    keep.sort()  # the file's order, as --limit keeps it
    os.makedirs(args.out, exist_ok=True)
    np.save(os.path.join(args.out, "Z.npy"), x[keep].astype(np.float64) / 255.0)
    np.save(os.path.join(args.out, "labels.npy"), y[keep])
    print(f"peer_data: {len(keep)} samples written to {args.out}")


if __name__ == "__main__":
    main()
