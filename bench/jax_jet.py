#!/usr/bin/env python3
"""JAX's Taylor mode as an independent peer of `taylorscope expand`: the
coefficients S_k of S(tθ) = mean_s −ln softmax_{m_s}(t U σ(t (W z_s + b)) + t c)
from jax.experimental.jet on the same θ and data, set beside the engine's
report (its S_k), in float64 on the GPU when JAX sees one.

The jet itself is bench/jax_taylor.py's (shared with bench/compare-jax): the
first GEMM inside the jitted function, rows in fixed-size chunks. The two
share no code: the engine forms per-sample power-series jets from
hidden contractions (docs/math.md §2); jet propagates Taylor series through JAX's
primitives. Agreement to ~1e-12 says both compute the same expansion.

usage: bench/jax_jet.py --data DIR --params DIR --report expand.json [--activation silu] [--tol 1e-9]
  DIR of --data holds Z.npy and labels.npy (bench/peer_data.py); --params
  holds U.npy W.npy b.npy c.npy (expand --save-params). Prints one JSON line;
  exit 1 when a coefficient differs by more than --tol (relative, with a
  floor of 1e-6 of the largest |S_k|).
"""
import argparse
import json
import os
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--params", required=True)
    ap.add_argument("--report", required=True)
    ap.add_argument("--activation", default="silu", choices=["silu", "tanh", "sigmoid"])
    ap.add_argument("--tol", type=float, default=1e-9)
    args = ap.parse_args()

    import jax
    import jax_taylor as jt  # bench/ is on sys.path: it holds this script

    report = json.load(open(args.report))
    ours = np.asarray(report["S_k"], dtype=np.float64)
    K = int(report["order"])
    Z, y, theta = jt.load_inputs(args.data, args.params)
    dev = jax.devices()[0]
    data, theta_d = jt.place(Z, y, theta, jt.default_chunk(theta[1].shape[0], Z.shape[0], dev), dev)
    coefficients = jt.make("jet", args.activation, K, Z.shape[0])
    jax.block_until_ready(coefficients(data, theta_d))  # compiles
    t0 = time.perf_counter()
    series = coefficients(data, theta_d)
    jax.block_until_ready(series)
    seconds = time.perf_counter() - t0
    theirs = np.asarray(series)
    rel, ok = jt.compare(ours, theirs, args.tol)
    print(json.dumps({"peer": "jax_jet", "ok": ok, "jax": jax.__version__, "device": str(dev), "N": int(Z.shape[0]),
                      "H": int(theta[1].shape[0]), "K": K, "activation": args.activation, "jet_seconds": seconds,
                      "engine_timing_ms": report.get("timing_ms"), "max_rel_diff": float(np.max(rel)),
                      "tol": args.tol, "S_k_engine": ours.tolist(), "S_k_jax": theirs.tolist()}))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
