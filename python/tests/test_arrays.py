"""What the package accepts: which arrays the engine reads in place, which
are converted once, and what is refused (with the CLI's one-line messages)."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import taylorscope as ts
from taylorscope import _taylorscope
from taylorscope._arrays import as_labels, as_values
from conftest import random_theta, run_cli, save_inputs, torch_or_skip


def engine_address(X, y):
    """Where the engine's data set reads X's rows, after the package's own
    preparation of X (the path every call takes)."""
    Xa, _ = as_values(X, "X", 2, "(N, E)")
    return _taylorscope._data_address(Xa, as_labels(y))


def test_a_float64_numpy_array_is_read_in_place(fashion):
    X, y = fashion
    assert engine_address(X, y) == X.ctypes.data


def test_a_strided_or_float32_array_is_converted_once(fashion):
    X, y = fashion
    F = np.asfortranarray(X)
    assert engine_address(F, y) != F.ctypes.data
    X32 = X.astype(np.float32)
    assert engine_address(X32, y) != X32.ctypes.data


def test_no_copy_of_a_large_array_by_peak_memory():
    """The engine's peak memory does not grow by X's size: a 400 MB X
    expanded at H = 4 (whose own buffers are a few MB) in a fresh process."""
    code = textwrap.dedent("""
        import resource, numpy as np, taylorscope as ts
        N, E = 50000, 1024
        X = np.random.default_rng(0).random((N, E))
        y = np.arange(N) % 10
        rng = np.random.default_rng(1)
        theta = {"U": rng.normal(0, .1, (10, 4)), "W": rng.normal(0, .01, (4, E)), "b": np.zeros(4), "c": np.zeros(10)}
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        ts.expand(X, y, theta, order=2, device="cpu")
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((after - before) * 1024)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    grew = int(out.stdout.split()[-1])
    # A copy of X would add 50000·1024·8 = 410 MB; the pass's own chunks at
    # H = 4 and order 2 are under 50 MB.
    assert grew < 100 * 2**20, "peak memory grew by %.0f MB: X was copied" % (grew / 2**20)


def test_torch_imports_after_taylorscope():
    """The module loads no library that PyTorch brings its own newer copy of
    (a libnccl.so.2 loaded first made `import torch` fail)."""
    torch_or_skip()
    out = subprocess.run([sys.executable, "-c", "import taylorscope, torch; torch.zeros(1)"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr.strip().splitlines()[-1:]


def test_torch_cpu_tensors(fashion, theta):
    torch = torch_or_skip()
    X, y = fashion
    Xt, yt = torch.from_numpy(X.copy()), torch.from_numpy(y.copy())
    assert engine_address(Xt, yt) == Xt.data_ptr()
    tt = {k: torch.from_numpy(np.asarray(v).copy()) for k, v in theta.items()}
    a = ts.expand(X, y, theta, order=5, device="cpu")
    b = ts.expand(Xt, yt, tt, order=5, device="cpu")
    np.testing.assert_array_equal(a.S_k, b.S_k)
    assert b.to_dict()["data"]["spec"] == "array:torch.Tensor"
    # float32 tensors are converted once, to the same float64 values numpy gives.
    c = ts.expand(Xt.float(), yt, tt, order=5, device="cpu")
    d = ts.expand(X.astype(np.float32), y, theta, order=5, device="cpu")
    np.testing.assert_array_equal(c.S_k, d.S_k)
    # A tensor that requires grad is read through detach(), not refused.
    e = ts.expand(Xt.clone().requires_grad_(True), yt, tt, order=5, device="cpu")
    np.testing.assert_array_equal(a.S_k, e.S_k)


def test_which_calls_keep_gpu_data_on_their_gpu():
    """A GPU array stays on its GPU only for a call that runs there: by name,
    or as "cuda"/"auto" (GPU 0 in one process) when the build has CUDA."""
    from taylorscope._arrays import same_gpu

    assert same_gpu("cuda:1", "cuda:1")
    assert not same_gpu("cuda:0", "cuda:1")
    assert not same_gpu("cpu", "cuda:0")
    assert not same_gpu("cuda", "cuda:1")
    assert not same_gpu("cuda:0", None)
    has_cuda = ts.cuda_available()[0]
    assert same_gpu("cuda", "cuda:0") == has_cuda
    assert same_gpu("auto", "cuda:0") == has_cuda


def cuda_or_skip():
    """torch, when PyTorch sees a GPU and this build has the CUDA backend.
    Skips otherwise, but fails where a GPU is required (scripts/device-check
    sets TS_REQUIRE_GPU)."""
    missing = pytest.fail if os.environ.get("TS_REQUIRE_GPU") else pytest.skip
    torch = torch_or_skip()
    if not torch.cuda.is_available():
        missing("no CUDA GPU visible to PyTorch")
    if not ts.cuda_available()[0]:
        missing("this taylorscope build has no CUDA backend: " + ts.cuda_available()[1])
    return torch


def test_cuda_tensors_are_read_in_place_on_their_gpu(fashion, theta):
    torch = cuda_or_skip()
    X, y = fashion
    assert np.any(np.diff(y) < 0), "rows out of class order, so the backend gathers them on the device"
    Xc, yc = torch.from_numpy(X).cuda(), torch.from_numpy(y).cuda()
    Xa, _ = as_values(Xc, "X", 2, "(N, E)", run_on="cuda:0")
    assert _taylorscope._data_address(Xa, as_labels(yc)) == Xc.data_ptr()
    tc = {k: torch.from_numpy(np.asarray(v)).cuda() for k, v in theta.items()}
    g = ts.expand(Xc, yc, tc, order=6)
    assert g.device.startswith("cuda:0")
    # The same rows uploaded from the host: the backend sorts both by class
    # the same way (a device gather against host staging), so the same bits.
    h = ts.expand(X, y, theta, order=6, device="cuda:0")
    np.testing.assert_array_equal(g.S_k, h.S_k)
    assert g.S_direct == h.S_direct
    # Rows already in class order are read where they are, without the
    # gather: again the same bits.
    order = np.argsort(y, kind="stable")
    Xs = torch.from_numpy(X[order]).cuda()
    s = ts.expand(Xs, y[order], theta, order=6)
    np.testing.assert_array_equal(s.S_k, h.S_k)
    # CUDA against CPU: the same sums in another order (docs/gpu.md's
    # tolerance for the pass).
    c = ts.expand(X, y, theta, order=6, device="cpu")
    np.testing.assert_allclose(g.S_k, c.S_k, rtol=1e-9, atol=1e-12)


def test_cuda_tensors_convert_where_the_call_needs_them(fashion, theta):
    torch = cuda_or_skip()
    X, y = fashion
    Xc = torch.from_numpy(X).cuda()
    # float32 on the GPU: converted there, to the values NumPy's conversion gives.
    a = ts.expand(Xc.float(), y, theta, order=4)
    b = ts.expand(X.astype(np.float32), y, theta, order=4, device="cuda:0")
    np.testing.assert_array_equal(a.S_k, b.S_k)
    # On the CPU, or for tensors(): one copy to the host.
    c = ts.expand(Xc, y, theta, order=4, device="cpu")
    np.testing.assert_array_equal(c.S_k, ts.expand(X, y, theta, order=4, device="cpu").S_k)
    ts.tensors(Xc, y, theta, order=2, device="cpu")


def test_cuda_tensors_for_tensors_and_train_are_read_on_their_gpu(tmp_path, fashion, theta):
    torch = cuda_or_skip()
    X, y = fashion
    Xc = torch.from_numpy(X).cuda()
    # tensors(): the CUDA tensor backend gathers the rows on the device;
    # the same sorted rows as from the host, so the same statistics.
    g = ts.tensors(Xc, y, theta, order=2)
    h = ts.tensors(X, y, theta, order=2, device="cuda:0")
    assert g.device.startswith("cuda:0")
    assert g.dot == h.dot and g.dot_power_sum == h.dot_power_sum
    assert g.J["mean"] == h.J["mean"] and g.J["std"] == h.J["std"]
    # train(): the backend copies the tensor on the device; the same steps.
    settings = dict(hidden=8, optimizer="adam", lr=0.01, batch=25, epochs=2, seed=5)
    a = ts.train(Xc, y, eval=(Xc, y), **settings)
    b = ts.train(X, y, eval=(X, y), device="cuda:0", **settings)
    np.testing.assert_array_equal(a.theta.W, b.theta.W)
    # A run directory records the tensor's checksum (copied to the host in
    # chunks): resuming with the same tensor goes on, with other values of
    # the same shape it is refused.
    d = tmp_path / "run"
    ts.train(Xc, y, out=d, **settings)
    ts.train(Xc, y, out=d, resume=True, **{**settings, "epochs": 3})
    with pytest.raises(ValueError, match=r"cannot resume, '[^']*crc32'"):
        ts.train(Xc * 2, y, out=d, resume=True, **{**settings, "epochs": 4})


def test_non_finite_cuda_values_are_refused_as_on_the_host(fashion, theta):
    torch = cuda_or_skip()
    X, y = fashion
    bad = X.copy()
    bad[3, 5] = np.nan
    bad[7, 0] = np.inf
    with pytest.raises(ValueError) as on_host:
        ts.expand(bad, y, theta, order=3, device="cpu")
    with pytest.raises(ValueError) as on_gpu:
        ts.expand(torch.from_numpy(bad).cuda(), y, theta, order=3)
    assert str(on_gpu.value) == str(on_host.value)
    assert "2 non-finite values" in str(on_gpu.value)


def test_jax_arrays(fashion, theta):
    jax = pytest.importorskip("jax", reason="JAX is not installed")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    X, y = fashion
    Xj = jnp.asarray(X)
    if Xj.devices().pop().platform == "cpu":
        assert engine_address(Xj, np.asarray(y)) == Xj.unsafe_buffer_pointer()
    a = ts.expand(X, y, theta, order=4, device="cpu")
    b = ts.expand(Xj, jnp.asarray(y), {k: jnp.asarray(v) for k, v in theta.items()}, order=4, device="cpu")
    np.testing.assert_array_equal(a.S_k, b.S_k)


def test_bad_inputs_raise_the_clis_one_line_messages(tmp_path, fashion, theta):
    X, y = fashion
    expand = lambda **kw: ts.expand(**{"X": X, "y": y, "theta": theta, "order": 3, "device": "cpu", **kw})
    with pytest.raises(ValueError, match=r"^X: expected shape \(N, E\), found \(78400,\)$"):
        expand(X=X.ravel())
    with pytest.raises(TypeError, match="X: expected real numbers"):
        expand(X=X.astype(np.complex128))
    with pytest.raises(TypeError, match="y: labels must be integers"):
        expand(y=y + 0.5)
    bad_y = y.copy()
    bad_y[3] = 12
    with pytest.raises(ValueError) as e:
        expand(y=bad_y)
    # The CLI names its file where the package names its argument.
    spec = save_inputs(tmp_path, X, bad_y)
    cli = run_cli("expand", "--data", spec, "--classes", 10, "--hidden", 4, "--order", 3, "--quiet", "--device", "cpu")
    assert cli.returncode == 2
    assert str(e.value) == "y: label at index 3 is 12, outside [0, 10)"
    assert cli.stderr.strip() == "taylorscope: error: %s: label at index 3 is 12, outside [0, 10)" % (tmp_path / "y.npy")
    nan_X = X.copy()
    nan_X[5, 7] = np.nan
    with pytest.raises(ValueError, match="^X: .*non-finite"):
        expand(X=nan_X)
    short_W = dict(theta, W=theta["W"][:, :100])
    with pytest.raises(ValueError, match="theta: parameters do not fit the data: W has E = 100 columns but the data has E = 784"):
        expand(theta=short_W)
    with pytest.raises(ValueError, match=r"theta.b: expected shape \(16,\) \(H = 16 from theta.U \(10, 16\)\), found \(3,\)"):
        expand(theta=dict(theta, b=np.zeros(3)))
    with pytest.raises(TypeError, match="theta: a mapping without 'c'"):
        expand(theta={k: theta[k] for k in ("U", "W", "b")})
    with pytest.raises(ValueError, match="order must be in 1..64"):
        expand(order=0)
    with pytest.raises(ValueError, match="unknown activation"):
        expand(activation="swish2")
    with pytest.raises(ValueError):
        expand(device="tpu")
    with pytest.raises(TypeError, match="device must be a string"):
        expand(device=0)


def test_the_gil_is_released_while_the_engine_runs(fashion):  # fashion: skips without the data
    """A Python thread keeps running while another waits on the engine: the
    longest pause between its ticks stays far below the engine call's time
    (holding the GIL, the pause would be the whole call)."""
    import threading
    import time

    X, y = ts.datasets.fashion_mnist("train", limit=1000)  # 10000 rows: a call of ~1 s here
    big = random_theta(10, 512, 784, 0.05, 2)
    done = threading.Event()
    span = []

    def work():
        t0 = time.perf_counter()
        ts.expand(X, y, big, order=8, device="cpu")
        span.append(time.perf_counter() - t0)
        done.set()

    worker = threading.Thread(target=work)
    worker.start()
    last, longest = time.perf_counter(), 0.0
    while not done.is_set():
        now = time.perf_counter()
        longest = max(longest, now - last)
        last = now
    worker.join()
    if span[0] < 0.3:
        pytest.skip("the call took %.2f s: too short to tell a held GIL from scheduling" % span[0])
    # Half the call: generous for a loaded 2-core machine, where the OS may
    # deschedule this thread for tens of milliseconds, and still far from
    # the whole call a held GIL would give.
    assert longest < 0.5 * span[0], "the main thread stalled %.2f s of a %.2f s call" % (longest, span[0])
