"""How signals and gradients keep (or lose) their size through a deep network at initialization,
and how far each layer's weights move from their initial values during training.

A deep ReLU network of width n whose weights are drawn with variance s/n multiplies the squared
size of its activations by about s/2 per layer: s = 2 (Kaiming) keeps it, s < 2 shrinks it
geometrically, s > 2 blows it up.
"""
import numpy as np
from matplotlib.figure import Figure

from .. import init, nn, ops
from ..autograd import Tensor
from ..nn import Parameter


def layer_norms(initializer, depth=50, width=100, batch=64, seed=0, normalization=None):
    """Per layer of a ``depth``-layer ReLU network (no biases) whose weights are
    ``initializer(width, width)``: the activations' and the weight gradients' norms.
    ``normalization``: None, ``"layernorm"`` or ``"batchnorm"``, a normalization layer (in
    training mode) between each linear layer and its ReLU.

    Returns ``{"activation": [...], "gradient": [...]}``, ``depth`` numbers each: the
    root-mean-square over the batch of each layer's output norm, and the norm of
    d loss / d W_i for the loss sum(output * r), r a fixed random direction.
    """
    init.manual_seed(seed)
    rng = np.random.default_rng(seed)
    weights = [Parameter(initializer(width, width).astype("float64").to("numpy")) for _ in range(depth)]
    x = Tensor(rng.standard_normal((batch, width)), device="numpy", dtype="float64", requires_grad=False)
    kinds = {None: None, "layernorm": nn.LayerNorm1d, "batchnorm": nn.BatchNorm1d}
    if normalization not in kinds:
        raise ValueError(f"layer_norms: normalization is None, 'layernorm' or 'batchnorm', got {normalization!r}")
    norms = [kinds[normalization](width, device="numpy", dtype="float64") if normalization else None
             for _ in weights]
    activations = []
    for w, norm in zip(weights, norms):
        x = x @ w
        x = ops.relu(norm(x) if norm else x)
        activations.append(float(np.sqrt((x.numpy() ** 2).sum() / batch)))
    direction = Tensor(rng.standard_normal((batch, width)), device="numpy", dtype="float64", requires_grad=False)
    (x * direction).sum().backward()
    gradients = [float(np.linalg.norm(w.grad.numpy())) for w in weights]
    return {"activation": activations, "gradient": gradients}


def plot_layer_norms(results, title=None):
    """Activation norms (left) and weight-gradient norms (right) against the layer, one curve per
    entry of ``results`` (label -> what ``layer_norms`` returned), on a log scale."""
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    panels = (("activation", "activation norm"), ("gradient", "gradient norm of W"))
    for ax, (key, label) in zip(fig.subplots(1, 2), panels):
        for name, found in results.items():
            values = np.asarray(found[key], dtype=float)
            ax.plot(np.arange(1, len(values) + 1), np.where(values > 0, values, np.nan), label=name)
        ax.set_yscale("log")
        ax.set_xlabel("layer")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
    fig.axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


class WeightTracker:
    """Records, for each named weight, ||W - W_0|| / ||W_0||: how far training moved it,
    relative to its size at initialization. Call ``record()`` every so often while training."""

    def __init__(self, named_weights):
        self.weights = dict(named_weights)
        self.initial = {name: w.numpy().copy() for name, w in self.weights.items()}
        self.history = {name: [0.0] for name in self.weights}

    def record(self):
        for name, w in self.weights.items():
            start = self.initial[name]
            self.history[name].append(float(np.linalg.norm(w.numpy() - start) / np.linalg.norm(start)))


def plot_weight_changes(history, every=1, title=None):
    """One curve per weight (``history``: name -> relative changes, recorded each ``every`` steps)."""
    fig = Figure(figsize=(6.5, 3.6), layout="constrained")
    ax = fig.subplots()
    for name, values in history.items():
        ax.plot(np.arange(len(values)) * every, values, label=name)
    ax.set_xlabel("training step")
    ax.set_ylabel("‖W − W₀‖ / ‖W₀‖")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig
