"""Data sets as the CLI reads them, as NumPy arrays."""

import numpy as np

from . import _taylorscope


def fashion_mnist(split, pad32=False, limit=None, data_dir=None):
    """(X, y) of Fashion-MNIST's "train" or "test" split, read by the engine's
    own loader exactly as `--data fashion-mnist:SPLIT` is: pixels / 255,
    float64, X of shape (N, 784) (or (N, 1024) with pad32: a 2-pixel zero
    border), y int64. limit: the first `limit` samples of each class, in file
    order (the CLI's --limit). data_dir: where the IDX files are (default:
    Debian's dataset-fashion-mnist, /usr/share/datasets/fashion-mnist)."""
    if split not in ("train", "test"):
        raise ValueError("split must be 'train' or 'test', got %r" % (split,))
    if limit is not None and (not isinstance(limit, (int, np.integer)) or limit < 1):
        raise ValueError("limit must be a positive integer or None, got %r" % (limit,))
    X, y, _ = _taylorscope.load_dataset("fashion-mnist:" + split, pad32=bool(pad32), limit=int(limit or 0),
                                        data_dir=str(data_dir or ""))
    return X, y
