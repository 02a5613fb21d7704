"""The strides picture: a 2-D view as a grid over the flat buffer it reads, each element
numbered by where it lies in that buffer."""
import numpy as np
from matplotlib.figure import Figure


def view_offsets(shape, strides, offset):
    """The buffer index of every element of the view ``(shape, strides, offset)``, as an array."""
    index = np.full(shape, offset, dtype=np.int64)
    for axis, (size, stride) in enumerate(zip(shape, strides)):
        steps = np.arange(size) * stride
        index += steps.reshape((1,) * axis + (size,) + (1,) * (len(shape) - axis - 1))
    return index


def plot_strides(buffer_size, views):
    """Top: a flat buffer of ``buffer_size`` elements; below, one grid per ``(title, shape,
    strides, offset)`` of ``views`` (2-D), each cell showing the buffer index it reads, colored
    by it, so the same color means the same memory."""
    fig = Figure(figsize=(2.2 * max(len(views), 1) + 1, 4.2))
    grid = fig.add_gridspec(2, len(views), height_ratios=[1, 3])
    colors = np.linspace(0, 1, buffer_size)
    top = fig.add_subplot(grid[0, :])
    top.imshow(colors[None, :], cmap="viridis", aspect="auto", vmin=0, vmax=1)
    for i in range(buffer_size):
        top.text(i, 0, str(i), ha="center", va="center", fontsize=7, color="white")
    top.set_yticks([])
    top.set_xticks([])
    top.set_title(f"the buffer: {buffer_size} elements in memory", fontsize=9)
    for column, (title, shape, strides, offset) in enumerate(views):
        ax = fig.add_subplot(grid[1, column])
        index = view_offsets(shape, strides, offset)
        ax.imshow(colors[index], cmap="viridis", vmin=0, vmax=1)
        for (r, c), value in np.ndenumerate(index):
            ax.text(c, r, str(value), ha="center", va="center", fontsize=8, color="white")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{title}\nshape {tuple(shape)} strides {tuple(strides)} offset {offset}", fontsize=8)
    fig.tight_layout()
    return fig
