"""Result objects: the engine's JSON reports, read as Python values.

An Expansion or TensorStatistics holds the report of the CLI call it mirrors
(INTERFACES.md): each top-level key is an attribute, numbers stay numbers,
lists of numbers become NumPy arrays (null, a number float64 could not hold,
becomes NaN there; the report's `warnings` say which and why), and
to_dict() returns the report itself, equal to the CLI's JSON.
"""

import copy
import math

import numpy as np


def _number(v):
    return float("nan") if v is None else v


def _is_number(v):
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _value(v):
    if isinstance(v, dict):
        return {k: _value(x) for k, x in v.items()}
    if isinstance(v, list):
        if v and all(_is_number(x) for x in v):
            if all(isinstance(x, int) and not isinstance(x, bool) for x in v):
                return np.array(v, dtype=np.int64)
            return np.array([_number(x) for x in v], dtype=np.float64)
        return [_value(x) for x in v]
    return _number(v)


class Report:
    """A JSON report with its keys as attributes."""

    def __init__(self, report, warnings=()):
        self._report = report
        self._values = {k: _value(v) for k, v in report.items()}
        # What the engine queued while computing (the CLI prints them on
        # stderr); the report's own `warnings` key lists the unprintable numbers.
        self.engine_warnings = list(warnings)

    def __getattr__(self, name):
        values = self.__dict__.get("_values")
        if values is not None and name in values:
            return values[name]
        raise AttributeError("%s has no field '%s' (fields: %s)"
                             % (type(self).__name__, name, ", ".join(sorted(values or ()))))

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._values))

    def keys(self):
        return self._values.keys()

    def to_dict(self):
        """The report, as the CLI's --report JSON holds it."""
        return copy.deepcopy(self._report)


def _fmt(x):
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else "%.6g" % x


class Expansion(Report):
    """`taylorscope expand`'s report: S_k, partial_sums, S_direct, terms,
    dominant, radius, validity, … (INTERFACES.md, docs/python.md)."""

    def __repr__(self):
        r = self._report
        return "Expansion(order=%s, S_direct=%s, S_k[:4]=%s, device=%r)" % (
            r.get("order"), _fmt(r.get("S_direct")), [_fmt(x) for x in r.get("S_k", [])[:4]], r.get("device"))


class TensorStatistics(Report):
    """`taylorscope tensors`'s report: J, T, JT (STATS dicts: count, min, max,
    mean, std, skewness, excess_kurtosis, frac_negative, histogram) and dot.
    A stream not computed (only=…, or no θ) is None."""

    def __getattr__(self, name):
        if name in ("J", "T", "JT") and name not in self.__dict__.get("_values", {}):
            return None
        return super().__getattr__(name)

    def __repr__(self):
        r = self._report
        have = [k for k in ("J", "T", "JT") if k in r]
        return "TensorStatistics(order=%s, streams=%s, dot=%s)" % (r.get("order"), have, _fmt(r.get("dot")))


class TrainRun:
    """What train() returns: theta (final), best_theta (the chosen epoch's),
    curves (curves.csv's columns as arrays), records (one dict per epoch,
    epoch 0 the initial θ), chosen_epoch, chosen_by, stopped_early, seconds,
    and out (the run directory, or None)."""

    def __init__(self, raw, out):
        from ._theta import Theta

        self.theta = Theta(**raw["theta"])
        self.best_theta = Theta(**raw["best_theta"])
        self.records = raw["records"]
        columns = list(self.records[0]) if self.records else []
        self.curves = {k: np.array([r[k] for r in self.records]) for k in columns}
        for k in ("chosen_epoch", "chosen_by", "stopped_early", "resumed_from", "seconds"):
            setattr(self, k, raw[k])
        self.stop_by_grad_dot = raw["stop_by_grad_dot"] if raw["stop_by_grad_dot"] >= 0 else None
        self.stop_by_eval_loss = raw["stop_by_eval_loss"] if raw["stop_by_eval_loss"] >= 0 else None
        self.out = out

    def __repr__(self):
        last = self.records[-1] if self.records else {}
        return "TrainRun(epochs=%d, train_loss=%s, eval_acc=%s, chosen_epoch=%d)" % (
            last.get("epoch", 0), _fmt(last.get("train_loss")), _fmt(last.get("eval_acc")), self.chosen_epoch)
