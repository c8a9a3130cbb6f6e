#!/usr/bin/env python3
"""JAX's Taylor mode as an independent peer of `taylorscope expand`: the
coefficients S_k of S(tθ) = mean_s −ln softmax_{m_s}(t U σ(t (W z_s + b)) + t c)
from jax.experimental.jet on the same θ and data, set beside the engine's
report (its S_k), in float64 on the GPU when JAX sees one.

The two share no code: the engine forms per-sample power-series jets from
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
import math
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
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax.experimental.jet import jet

    report = json.load(open(args.report))
    ours = np.asarray(report["S_k"], dtype=np.float64)
    K = int(report["order"])
    Z = np.load(os.path.join(args.data, "Z.npy"))
    y = np.load(os.path.join(args.data, "labels.npy"))
    U, W, b, c = (np.load(os.path.join(args.params, n + ".npy")).astype(np.float64) for n in "UWbc")
    M = U.shape[0]

    # σ through exp alone: every primitive here has a jet rule.
    act = {"silu": lambda x: x / (1.0 + jnp.exp(-x)),
           "sigmoid": lambda x: 1.0 / (1.0 + jnp.exp(-x)),
           "tanh": lambda x: 1.0 - 2.0 / (jnp.exp(2.0 * x) + 1.0)}[args.activation]

    dev = jax.devices()[0]
    a = jax.device_put(Z @ W.T + b, dev)  # W z + b once; t scales it inside
    onehot = jax.device_put(np.eye(M)[y], dev)
    Ud, cd = jax.device_put(U, dev), jax.device_put(c, dev)

    def action(t):
        f = t * (act(t * a) @ Ud.T + cd)
        # At t = 0 every logit is 0: no max shift is needed for the series.
        return jnp.mean(jnp.log(jnp.sum(jnp.exp(f), axis=1)) - jnp.sum(f * onehot, axis=1))

    # jet's series convention (derivatives or Taylor coefficients), read off exp.
    _, probe = jet(jnp.exp, (0.0,), ((1.0, 0.0, 0.0),))
    derivatives = abs(float(probe[2]) - 1.0) < 1e-12

    @jax.jit
    def coefficients():
        s0, series = jet(action, (0.0,), ((1.0,) + (0.0,) * (K - 1),))
        return s0, jnp.stack(series)

    s0, series = coefficients()  # compiles
    jax.block_until_ready(series)
    t0 = time.perf_counter()
    s0, series = coefficients()
    jax.block_until_ready(series)
    seconds = time.perf_counter() - t0
    theirs = [float(s0)] + [float(v) / (math.factorial(k + 1) if derivatives else 1.0)
                            for k, v in enumerate(np.asarray(series))]
    theirs = np.asarray(theirs)
    floor = 1e-6 * np.max(np.abs(ours))
    rel = np.abs(theirs - ours) / np.maximum(np.abs(ours), floor)
    ok = bool(np.all(rel <= args.tol))
    print(json.dumps({"peer": "jax_jet", "ok": ok, "jax": jax.__version__, "device": str(dev), "N": int(Z.shape[0]),
                      "H": int(W.shape[0]), "K": K, "activation": args.activation, "jet_seconds": seconds,
                      "engine_timing_ms": report.get("timing_ms"), "max_rel_diff": float(np.max(rel)),
                      "tol": args.tol, "S_k_engine": ours.tolist(), "S_k_jax": theirs.tolist()}))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
