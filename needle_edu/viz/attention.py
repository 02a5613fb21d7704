"""Figures of attention: the weights of every head as token-by-token maps, positional encodings,
and the learning curves of language models side by side."""
import numpy as np
from matplotlib.figure import Figure


def plot_attention_maps(weights, tokens, title="attention weights", layer_names=None):
    """One map per head and layer: row i shows how query token i spreads its attention over the keys.

    ``weights``: a list (one per layer) of arrays (H, T, T), or (1, H, T, T) for a batch of one;
    ``tokens``: the T tokens (characters or words) labelling the axes.
    """
    layers = [np.asarray(w)[0] if np.ndim(w) == 4 else np.asarray(w) for w in weights]
    heads = layers[0].shape[0]
    fig = Figure(figsize=(3.4 * heads + 0.8, 3.4 * len(layers) + 0.5), layout="constrained")
    axes = fig.subplots(len(layers), heads, squeeze=False)
    labels = [repr(t)[1:-1] if len(str(t)) == 1 else str(t) for t in tokens]
    for i, layer in enumerate(layers):
        for h in range(heads):
            ax = axes[i, h]
            image = ax.imshow(layer[h], cmap="viridis", vmin=0, vmax=1)
            ax.set_title(f"{layer_names[i] if layer_names else f'layer {i + 1}'}, head {h + 1}", fontsize=9)
            ax.set_xticks(range(len(labels)), labels, fontsize=6, family="monospace")
            ax.set_yticks(range(len(labels)), labels, fontsize=6, family="monospace")
    fig.colorbar(image, ax=axes, shrink=0.6, label="weight")
    fig.suptitle(f"{title} (rows: queries, columns: keys)")
    return fig


def plot_positional_encoding(table, title="sinusoidal positional encoding"):
    """The encoding ``table`` (positions, dim) as an image, and the dot products of every position's
    vector with every other's: they depend on the distance between positions, not where they are."""
    table = np.asarray(table)
    fig = Figure(figsize=(11, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    image = left.imshow(table, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1)
    left.set(xlabel="feature", ylabel="position", title=title)
    fig.colorbar(image, ax=left)
    similarity = right.imshow(table @ table.T, cmap="viridis")
    right.set(xlabel="position", ylabel="position", title="dot product of two positions' encodings")
    fig.colorbar(similarity, ax=right)
    return fig


def plot_learning_curves(histories, title="validation perplexity against training time"):
    """Perplexity against training seconds for each model of ``histories`` ({name: history}, each
    history a dict with lists "seconds", "train_perplexity" and "valid_perplexity"), on one axis."""
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    for (name, history), color in zip(histories.items(), ["C0", "C1", "C2", "C3"]):
        ax.plot(history["seconds"], history["valid_perplexity"], color=color, marker="o", ms=3,
                label=f"{name}, validation ({history['valid_perplexity'][-1]:.2f} at the end)")
        ax.plot(history["seconds"], history["train_perplexity"], color=color, ls="--", alpha=0.6,
                label=f"{name}, training")
    ax.set_yscale("log")
    ax.set(xlabel="training time (s)", ylabel="perplexity per token", title=title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return fig
