"""GPU pictures: which thread of a launch handled which element of an array."""
import numpy as np
from matplotlib.figure import Figure


def plot_thread_map(owners, threads_per_block, title=None):
    """Each element of an array (a row of cells) colored by the block of the thread that
    handled it (``owners[i]`` is that thread's index in the grid) and numbered by the thread."""
    owners = np.asarray(owners)
    fig = Figure(figsize=(min(0.32 * owners.size + 1, 14), 1.6))
    ax = fig.add_subplot()
    ax.imshow((owners // threads_per_block)[None, :], cmap="tab10", aspect="auto", vmin=0, vmax=9)
    for i, owner in enumerate(owners):
        ax.text(i, 0, str(owner), ha="center", va="center", fontsize=7, color="white")
    ax.set_yticks([])
    ax.set_xticks(range(0, owners.size, 4))
    ax.set_xlabel("element")
    ax.set_title(title or "thread (in the grid) that handled each element; color: its block", fontsize=9)
    fig.tight_layout()
    return fig
