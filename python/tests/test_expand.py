"""ts.expand: the CLI's report from the caller's arrays, and S_k against an
independent Taylor-mode computation."""

import numpy as np
import pytest

import taylorscope as ts
from conftest import cli_report, comparable, random_theta
from numpy_jet import action_coefficients


def test_to_dict_equals_the_cli_report(tmp_path, fashion, theta):
    X, y = fashion
    cli = cli_report(tmp_path, "expand", X, y, theta, 6)
    r = ts.expand(X, y, theta, order=6, device="cpu")
    assert comparable(r.to_dict()) == comparable(cli)
    # The fields are the report's keys, as NumPy arrays and numbers.
    assert isinstance(r.S_k, np.ndarray) and r.S_k.dtype == np.float64 and r.S_k.shape == (7,)
    np.testing.assert_array_equal(r.S_k, cli["S_k"])
    np.testing.assert_array_equal(r.partial_sums, cli["partial_sums"])
    assert r.S_direct == cli["S_direct"]
    assert r.terms["S2"]["J_UW"] == cli["terms"]["S2"]["J_UW"]
    assert r.dominant[0]["JT"] == cli["dominant"][0]["JT"]
    assert r.radius["estimate"] == cli["radius"]["estimate"]
    assert r.to_dict()["data"]["spec"] == "array:numpy.ndarray"


@pytest.mark.parametrize("activation", ["silu", "tanh", "sigmoid"])
def test_S_k_agree_with_an_independent_numpy_jet(fashion, activation):
    X, y = fashion
    theta = random_theta(10, 24, X.shape[1], 0.1, 7)
    r = ts.expand(X, y, theta, order=8, activation=activation, device="cpu")
    ref = action_coefficients(X, y, theta["U"], theta["W"], theta["b"], theta["c"], 8, activation)
    # 1e-10 relative to max(1, |S_k|): S_0 = ln 10 sets the scale, and odd
    # orders can be exactly 0 in one computation and ~1e-17 in the other.
    np.testing.assert_allclose(r.S_k, ref, rtol=0, atol=1e-10 * max(1.0, np.abs(ref).max()))


def test_S_k_agree_with_jax_jet(fashion):
    jax = pytest.importorskip("jax", reason="JAX is not installed: the NumPy jet above is the independent check")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax.experimental import jet

    X, y = fashion
    theta = random_theta(10, 12, X.shape[1], 0.1, 3)
    K = 6
    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    U, W, b, c = (jnp.asarray(theta[k]) for k in ("U", "W", "b", "c"))

    def action(t):  # S(tθ), silu
        a = t * (Xj @ W.T + b)
        f = t * ((a * jax.nn.sigmoid(a)) @ U.T + c)
        return jnp.mean(jax.nn.logsumexp(f, axis=1) - f[jnp.arange(f.shape[0]), yj])

    # jet's series are derivatives: the k-th is k! S_k.
    s0, series = jet.jet(action, (0.0,), ((1.0,) + (0.0,) * (K - 1),))
    fact = np.cumprod(np.arange(1, K + 1, dtype=np.float64))
    ref = np.concatenate([[float(s0)], np.asarray(series) / fact])
    r = ts.expand(X, y, theta, order=K, device="cpu")
    np.testing.assert_allclose(r.S_k, ref, rtol=0, atol=1e-10 * max(1.0, np.abs(ref).max()))


def test_t_values_and_defaults(fashion, theta):
    X, y = fashion
    r = ts.expand(X, y, theta, order=4, device="cpu", t_values=[0.5, 1.0])
    assert [v["t"] for v in r.validity] == [0.5, 1.0]
    d = ts.expand(X, y, theta, order=4, device="cpu")
    assert [v["t"] for v in d.validity] == list(ts.DEFAULT_T_VALUES)
    assert "S_k" in dir(d) and "Expansion(order=4" in repr(d)
    with pytest.raises(AttributeError, match="no field 'S_q'"):
        d.S_q
