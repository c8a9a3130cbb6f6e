"""Reading Fashion-MNIST's gzip-compressed IDX files with numpy alone, for the
Python peers in bench/ (they run where only numpy and a framework exist)."""
import gzip

import numpy as np


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)
