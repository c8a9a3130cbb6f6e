"""taylorscope: the exact Taylor expansion of a softmax MLP's cross-entropy
action S(tθ) = Σ_k t^k S_k(θ), its class-moment tensors, and training —
the engine the `taylorscope` CLI runs, on NumPy, PyTorch and JAX arrays.

    import taylorscope as ts
    X, y = ts.datasets.fashion_mnist("test", limit=100)
    run = ts.train(X, y, hidden=64, epochs=2)
    r = ts.expand(X, y, run.theta, order=8)
    r.S_k, r.partial_sums, r.radius

See docs/python.md for the array rules (what is read in place, what is
converted once) and how each result maps to the CLI's JSON report.
"""

from . import datasets
from ._api import DEFAULT_T_VALUES, EngineWarning, expand, tensors, train
from ._results import Expansion, TensorStatistics, TrainRun
from ._taylorscope import TrainingDiverged
from ._theta import Theta, from_flax, from_torch


def cuda_available():
    """(True, "") when this build has CUDA and a GPU is visible, else (False, why)."""
    from . import _taylorscope

    return _taylorscope.cuda_available()


__all__ = [
    "DEFAULT_T_VALUES", "EngineWarning", "Expansion", "TensorStatistics", "Theta", "TrainRun", "TrainingDiverged",
    "cuda_available", "datasets", "expand", "from_flax", "from_torch", "tensors", "train",
]
__version__ = "0.1.0"
