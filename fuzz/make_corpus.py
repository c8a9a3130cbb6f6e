#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz harnesses into fuzz/corpus/<target>/.

Seeds are small valid files of each format and near-valid ones (one field
off), so mutations start next to the parsers' interesting branches. The
checkpoint seeds and a θ directory with its manifest are written by the
engine itself (`taylorscope train` on a tiny data set, one run per
optimizer), so they follow whatever the trainer stores: pass the CLI with
--cli (e.g. build/taylorscope).

Inputs that once crashed a harness live beside the seeds as crash-*.bin and
are never rewritten here; this script only replaces seed-*.
"""
import argparse
import gzip
import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

SEP = b"|FILE|"  # fuzz_support.hpp's kSeparator


def idx(type_code, dims, payload):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


def npy(descr, shape, payload, major=1, fortran=False):
    shape_text = "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape_text)
    len_bytes = 2 if major == 1 else 4
    total = (8 + len_bytes + len(d) + 1 + 63) // 64 * 64
    header = d + " " * (total - 8 - len_bytes - len(d) - 1) + "\n"
    length = struct.pack("<H" if major == 1 else "<I", len(header))
    return b"\x93NUMPY" + bytes([major, 0]) + length + header.encode() + payload


def f8(values):
    return b"".join(struct.pack("<d", v) for v in values)


def f4(values):
    return b"".join(struct.pack("<f", v) for v in values)


def idx_seeds():
    img = idx(0x08, [4, 3, 3], bytes(range(36)))
    lab = idx(0x08, [4], bytes([0, 1, 1, 0]))
    return {
        "u8-images": img,
        "u8-labels": lab,
        "u8-images.gz": gzip.compress(img, mtime=0),
        "i8": idx(0x09, [3], bytes([0x80, 0, 0x7F])),
        "i16": idx(0x0B, [2, 2], struct.pack(">4h", -300, 1, 2, 32767)),
        "i32": idx(0x0C, [2], struct.pack(">2i", -70000, 9)),
        "f32": idx(0x0D, [2, 2], struct.pack(">4f", 0.5, -1.25, 3.0, 1e30)),
        "f64": idx(0x0E, [3], struct.pack(">3d", 0.1, -2.0, 1e300)),
        "empty": idx(0x08, [0, 28, 28], b""),
        "truncated": img[:-5],
        "trailing": img + b"xyz",
        "truncated.gz": gzip.compress(img, mtime=0)[:-9],
        "bad-type": idx(0x0A, [1], b"\0"),
        "nan-f32": idx(0x0D, [2], struct.pack(">2f", float("nan"), float("inf"))),
    }


def npy_seeds():
    return {
        "f8.npy": npy("<f8", [2, 3], f8([1, 2, 3, 4, 5, 6])),
        "f4.npy": npy("<f4", [3], f4([0.5, -1, 2])),
        "v2.npy": npy("<f8", [1, 2], f8([1, 2]), major=2),
        "v3.npy": npy("<f4", [2], f4([1, 2]), major=3),
        "scalar.npy": npy("<f8", [], f8([7])),
        "empty.npy": npy("<f8", [0, 4], b""),
        "u1.npy": npy("|u1", [4], bytes([0, 1, 2, 255])),
        "i8.npy": npy("<i8", [2], struct.pack("<2q", -5, 1 << 40)),
        "u8.npy": npy("<u8", [1], struct.pack("<Q", 2**64 - 1)),
        "i2.npy": npy("<i2", [2], struct.pack("<2h", -1, 300)),
        "big-endian.npy": npy(">f8", [1], struct.pack(">d", 1)),
        "fortran.npy": npy("<f8", [1, 1], f8([1]), fortran=True),
        "f2.npy": npy("<f2", [1], b"\0\0"),
        "truncated.npy": npy("<f8", [4], f8([1, 2, 3])),
        "long.npy": npy("<f8", [1], f8([1, 2])),
        "structured.npy": b"\x93NUMPY\x01\x00" + struct.pack("<H", 64)
        + b"{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (1,), }".ljust(63) + b"\n"
        + b"\0\0\0\0",
    }


def params_seeds():
    M, H, E = 2, 3, 4
    U = npy("<f8", [M, H], f8([0.1 * k for k in range(M * H)]))
    W = npy("<f8", [H, E], f8([0.01 * k - 0.05 for k in range(H * E)]))
    b = npy("<f8", [H], f8([0, 0.5, -0.5]))
    c = npy("<f8", [M], f8([0.25, -0.25]))
    U4 = npy("<f4", [M, H], f4([0.1 * k for k in range(M * H)]))
    bad_b = npy("<f8", [H + 1], f8([0] * (H + 1)))
    return {
        "f8": SEP.join([U, W, b, c]),
        "f4-U": SEP.join([U4, W, b, c]),
        "b-one-too-long": SEP.join([U, W, bad_b, c]),
        "c-missing": SEP.join([U, W, b]),
        "W-transposed": SEP.join([U, npy("<f8", [E, H], f8([0] * (H * E))), b, c]),
    }


def dataset_seeds():
    # Option byte bits (fuzz_dataset.cpp): 1 npy, 2-4 scale, 8 standardize,
    # 16 pad32, 32 limit, 64 classes, 128 flag --eval; then the values byte.
    imgs = idx(0x08, [4, 2, 2], bytes(range(0, 160, 10)))
    labs = idx(0x08, [4], bytes([0, 1, 1, 0]))
    mnist = idx(0x08, [2, 28, 28], bytes(k % 251 for k in range(2 * 784)))
    mlabs = idx(0x08, [2], bytes([1, 0]))
    z = npy("<f8", [4, 2], f8([1, 2, 3, 4, 5, 6, 7, 9]))
    y = npy("|u1", [4], bytes([0, 1, 0, 1]))
    return {
        "idx-default": bytes([0, 0]) + imgs + SEP + labs,
        "idx-standardize-limit": bytes([8 | 32, 1]) + imgs + SEP + labs,
        "idx-pad32": bytes([16 | 4, 0]) + mnist + SEP + mlabs,
        "idx-classes-3": bytes([64, 12]) + imgs + SEP + labs,
        "npy-default": bytes([1, 0]) + z + SEP + y,
        "npy-scale-standardize": bytes([1 | 4 | 8, 0]) + z + SEP + y,
        "npy-eval-flag": bytes([1 | 128, 0]) + z + SEP + y,
        "npy-one-class": bytes([1 | 64, 4]) + z + SEP + y,
    }


def engine_seeds(cli):
    """From the engine's own writers (`taylorscope train` on a tiny set):
    one checkpoint per optimizer, minus the trailing CRC (the harness
    appends the right one), and the run's θ with its manifest."""
    out, params = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "z.npy").write_bytes(npy("<f8", [4, 3], f8([0.1 * k for k in range(12)])))
        (t / "y.npy").write_bytes(npy("|u1", [4], bytes([0, 1, 0, 1])))
        spec = "npy:%s,%s" % (t / "z.npy", t / "y.npy")
        for opt in ["sgd", "momentum", "adam", "rngd"]:
            run = t / opt
            subprocess.run([cli, "train", "--quiet", "--data", spec, "--eval", spec, "--hidden", "2",
                            "--epochs", "2", "--batch", "2", "--optimizer", opt, "--device", "cpu",
                            "--out", str(run)], check=True, stdout=subprocess.DEVNULL)
            out["%s.ckpt" % opt] = (run / "checkpoint.bin").read_bytes()[:-4]
        run = t / "sgd"
        files = [(run / n).read_bytes() for n in ["U.npy", "W.npy", "b.npy", "c.npy", "params.json"]]
        params["engine-f32-manifest"] = SEP.join(files)
        params["engine-incomplete-manifest"] = SEP.join(
            files[:4] + [files[4].replace(b'"complete": true', b'"complete": false')])
        params["engine-W-replaced"] = SEP.join([files[0], files[1][:-4] + b"\0\0\0\0"] + files[2:])
    return out, params


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cli", required=True, help="the taylorscope binary, whose writers make the checkpoint and θ seeds")
    args = ap.parse_args()
    root = Path(__file__).resolve().parent / "corpus"
    sets = {"idx": idx_seeds(), "npy": npy_seeds(), "params": params_seeds(), "dataset": dataset_seeds()}
    sets["checkpoint"], engine_params = engine_seeds(args.cli)
    sets["params"].update(engine_params)
    for target, seeds in sets.items():
        d = root / target
        d.mkdir(parents=True, exist_ok=True)
        for old in d.glob("seed-*"):
            old.unlink()
        for name, data in seeds.items():
            (d / ("seed-" + name)).write_bytes(data)
        print("make_corpus: %s: %d seeds, %d bytes" % (target, len(seeds), sum(map(len, seeds.values()))))


if __name__ == "__main__":
    main()
