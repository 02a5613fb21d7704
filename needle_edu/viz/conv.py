"""Figures of convolutions: im2col (an image's patches becoming the rows of a matrix), learned
filters, feature maps of one image through a network, and the loss during training."""
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..autograd import Tensor, no_grad
from ..backend_ndarray import NDArray

PATCH_COLORS = ("tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple")


def _im2col_matrix(image, kernel_size, stride, im2col):
    """The (patches, K * K) matrix of a 2-D ``image``, made by ``im2col`` (e.g. ops.im2col)."""
    h, w = image.shape
    array = NDArray(np.asarray(image, dtype="float32").reshape(1, h, w, 1), device="numpy")
    patches = im2col(array, (kernel_size, kernel_size), stride).numpy()
    _, h_out, w_out = patches.shape[:3]
    return patches.reshape(h_out * w_out, kernel_size * kernel_size), (h_out, w_out)


def plot_im2col(image, kernel_size=3, stride=1, im2col=None, highlight=(0, 1, 5)):
    """Left: ``image`` with a few K x K patches outlined; right: the im2col matrix, one row per
    patch (its K * K pixels read row by row), the same patches' rows outlined in the same colors.

    ``im2col`` defaults to ``needle_edu.ops.im2col``; pass your own to draw it.
    """
    if im2col is None:
        from ..ops import im2col
    image = np.asarray(image, dtype="float32")
    matrix, (h_out, w_out) = _im2col_matrix(image, kernel_size, stride, im2col)
    fig = Figure(figsize=(9, 4.5), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=(1, 1.2))
    left.imshow(image, cmap="viridis")
    left.set_title(f"image {image.shape[0]}x{image.shape[1]}, {kernel_size}x{kernel_size} patches, "
                   f"stride {stride}", fontsize=9)
    right.imshow(matrix, cmap="viridis", aspect="auto", interpolation="nearest")
    right.set_title(f"im2col: {matrix.shape[0]} patches x {matrix.shape[1]} pixels", fontsize=9)
    right.set_xlabel("pixel of the patch")
    right.set_ylabel("patch (row-major over output positions)")
    for color, row in zip(PATCH_COLORS, highlight):
        if row >= len(matrix):
            continue
        i, j = divmod(row, w_out)
        left.add_patch(Rectangle((j * stride - 0.5, i * stride - 0.5), kernel_size, kernel_size,
                                 fill=False, edgecolor=color, linewidth=2.5))
        right.add_patch(Rectangle((-0.5, row - 0.5), kernel_size * kernel_size, 1,
                                  fill=False, edgecolor=color, linewidth=2.5))
    for axes in (left, right):
        axes.tick_params(labelsize=7)
    return fig


def plot_filters(weight, columns=8, title=None):
    """Each output channel's kernel, (K, K, C_in, C_out) weights: channel 0 of its input, one
    small image per filter, blue negative and red positive on a scale centered at zero."""
    weight = weight.numpy() if hasattr(weight, "numpy") else np.asarray(weight)
    k, _, _, c_out = weight.shape
    rows = -(-c_out // columns)
    fig = Figure(figsize=(1.1 * columns, 1.1 * rows + 0.4), layout="constrained")
    grid = np.atleast_2d(fig.subplots(rows, columns))
    bound = float(np.abs(weight[:, :, 0, :]).max()) or 1.0
    for index, axes in enumerate(grid.flat):
        axes.axis("off")
        if index < c_out:
            axes.imshow(weight[:, :, 0, index], cmap="RdBu_r", vmin=-bound, vmax=bound)
            axes.set_title(str(index), fontsize=7)
    fig.suptitle(title or f"{c_out} learned {k}x{k} filters", fontsize=10)
    return fig


def feature_maps(layers, image, device=None):
    """The output of each layer in ``layers`` (applied in order) for one image (C, H, W):
    a list of (layer name, numpy array (channels, H, W)); 2-D outputs are skipped."""
    x = Tensor(np.asarray(image, dtype="float32")[None], device=device, requires_grad=False)
    found = []
    with no_grad():
        for layer in layers:
            x = layer(x)
            if x.ndim == 4:
                found.append((type(layer).__name__, x.numpy()[0]))
    return found


def plot_feature_maps(layers, image, channels=6, device=None):
    """One image through ``layers`` (e.g. a Sequential's layers): its first ``channels`` feature
    maps after each layer that outputs images, one row per layer."""
    maps = feature_maps(layers, image, device)
    fig = Figure(figsize=(1.3 * (channels + 1), 1.3 * len(maps) + 0.3), layout="constrained")
    grid = np.atleast_2d(fig.subplots(len(maps), channels + 1))
    for (name, values), row in zip(maps, grid):
        row[0].imshow(np.asarray(image)[0], cmap="gray_r")
        row[0].set_title("input", fontsize=7)
        row[0].set_ylabel(name, fontsize=7)
        for c, axes in enumerate(row[1:]):
            if c < len(values):
                axes.imshow(values[c], cmap="magma")
                axes.set_title(f"{name} {c} ({values.shape[1]}x{values.shape[2]})", fontsize=6)
        for axes in row:
            axes.set_xticks([])
            axes.set_yticks([])
    return fig


def plot_loss_curve(losses, window=20, title=None, test_accuracy=None):
    """The training loss of each minibatch (faint) and its running mean over ``window`` batches."""
    losses = np.asarray(losses, dtype=float)
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    axes = fig.subplots()
    axes.plot(np.arange(1, len(losses) + 1), losses, alpha=0.25, label="minibatch")
    if len(losses) >= window:
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        axes.plot(np.arange(window, len(losses) + 1), smooth, label=f"mean of {window}")
    axes.set_xlabel("minibatch")
    axes.set_ylabel("training loss")
    axes.set_yscale("log")
    axes.grid(alpha=0.3)
    axes.legend()
    if title or test_accuracy is not None:
        extra = f" (test accuracy {test_accuracy:.1%})" if test_accuracy is not None else ""
        axes.set_title((title or "training") + extra, fontsize=10)
    return fig
