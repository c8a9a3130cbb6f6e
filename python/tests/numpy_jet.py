"""Independent float64 NumPy reference for the Taylor coefficients of the action.

For the softmax MLP f(z) = U σ(W z + b) + c and the mean cross-entropy

    S(θ) = mean_s [ ln Σ_α exp f_α(z_s) − f_{m_s}(z_s) ],

this module computes S_0..S_K of S(tθ) = Σ_k t^k S_k(θ), where all four arrays
of θ = (U, W, b, c) are scaled by t.

It is meant as a check on the engine, so it deliberately does NOT follow the
engine's algorithm (MATH.md §2: activation derivatives σ^(k)(0) from a table
built once, logits jet t^{k+1} τ_k U a^k, exp/log by their ODE recurrences).
Instead it runs plain univariate Taylor-mode arithmetic on whole truncated
power series in t:

    x(t) = t (W z + b)              exact at degree 1
    h(t) = σ(x(t))                  σ composed from exp, product and quotient
                                    of series, evaluated at each sample's x(t)
    f(t) = t (U h(t) + c)
    l(t) = ln Σ_α exp f_α(t)        exp as a finite power sum, log as the
                                    integral of s'/s
    S_k  = mean_s ( l_k − f_{m_s,k} )

so a shared bug would need the same mistake made twice by different routes.
Only NumPy is needed; everything is float64.
"""

import numpy as np

__all__ = ["action_coefficients", "SUPPORTED_ACTIVATIONS"]

SUPPORTED_ACTIVATIONS = ("silu", "tanh", "sigmoid")

# Rows per block: the series arrays are (K+1) × rows × H, so this bounds memory
# whatever N is, while staying large enough that NumPy's per-call overhead is
# amortised.
_CHUNK = 256


# Series are arrays whose axis 0 holds the coefficients of t^0..t^K; the other
# axes broadcast, so one call handles every sample and hidden unit at once.

def _mul(x, y):
    n = x.shape[0]
    out = np.zeros(np.broadcast_shapes(x.shape, y.shape))
    for j in range(n):
        out[j:] += x[j] * y[: n - j]
    return out


def _div(x, y):
    # Solving x = q·y degree by degree avoids forming a reciprocal series first.
    n = x.shape[0]
    q = np.zeros(np.broadcast_shapes(x.shape, y.shape))
    for k in range(n):
        acc = x[k]
        for j in range(1, k + 1):
            acc = acc - y[j] * q[k - j]
        q[k] = acc / y[0]
    return q


def _exp(x):
    # exp(x) = e^{x_0} Σ_p d^p / p! with d = x − x_0. Because d has no constant
    # term, d^p starts at t^p, so the sum is finite and exact after K terms:
    # no recurrence, hence independent of the engine's k e_k = Σ j x_j e_{k−j}.
    n = x.shape[0]
    d = x.copy()
    d[0] = 0.0
    term = np.zeros_like(d)
    term[0] = 1.0
    total = term.copy()
    for p in range(1, n):
        term = _mul(term, d) / p
        total += term
    return np.exp(x[0]) * total


def _log(s):
    # ln s = ln s_0 + ∫ s'/s: a quotient and an integral instead of the engine's
    # log recurrence.
    n = s.shape[0]
    out = np.zeros_like(s)
    out[0] = np.log(s[0])
    if n > 1:
        ds = s[1:] * np.arange(1, n).reshape((-1,) + (1,) * (s.ndim - 1))
        q = _div(ds, s[: n - 1])
        out[1:] = q / np.arange(1, n).reshape((-1,) + (1,) * (s.ndim - 1))
    return out


def _constant(value, like):
    out = np.zeros_like(like)
    out[0] = value
    return out


def _sigmoid(x):
    return _div(_constant(1.0, x), _constant(1.0, x) + _exp(-x))


def _activation(name, x):
    if name == "sigmoid":
        return _sigmoid(x)
    if name == "silu":
        return _mul(x, _sigmoid(x))
    if name == "tanh":
        # (e^{2x} − 1)/(e^{2x} + 1) rather than 2·sigmoid(2x) − 1, the engine's
        # route, so the two constructions check each other.
        e = _exp(2.0 * x)
        return _div(e - _constant(1.0, x), e + _constant(1.0, x))
    raise ValueError(
        f"activation {name!r} is not supported by this reference; "
        f"expected one of {', '.join(SUPPORTED_ACTIVATIONS)}")


def action_coefficients(X, y, U, W, b, c, order, activation="silu"):
    """S_0..S_order as a float64 NumPy array of length order+1.

    X: (N, E) inputs, y: (N,) integer labels in [0, M), U: (M, H), W: (H, E),
    b: (H,), c: (M,). S is the MEAN cross-entropy over the N samples, and t
    scales all of U, W, b and c (so b enters like W, and c adds t·c to the
    logits). Activations: silu, tanh, sigmoid; any other raises ValueError.
    """
    if activation not in SUPPORTED_ACTIVATIONS:
        raise ValueError(
            f"activation {activation!r} is not supported by this reference; "
            f"expected one of {', '.join(SUPPORTED_ACTIVATIONS)}")
    K = int(order)
    if K != order or K < 0:
        raise ValueError(f"order must be a non-negative integer, got {order!r}")
    X = np.asarray(X, dtype=np.float64)
    U = np.asarray(U, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or W.ndim != 2 or U.ndim != 2 or b.ndim != 1 or c.ndim != 1 or y.ndim != 1:
        raise ValueError("expected X (N,E), y (N,), U (M,H), W (H,E), b (H,), c (M,)")
    N, E = X.shape
    M, H = U.shape
    if W.shape != (H, E) or b.shape != (H,) or c.shape != (M,) or y.shape != (N,):
        raise ValueError(
            f"shape mismatch: X {X.shape}, y {y.shape}, U {U.shape}, W {W.shape}, "
            f"b {b.shape}, c {c.shape}")
    if N == 0:
        raise ValueError("no samples")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(y == np.round(y)):
            raise ValueError("labels must be integers")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= M:
        raise ValueError(f"labels must lie in [0, {M})")

    total = np.zeros(K + 1)
    for lo in range(0, N, _CHUNK):
        hi = min(lo + _CHUNK, N)
        n = hi - lo
        x = np.zeros((K + 1, n, H))
        if K >= 1:
            x[1] = X[lo:hi] @ W.T + b
        h = _activation(activation, x)
        # The extra t from U and c shifts h up one degree, so h_K is never used.
        f = np.zeros((K + 1, n, M))
        if K >= 1:
            f[1:] = h[:K] @ U.T
            f[1] += c
        s = _exp(f).sum(axis=2)
        l = _log(s)
        total += (l - f[:, np.arange(n), y[lo:hi]]).sum(axis=1)
    return total / N
