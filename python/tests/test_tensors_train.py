"""ts.tensors and ts.train against the CLI, the train run's callbacks and
Ctrl-C, the datasets and the θ helpers."""

import json
import os
import signal

import numpy as np
import pytest

import taylorscope as ts
from conftest import cli_report, comparable, run_cli, save_inputs, torch_or_skip


def test_tensors_equal_the_cli_report(tmp_path, fashion, theta):
    X, y = fashion
    cli = cli_report(tmp_path, "tensors", X, y, theta, 2)
    s = ts.tensors(X, y, theta, order=2, device="cpu")
    assert comparable(s.to_dict()) == comparable(cli)
    assert s.J["count"] == cli["J"]["count"] and isinstance(s.J["histogram"]["counts"], np.ndarray)
    assert s.dot == cli["dot"]
    # ⟨J, T⟩ two ways (docs/math.md §4): streamed elements and power sums.
    assert abs(s.dot - s.dot_power_sum) <= 1e-9 * abs(s.dot_power_sum)
    j = ts.tensors(X, y, order=1, device="cpu")
    assert j.T is None and j.JT is None and j.J["count"] == 10 * 784


def train_settings():
    return dict(hidden=8, optimizer="adam", lr=0.01, batch=25, epochs=3, seed=5, device="cpu")


def test_train_equals_the_cli_run(tmp_path, fashion):
    X, y = fashion
    spec = save_inputs(tmp_path, X, y)
    out = run_cli("train", "--data", spec, "--eval", spec, "--hidden", 8, "--optimizer", "adam", "--lr", 0.01,
                  "--batch", 25, "--epochs", 3, "--seed", 5, "--device", "cpu", "--save-precision", "f64",
                  "--out", tmp_path / "cli", "--quiet")
    assert out.returncode == 0, out.stderr
    seen = []
    run = ts.train(X, y, eval=(X, y), progress=seen.append, **train_settings())
    assert [r["epoch"] for r in seen] == [0, 1, 2, 3]
    np.testing.assert_array_equal(run.theta.W, np.load(tmp_path / "cli" / "W.npy"))
    np.testing.assert_array_equal(run.best_theta.U, np.load(tmp_path / "cli" / "best" / "U.npy"))
    report = json.loads((tmp_path / "cli" / "report.json").read_text())
    assert run.chosen_epoch == report["stop"]["chosen_epoch"]
    np.testing.assert_array_equal(run.curves["epoch"], [0, 1, 2, 3])
    assert run.out is None
    # What a run writes with out= is the CLI's directory.
    d = tmp_path / "py"
    run2 = ts.train(X, y, eval=(X, y), out=d, save_precision="f64", **train_settings())
    assert sorted(p.name for p in d.iterdir()) == sorted(p.name for p in (tmp_path / "cli").iterdir())
    np.testing.assert_array_equal(np.load(d / "W.npy"), run2.theta.W)
    # An out that is a file is refused before anything is written.
    f = tmp_path / "a-file"
    f.write_text("keep me")
    with pytest.raises(ValueError, match="--out .*a-file: exists and is not a directory"):
        ts.train(X, y, out=f, **train_settings())
    assert f.read_text() == "keep me"


def test_ctrl_c_leaves_a_checkpoint_that_resumes(tmp_path, fashion):
    X, y = fashion
    settings = dict(train_settings(), epochs=4)
    full = ts.train(X, y, **settings)

    def interrupt_after_epoch_2(record):
        if record["epoch"] == 2:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, as a user presses it

    d = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        ts.train(X, y, out=d, save_precision="f64", progress=interrupt_after_epoch_2, **settings)
    assert (d / "checkpoint.bin").exists() and not (d / "report.json").exists()
    resumed = ts.train(X, y, out=d, resume=True, save_precision="f64", **settings)
    assert resumed.resumed_from == 2
    np.testing.assert_array_equal(resumed.theta.W, full.theta.W)


def test_a_progress_callback_that_raises_stops_the_run(fashion):
    X, y = fashion

    def fail(record):
        if record["epoch"] == 1:
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        ts.train(X, y, progress=fail, **train_settings())


def test_train_refusals(fashion):
    X, y = fashion
    with pytest.raises(ValueError, match="--early-stop must be grad-dot, eval-loss or none"):
        ts.train(X, y, early_stop="soon", **train_settings())
    with pytest.raises(ValueError, match="resuming needs the run directory"):
        ts.train(X, y, resume=True, **train_settings())
    with pytest.raises(TypeError, match="eval must be a pair"):
        ts.train(X, y, eval=X, **train_settings())
    # A run that blows up (a step of 1e300) is TrainingDiverged, not a bad input.
    with pytest.raises(ts.TrainingDiverged, match="training diverged at epoch"):
        ts.train(X, y, hidden=4, optimizer="momentum", lr=1e300, batch=len(y), epochs=5, device="cpu")


def test_fashion_mnist_as_the_cli_reads_it(fashion):
    X, y = fashion
    assert X.shape == (100, 784) and X.dtype == np.float64 and y.dtype == np.int64
    assert X.max() <= 1.0 and np.bincount(y).tolist() == [10] * 10
    P, _ = ts.datasets.fashion_mnist("test", pad32=True, limit=1)
    assert P.shape == (10, 1024) and P.reshape(10, 32, 32)[:, :2, :].max() == 0
    with pytest.raises(ValueError, match="split must be"):
        ts.datasets.fashion_mnist("validation")


def test_from_torch_and_from_flax_give_the_same_theta(fashion, theta):
    X, y = fashion
    ref = ts.expand(X, y, theta, order=4, device="cpu")
    flax_params = {"params": {"Dense_0": {"kernel": theta["W"].T, "bias": theta["b"]},
                              "Dense_1": {"kernel": theta["U"].T, "bias": theta["c"]}}}
    np.testing.assert_array_equal(ts.expand(X, y, ts.from_flax(flax_params), order=4, device="cpu").S_k, ref.S_k)
    torch = torch_or_skip()
    m = torch.nn.Sequential(torch.nn.Linear(784, 16), torch.nn.SiLU(), torch.nn.Linear(16, 10)).double()
    with torch.no_grad():
        m[0].weight.copy_(torch.from_numpy(theta["W"]))
        m[0].bias.copy_(torch.from_numpy(theta["b"]))
        m[2].weight.copy_(torch.from_numpy(theta["U"]))
        m[2].bias.copy_(torch.from_numpy(theta["c"]))
    np.testing.assert_array_equal(ts.expand(X, y, ts.from_torch(m), order=4, device="cpu").S_k, ref.S_k)
    with pytest.raises(ValueError, match="exactly two nn.Linear"):
        ts.from_torch(torch.nn.Linear(3, 2))
