"""expand, tensors and train: the CLI's commands on the caller's arrays.

Each makes its inputs engine-ready (_arrays: in place where dtype, layout and
device allow, else one documented conversion) and calls the same library
function the CLI calls, with the GIL released while it runs.
"""

import json
import warnings as _warnings

from . import _taylorscope
from ._arrays import _cuda_device_of, as_labels, as_values
from ._results import Expansion, TensorStatistics, TrainRun
from ._theta import theta_arrays

# The engine's defaults, named once: ExpansionOptions::t_values.
DEFAULT_T_VALUES = (0.25, 0.5, 1.0, 1.5, 2.0)


class EngineWarning(UserWarning):
    """What the CLI would print as "taylorscope: warning: …"."""


def _spec(x):
    t = type(x)
    return "array:%s.%s" % (t.__module__.split(".")[0], t.__name__)


def _device(device, *found):
    """The device to run on: the caller's, else the GPU the data lives on,
    else "auto" (the CLI's default: CUDA when built with it and a GPU is
    visible, else the CPU)."""
    if device is not None:
        if not isinstance(device, str):
            raise TypeError("device must be a string such as 'cpu', 'cuda' or 'cuda:1', got %r" % (device,))
        return device
    for d in found:
        if d is not None:
            return d
    return "auto"


def _warn(messages):
    for m in messages:
        _warnings.warn(m, EngineWarning, stacklevel=3)


def expand(X, y, theta, order=8, activation="silu", device=None, t_values=None, omega=1.0, iota=0.0):
    """S_k(θ) for k = 0..order on (X, y), the seed terms, D_{n+1} against
    S_{n+1}, the radius estimate and the validity table: `taylorscope
    expand`'s report as an Expansion (r.S_k, r.partial_sums, r.S_direct,
    r.terms, r.dominant, r.radius, r.to_dict(), …).

    X: (N, E) real array; y: (N,) integer labels in [0, M); theta: U, W, b,
    c (a mapping, an object, from_torch(module), from_flax(params)); M is
    θ's (U's rows). device: "cpu", "cuda", "cuda:i" or "auto"; by default
    the GPU the arrays live on, else "auto". A CUDA tensor (or JAX GPU
    array) X expanded on its own GPU is read there, never copied to the
    host; rows not already in class order are gathered into a class-sorted
    copy on that GPU (N·E more doubles of its memory; docs/python.md).
    """
    (U, W, b, c), tdev = theta_arrays(theta)
    run_on = _device(device, _cuda_device_of(X), tdev)
    Xa, _ = as_values(X, "X", 2, "(N, E)", run_on=run_on)
    ya = as_labels(y)
    t = list(DEFAULT_T_VALUES if t_values is None else t_values)
    report, queued = _taylorscope.expand(
        Xa, ya, U, W, b, c, order=int(order), activation=str(activation), omega=float(omega), iota=float(iota),
        device=run_on, t_values=[float(v) for v in t], data_spec=_spec(X), params_source=_spec(theta))
    _warn(queued)
    return Expansion(json.loads(report), queued)


def tensors(X, y, theta=None, order=2, only=None, bins=64, device=None):
    """Element statistics of J^(n), T^(n) and J^(n)∘T^(n) (n = order), as
    `taylorscope tensors` reports them: s.J, s.T, s.JT (STATS dicts) and
    s.dot = ⟨J^(n), T^(n)⟩ (with s.dot_power_sum, the same by the power-sum
    identity). Without theta, J alone; only="J" or "T" streams one. A
    CUDA tensor X on the GPU the call runs on is read there, never copied
    to the host (gathered into a class-sorted copy on that GPU)."""
    parts, tdev = (None, None, None, None), None
    if theta is not None:
        parts, tdev = theta_arrays(theta)
    run_on = _device(device, _cuda_device_of(X), tdev)
    Xa, _ = as_values(X, "X", 2, "(N, E)", run_on=run_on)
    ya = as_labels(y)
    if only is not None and only not in ("J", "T"):
        raise ValueError("only must be 'J', 'T' or None, got %r" % (only,))
    report, queued = _taylorscope.tensors(
        Xa, ya, *parts, order=int(order), only=only or "", bins=int(bins), device=run_on,
        data_spec=_spec(X), params_source=_spec(theta) if theta is not None else "")
    _warn(queued)
    return TensorStatistics(json.loads(report), queued)


def train(X, y, eval=None, hidden=256, optimizer="sgd", lr=0.1, batch=50, epochs=10, out=None, progress=None,
          activation="silu", seed=0, init="glorot", init_scale=0.05, l2=0.0, momentum=0.9, beta1=0.9,
          beta2=0.999, eps=1e-8, rngd_period=100, rngd_damping=0.005, rngd_omega=1.0, early_stop="none",
          patience=3, device=None, resume=False, save_precision="f32", omega=1.0, iota=0.0):
    """Trains the softmax MLP on (X, y) as `taylorscope train` does and
    returns a TrainRun: run.theta, run.best_theta, run.curves, run.records.

    eval: (Xe, ye) measured after every epoch (None: the training set
    itself). out: a run directory (checkpoint.bin after every epoch,
    curves.csv, θ, best/, report.json: INTERFACES.md), or None to write
    nothing. progress: called after every epoch with that epoch's record
    (a dict). Ctrl-C stops between batches with KeyboardInterrupt; with out
    given, its checkpoint is the last finished epoch's (resume=True goes on).
    CUDA tensors on the GPU the run trains on are read there (the backend
    copies them on the device).
    """
    Xe_in = ye_in = None
    if eval is not None:
        try:
            Xe_in, ye_in = eval
        except (TypeError, ValueError):
            raise TypeError("eval must be a pair (Xe, ye) or None") from None
    run_on = _device(device, _cuda_device_of(X), None if Xe_in is None else _cuda_device_of(Xe_in))
    Xa, _ = as_values(X, "X", 2, "(N, E)", run_on=run_on)
    ya = as_labels(y)
    Xe = ye = None
    eval_spec = ""
    if eval is not None:
        Xe, _ = as_values(Xe_in, "Xe", 2, "(N, E)", run_on=run_on)
        ye = as_labels(ye_in, "ye")
        eval_spec = _spec(Xe_in)
    if progress is not None and not callable(progress):
        raise TypeError("progress must be callable (it gets each epoch's record), got %r" % (progress,))
    raw = _taylorscope.train(
        Xa, ya, Xe, ye, hidden=int(hidden), activation=str(activation), omega=float(omega), iota=float(iota),
        optimizer=str(optimizer), lr=float(lr), batch=int(batch), epochs=int(epochs), seed=int(seed),
        init=str(init), init_scale=float(init_scale), l2=float(l2), momentum=float(momentum), beta1=float(beta1),
        beta2=float(beta2), eps=float(eps), rngd_period=int(rngd_period), rngd_damping=float(rngd_damping),
        rngd_omega=float(rngd_omega), early_stop=str(early_stop), patience=int(patience),
        device=run_on, out="" if out is None else str(out), resume=bool(resume),
        save_precision=str(save_precision), progress=progress, data_spec=_spec(X),
        eval_spec=eval_spec or _spec(X))
    return TrainRun(raw, None if out is None else str(out))
