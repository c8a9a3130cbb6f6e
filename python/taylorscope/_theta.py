"""θ = (U, W, b, c) of f(z) = U σ(W z + b) + c, from whatever holds it."""

from ._arrays import as_values, _shape_text

_PARTS = (("U", 2, "(M, H)"), ("W", 2, "(H, E)"), ("b", 1, "(H,)"), ("c", 1, "(M,)"))


class Theta:
    """θ as four arrays: U (M×H), W (H×E), b (H,), c (M,)."""

    __slots__ = ("U", "W", "b", "c")

    def __init__(self, U, W, b, c):
        self.U, self.W, self.b, self.c = U, W, b, c

    def __getitem__(self, name):
        if name not in ("U", "W", "b", "c"):
            raise KeyError(name)
        return getattr(self, name)

    def keys(self):
        return ("U", "W", "b", "c")

    @property
    def shape(self):
        """(M, H, E)."""
        return (self.U.shape[0], self.U.shape[1], self.W.shape[1])

    def __repr__(self):
        M, H, E = self.shape
        return "Theta(M=%d, H=%d, E=%d)" % (M, H, E)


def _part(theta, name):
    if hasattr(theta, "keys"):  # a dict, a Theta, a flax FrozenDict
        try:
            return theta[name]
        except KeyError:
            raise TypeError("theta: a mapping without '%s' (theta needs U, W, b and c)" % name) from None
    try:
        return getattr(theta, name)
    except AttributeError:
        raise TypeError("theta: %s has no '%s' (theta needs U, W, b and c: a mapping, an object, "
                        "from_torch(module) or from_flax(params))" % (type(theta).__name__, name)) from None


def theta_arrays(theta):
    """(U, W, b, c) made engine-ready (float64, contiguous, host), and the
    device the first of them lived on (None, or 'cuda:i')."""
    if theta is None:
        raise TypeError("theta: expected U, W, b and c, got None")
    out, device = [], None
    for name, ndim, expected in _PARTS:
        a, d = as_values(_part(theta, name), "theta." + name, ndim, expected)
        out.append(a)
        device = device or d
    return tuple(out), device


def _linear_layers(module):
    import torch

    layers = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
    if len(layers) != 2:
        raise ValueError("from_torch: expected a module with exactly two nn.Linear layers "
                         "(z -> hidden -> classes), found %d" % len(layers))
    return layers


def from_torch(module):
    """θ of a two-layer torch module (nn.Linear, activation, nn.Linear, as in
    nn.Sequential): W, b from the first layer, U, c from the second. The
    tensors are detached, not copied (float64 CPU parameters are read in
    place)."""
    first, second = _linear_layers(module)
    if first.bias is None or second.bias is None:
        raise ValueError("from_torch: both nn.Linear layers need a bias (b and c)")
    if second.in_features != first.out_features:
        raise ValueError("from_torch: the second layer takes %d inputs, the first gives %d"
                         % (second.in_features, first.out_features))
    return Theta(U=second.weight.detach(), W=first.weight.detach(), b=first.bias.detach(), c=second.bias.detach())


def from_flax(params):
    """θ of a two-layer flax.linen module (two nn.Dense): its params, with or
    without the outer {"params": …}. Flax keeps kernels as (in, out), so W and
    U are the transposes (one copy each, made contiguous later)."""
    tree = params.get("params", params) if hasattr(params, "get") else params
    dense = [k for k in tree if "kernel" in tree[k]] if hasattr(tree, "keys") else []
    if len(dense) != 2:
        raise ValueError("from_flax: expected params of exactly two Dense layers, found %d "
                         "(keys: %s)" % (len(dense), ", ".join(map(str, getattr(tree, "keys", lambda: [])()))))
    # Flax names them Dense_0, Dense_1 (or as the user chose): the order the
    # module declared them is the order of the dict.
    first, second = tree[dense[0]], tree[dense[1]]
    if "bias" not in first or "bias" not in second:
        raise ValueError("from_flax: both Dense layers need a bias (b and c)")
    k1, k2 = first["kernel"], second["kernel"]
    if k2.shape[0] != k1.shape[1]:
        raise ValueError("from_flax: the second layer's kernel is %s, the first's %s: they do not chain"
                         % (_shape_text(k2.shape), _shape_text(k1.shape)))
    return Theta(U=k2.T, W=k1.T, b=first["bias"], c=second["bias"])
