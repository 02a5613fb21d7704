"""Hidden units of a network's first layer, seen as the images that excite them most."""
import numpy as np

from .images import plot_image_grid


def plot_hidden_units(W1, count=20, initial=None, image_shape=(28, 28), ncols=10):
    """The input weights of the first ``count`` hidden units, columns of ``W1`` (n, d), as images.

    Red pixels raise the unit's input and blue ones lower it. Given ``initial``, the weights at the
    start of training, it draws ``W1 - initial``: what training changed, without the random start.
    """
    W1 = np.asarray(W1) if initial is None else np.asarray(W1) - np.asarray(initial)
    units = range(min(count, W1.shape[1]))
    return plot_image_grid([W1[:, j].reshape(image_shape) for j in units],
                           [f"unit {j}" for j in units], ncols=ncols, cmap="RdBu_r", symmetric=True)
