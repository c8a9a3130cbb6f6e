"""Train a softmax MLP in PyTorch, expand its action here, plot the result.

A notebook-style walk through the Python package (docs/python.md): each
"# %%" block is a cell. Run it as a script:

    PYTHONPATH=build/python .venv/bin/python examples/torch_expand.py --out example-out

(or with the package installed by `pip install .`). It trains
784-H-10 (SiLU) on Fashion-MNIST's training split with PyTorch's SGD, hands
the trained nn.Module to taylorscope without exporting anything, and plots
S_k(θ) and the partial sums Σ_{j≤k} S_j against S(θ) computed directly.
"""

# %% Settings
import argparse
import os

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", required=True, help="a new directory for the plot and the report (refused if it exists)")
parser.add_argument("--hidden", type=int, default=64)
parser.add_argument("--limit", type=int, default=600, help="training samples per class (6000 = the whole split)")
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--order", type=int, default=12)
args = parser.parse_args()
# Never write into a directory this run did not create.
os.makedirs(args.out, exist_ok=False)

import json

import matplotlib

matplotlib.use("Agg")  # a script: draw to a file, no window
import matplotlib.pyplot as plt
import numpy as np
import torch

import taylorscope as ts

torch.manual_seed(0)

# %% Data: the engine's own loader, as NumPy arrays (pixels / 255, float64)
X, y = ts.datasets.fashion_mnist("train", limit=args.limit)
Xt, yt = torch.from_numpy(X), torch.from_numpy(y)  # views of the same memory
print("data: X %s, y %s" % (X.shape, y.shape))

# %% Train in PyTorch, float64 so that θ reaches the engine without a conversion
model = torch.nn.Sequential(torch.nn.Linear(784, args.hidden), torch.nn.SiLU(),
                            torch.nn.Linear(args.hidden, 10)).double()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(args.epochs):
    perm = torch.randperm(len(yt))
    for i in range(0, len(yt), 50):
        idx = perm[i:i + 50]
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(Xt[idx]), yt[idx])
        loss.backward()
        opt.step()
    with torch.no_grad():
        full = torch.nn.functional.cross_entropy(model(Xt), yt).item()
    print("epoch %d: training loss %.4f" % (epoch + 1, full))

# %% Expand S(tθ) = Σ_k t^k S_k(θ) around θ = 0, on the tensors PyTorch holds
theta = ts.from_torch(model)
r = ts.expand(Xt, yt, theta, order=args.order, activation="silu", device="cpu")
print(r)
print("S(θ) direct %.6f, partial sum to order %d: %.6f, radius estimate %s"
      % (r.S_direct, args.order, r.partial_sums[-1], r.radius.get("estimate")))
# The engine's loss at θ is PyTorch's (mean cross-entropy), to rounding.
assert abs(r.S_direct - full) <= 1e-9 * max(1.0, abs(full)), (r.S_direct, full)

# %% Plot |S_k| and the partial sums against S(θ)
k = np.arange(len(r.S_k))
fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
a.semilogy(k, np.abs(r.S_k), "o-")
a.set(xlabel="order k", ylabel="|S_k(θ)|", title="Taylor coefficients of S(tθ)")
b.plot(k, r.partial_sums, "o-", label=r"$\sum_{j \leq k} S_j$")
b.axhline(r.S_direct, color="k", ls="--", label="S(θ) direct")
b.set(xlabel="order k", ylabel="loss", title="partial sums at t = 1")
b.legend()
fig.tight_layout()
png = os.path.join(args.out, "expansion.png")
fig.savefig(png, dpi=100)
with open(os.path.join(args.out, "expand-report.json"), "w") as f:
    json.dump(r.to_dict(), f, indent=2)
print("plot written to", png)
