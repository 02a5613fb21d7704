"""Training curves: how the loss and the error rate evolve, epoch by epoch, on both data sets."""
import numpy as np
from matplotlib.figure import Figure

CURVES = (("loss", "average loss"), ("error", "error rate"))


def plot_training_curves(history, title=None):
    """Loss (left) and error rate (right) per epoch, the training set against the test set.

    ``history`` has per-epoch lists ``train_loss``, ``test_loss``, ``train_error`` and
    ``test_error``, as attributes (e.g. ``softmax_regression.History``) or keys of a dict.
    """
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    for ax, (name, label) in zip(fig.subplots(1, 2), CURVES):
        for split in ("train", "test"):
            values = _series(history, f"{split}_{name}")
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return fig


def _series(history, name):
    return history[name] if isinstance(history, dict) else getattr(history, name)
