"""The arrays a caller hands the engine, made ready for it.

The engine reads float64, C-contiguous rows, on the host or (a call on the
GPU the data live on) in that GPU's memory. An array that is already that (a
NumPy array, a PyTorch CPU tensor, a JAX CPU array; for a call on their GPU
also a PyTorch CUDA tensor or a JAX GPU array) is passed as it is:
the engine reads the caller's buffer, no copy (docs/python.md). Anything else
gets exactly one conversion, which is the documented cost:

* another real dtype (float32, integers such as uint8 pixels) -> float64
  (a CUDA tensor kept on its GPU is converted there);
* a non-contiguous view -> a C-contiguous copy;
* a GPU array in a call that runs elsewhere (another GPU, the CPU) -> one
  copy to the host; a JAX GPU array of another dtype than float64 -> one
  copy to the host.

Labels are always copied into int64 (N integers: small beside X).
"""

import numpy as np


def _torch_tensor(x):
    mod = type(x).__module__
    return mod.startswith("torch") and hasattr(x, "data_ptr")


def _jax_array(x):
    return type(x).__module__.startswith("jax") and hasattr(x, "devices")


def _cuda_device_of(x):
    """'cuda:i' when x lives on a GPU, else None."""
    if _torch_tensor(x) and x.is_cuda:
        return "cuda:%d" % x.device.index
    if _jax_array(x):
        devices = list(x.devices())
        if devices and devices[0].platform == "gpu":
            return "cuda:%d" % devices[0].id
    return None


def _shape_text(shape):
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _real_dtype(dtype, name):
    dtype = np.dtype(dtype)
    if dtype.kind not in "fiu":
        raise TypeError("%s: expected real numbers (float or integer), found dtype %s" % (name, dtype))


def same_gpu(run_device, data_device):
    """Whether a call on `run_device` ("cuda:i", "cuda", "auto", ...) runs on
    the GPU `data_device` ("cuda:i") holds: "cuda", and "auto" in a build
    with CUDA, take GPU 0 in a single process (backends.hpp)."""
    if data_device is None:
        return False
    if run_device == data_device:
        return True
    if data_device == "cuda:0" and run_device in ("cuda", "auto"):
        from . import _taylorscope

        return _taylorscope.cuda_available()[0]
    return False


def _synchronized(x):
    """x, with every write queued to it on its GPU complete: the engine reads
    it on streams of its own, which do not wait for PyTorch's or JAX's."""
    if _torch_tensor(x):
        import torch

        torch.cuda.synchronize(x.device)
    else:
        x.block_until_ready()
    return x


def as_values(x, name, ndim, expected, run_on=None):
    """x as an array the engine can read in place: float64, C-contiguous, of
    `ndim` dimensions, on the host -- or on the GPU it already lives on, when
    the call runs there (`run_on`, a device string: same_gpu). Returns
    (array, device) where device is 'cuda:i' when x came from a GPU."""
    device = _cuda_device_of(x)
    on_gpu = same_gpu(run_on, device)
    if _torch_tensor(x):
        import torch

        if x.is_complex() or x.dtype == torch.bool:
            raise TypeError("%s: expected real numbers (float or integer), found dtype %s" % (name, x.dtype))
        t = x.detach()
        if on_gpu:
            if t.dtype != torch.float64 or not t.is_contiguous():
                t = t.to(dtype=torch.float64).contiguous()  # stays on its GPU
        elif t.dtype != torch.float64 or t.device.type != "cpu" or not t.is_contiguous():
            t = t.to(device="cpu", dtype=torch.float64).contiguous()
        if t.dim() != ndim:
            raise ValueError("%s: expected shape %s, found %s" % (name, expected, _shape_text(tuple(t.shape))))
        return (_synchronized(t) if on_gpu else t), device
    if _jax_array(x) and (device is None or on_gpu) and x.dtype == np.float64:
        # A JAX array is immutable and exports DLPack: read in place (on the
        # host, or on its GPU when the call runs there).
        if x.ndim != ndim:
            raise ValueError("%s: expected shape %s, found %s" % (name, expected, _shape_text(x.shape)))
        return (_synchronized(x) if on_gpu else x), device
    a = np.asarray(x)
    _real_dtype(a.dtype, name)
    if a.ndim != ndim:
        raise ValueError("%s: expected shape %s, found %s" % (name, expected, _shape_text(a.shape)))
    if a.dtype != np.float64 or not a.flags.c_contiguous:
        a = np.ascontiguousarray(a, dtype=np.float64)
    return a, device


def as_labels(y, name="y"):
    """y as a 1-D int64 NumPy array (a copy unless it already is one)."""
    if _torch_tensor(y):
        y = y.detach().cpu().numpy()
    a = np.asarray(y)
    if a.dtype.kind not in "iu":
        if a.dtype.kind == "b" or a.dtype.kind not in "f":
            raise TypeError("%s: labels must be integers, found dtype %s" % (name, a.dtype))
        # Floats holding whole numbers (a label column read as float) are
        # labels; anything else is not.
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            raise TypeError("%s: labels must be integers, found non-integral values of dtype %s" % (name, a.dtype))
    if a.ndim != 1:
        raise ValueError("%s: labels must be 1-D, found shape %s" % (name, _shape_text(a.shape)))
    return np.ascontiguousarray(a, dtype=np.int64)
