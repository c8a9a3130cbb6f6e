"""JAX's side of the peers bench/jax_jet.py and bench/compare-jax: the
coefficients S_k of

    S(tθ) = (1/N) Σ_s −ln softmax_{m_s}(t U σ(t (W z_s + b)) + t c)

computed by JAX alone, in float64, on JAX's default device (the GPU when
JAX sees one). Three jitted functions of (Z, weights, one-hot labels, θ),
each a lax.scan over fixed-size row chunks, so one compile serves every
chunk and the N×H pre-activations never exist whole:

  jet   Taylor mode (jax.experimental.jet) over the scalar t, with the
        first GEMM a = Z Wᵀ + b inside the jitted function;
  jvp   K nested forward-mode derivatives d^k/dt^k at t = 0 (jax.jvp of
        jax.jvp of …), the textbook way without jet;
  gemm  the chunked a = Z Wᵀ + b alone: the floor under both.

The engine shares no code with this: it forms per-sample power-series jets
from hidden contractions (docs/math.md §2). Agreement to ~1e-12 says both
compute the same expansion.
"""
import math
import os

import numpy as np

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402
from jax.experimental.jet import jet  # noqa: E402

# σ through exp alone: every primitive here has a jet rule.
ACTIVATIONS = {
    "silu": lambda x: x / (1.0 + jnp.exp(-x)),
    "sigmoid": lambda x: 1.0 / (1.0 + jnp.exp(-x)),
    "tanh": lambda x: 1.0 - 2.0 / (jnp.exp(2.0 * x) + 1.0),
}


def load_inputs(data_dir, params_dir):
    """Z (N×E), labels (N), and θ = (U, W, b, c) as float64 numpy arrays."""
    Z = np.load(os.path.join(data_dir, "Z.npy")).astype(np.float64)
    y = np.load(os.path.join(data_dir, "labels.npy")).astype(np.int64)
    U, W, b, c = (np.load(os.path.join(params_dir, n + ".npy")).astype(np.float64) for n in "UWbc")
    return Z, y, (U, W, b, c)


def default_chunk(H, N, device=None):
    """Rows per chunk: at most about 2^21 pre-activations (16 MiB a series
    term; on a GPU 2^25, 256 MiB), the N rows split evenly so the last chunk
    pads little. On 2 CPU cores 2^21 beat 2^19 and 2^23 (N = 6000, H = 2048)."""
    gpu = (device or jax.devices()[0]).platform == "gpu"
    most = max(64, (1 << (25 if gpu else 21)) // max(H, 1))
    chunks = -(-N // most)
    return -(-N // chunks)


def place(Z, y, theta, chunk, device=None):
    """The inputs as resident device arrays, rows padded to whole chunks
    (padding rows weigh 0): (Zs, ws, ohs) of shapes (C, chunk, E), (C, chunk),
    (C, chunk, M), and θ. The copy is made once, outside any timing, as the
    engine's upload is."""
    dev = device or jax.devices()[0]
    U = theta[0]
    N, E = Z.shape
    M = U.shape[0]
    C = -(-N // chunk)
    pad = C * chunk - N
    Zp = np.concatenate([Z, np.zeros((pad, E))]) if pad else Z
    w = np.concatenate([np.ones(N), np.zeros(pad)])
    oh = np.zeros((C * chunk, M))
    oh[np.arange(N), y] = 1.0
    put = lambda x: jax.device_put(np.ascontiguousarray(x), dev)  # noqa: E731
    data = (put(Zp.reshape(C, chunk, E)), put(w.reshape(C, chunk)), put(oh.reshape(C, chunk, M)))
    return data, tuple(put(p) for p in theta)


def _chunk_action(act, Zc, wc, ohc, theta):
    """t ↦ Σ_{s in chunk} w_s · (−ln softmax_{m_s}(f_s(t))), the GEMM done once."""
    U, W, b, c = theta
    a = Zc @ W.T + b

    def action(t):
        f = t * (act(t * a) @ U.T + c)
        # At t = 0 every logit is 0: no max shift is needed for the series.
        return jnp.sum(wc * (jnp.log(jnp.sum(jnp.exp(f), axis=1)) - jnp.sum(f * ohc, axis=1)))

    return action


def _jet_is_derivatives():
    """jet's series convention (derivatives or Taylor coefficients), read off exp."""
    _, probe = jet(jnp.exp, (0.0,), ((1.0, 0.0, 0.0),))
    return abs(float(probe[2]) - 1.0) < 1e-12


def make(variant, activation, K, N):
    """The jitted function (data, θ) ↦ [S_0 … S_K] (or, for gemm, a checksum)."""
    act = ACTIVATIONS[activation]
    zero = jnp.zeros((), jnp.float64)
    if variant == "jet":
        derivatives = _jet_is_derivatives()
        scale = jnp.asarray([1.0] + [1.0 / (math.factorial(k) if derivatives else 1.0) for k in range(1, K + 1)])

        def coeffs(Zc, wc, ohc, theta):
            s0, series = jet(_chunk_action(act, Zc, wc, ohc, theta), (zero,), ((1.0,) + (0.0,) * (K - 1),))
            return jnp.stack([s0] + list(series)) * scale

    elif variant == "jvp":
        def nested(f, k):  # t ↦ (f(t), f'(t), …, f^(k)(t))
            if k == 0:
                return lambda t: (f(t),)
            g = nested(f, k - 1)

            def h(t):
                p, tan = jax.jvp(g, (t,), (jnp.ones((), jnp.float64),))
                return p + (tan[-1],)
            return h

        inv_fact = jnp.asarray([1.0 / math.factorial(k) for k in range(K + 1)])

        def coeffs(Zc, wc, ohc, theta):
            return jnp.stack(nested(_chunk_action(act, Zc, wc, ohc, theta), K)(zero)) * inv_fact

    elif variant == "gemm":
        def coeffs(Zc, wc, ohc, theta):
            U, W, b, c = theta
            a = Zc @ W.T + b
            return jnp.zeros(K + 1).at[0].set(jnp.sum(wc[:, None] * a))
    else:
        raise ValueError(f"unknown variant {variant}")

    @jax.jit
    def run(data, theta):
        def body(acc, chunk):
            return acc + coeffs(*chunk, theta), None
        total, _ = lax.scan(body, jnp.zeros(K + 1, jnp.float64), data)
        return total / N

    return run


def compare(ours, theirs, tol):
    """Relative differences with a floor of 1e-6 of the largest |S_k|; (rel, ok)."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    floor = 1e-6 * np.max(np.abs(ours))
    rel = np.abs(theirs - ours) / np.maximum(np.abs(ours), floor)
    return rel, bool(np.all(rel <= tol))
