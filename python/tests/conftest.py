"""Shared inputs of the Python package's tests: small Fashion-MNIST subsets
(the CLI's --limit) and seeded θ, the CLI to compare with, and skips that
say what is missing."""

import json
import os
import pathlib
import shutil
import subprocess

import numpy as np
import pytest

import taylorscope as ts

FASHION = pathlib.Path("/usr/share/datasets/fashion-mnist")
REPO = pathlib.Path(__file__).resolve().parents[2]


def cli_path():
    """The `taylorscope` executable of the same build (ctest sets TS_CLI): the
    comparisons are bit for bit, so a CLI compiled with other flags (say
    -march=native against a wheel's portable build) differs in last bits."""
    p = os.environ.get("TS_CLI") or str(REPO / "build" / "taylorscope")
    if not os.access(p, os.X_OK):
        pytest.skip("no taylorscope CLI at %s (set TS_CLI)" % p)
    return p


def run_cli(*args):
    r = subprocess.run([cli_path(), *map(str, args)], capture_output=True, text=True)
    return r


@pytest.fixture(scope="session")
def fashion():
    if not (FASHION / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    X, y = ts.datasets.fashion_mnist("test", limit=10)  # N = 100, E = 784
    return X, y


def random_theta(M, H, E, scale, seed):
    """Every entry N(0, scale²): b and c non-zero, so every seed term is."""
    rng = np.random.default_rng(seed)
    return {"U": rng.normal(0, scale, (M, H)), "W": rng.normal(0, scale, (H, E)),
            "b": rng.normal(0, scale, H), "c": rng.normal(0, scale, M)}


@pytest.fixture(scope="session")
def theta(fashion):
    X, _ = fashion
    return random_theta(10, 16, X.shape[1], 0.1, 1)


def save_inputs(directory, X, y, theta=None):
    """X, y (and θ) as the CLI reads them: npy:X.npy,y.npy and --params DIR, in float64."""
    directory = pathlib.Path(directory)
    np.save(directory / "X.npy", X)
    np.save(directory / "y.npy", y)
    if theta is not None:
        (directory / "theta").mkdir()
        for k in ("U", "W", "b", "c"):
            np.save(directory / "theta" / (k + ".npy"), np.asarray(theta[k], dtype=np.float64))
    return "npy:%s,%s" % (directory / "X.npy", directory / "y.npy")


def cli_report(tmp_path, command, X, y, theta, order):
    """The --report JSON of `taylorscope COMMAND` on (X, y, θ) saved as the
    CLI reads them (npy files, a θ directory), on the CPU."""
    spec = save_inputs(tmp_path, X, y, theta)
    report = tmp_path / (command + ".json")
    out = run_cli(command, "--data", spec, "--params", tmp_path / "theta", "--order", order, "--device", "cpu",
                  "--report", report, "--quiet")
    assert out.returncode == 0, out.stderr
    return json.loads(report.read_text())


def comparable(report):
    """A report without what names where the inputs came from (files or
    arrays) and how long it took: everything else must be equal."""
    r = json.loads(json.dumps(report))
    r["data"].pop("spec")
    r["model"].pop("params")
    r.pop("timing_ms")
    return r


def torch_or_skip():
    return pytest.importorskip("torch", reason="PyTorch is not installed (python/requirements-test.txt has it)")


def which(name):
    return shutil.which(name)
