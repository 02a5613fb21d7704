"""Figures of sequence models: how far back a gradient reaches, perplexity during training, and
what an LSTM's gates do along a sentence. Each measures the model it is given."""
import numpy as np
from matplotlib.figure import Figure

from ..autograd import Tensor, no_grad


def gradient_by_distance(layer, steps=60, batch=8, seed=0):
    """The norm of d(last output)/d(input at step t) against the distance T - 1 - t, for a sequence
    layer (nn.RNN or nn.LSTM) on random inputs: how much the last step still hears of the past.

    Returns (distances, norms), norms averaged over the batch; the loss is the sum of the last
    output's entries, so the gradient at step t is the sum of d h_T / d x_t's rows.
    """
    rng = np.random.default_rng(seed)
    weight = layer.cells[0].weight
    x = Tensor(rng.standard_normal((steps, batch, layer.input_size)), device=weight.device, dtype=weight.dtype)
    output, _ = layer(x)
    output[steps - 1].sum().backward()
    grads = x.grad.numpy()
    norms = np.sqrt((grads ** 2).sum(axis=2)).mean(axis=1)
    return np.arange(steps)[::-1], norms


def plot_gradient_by_distance(layers, steps=60, seed=0):
    """``layers``: {label: sequence layer}. Gradient norm against distance in time, log scale."""
    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.add_subplot()
    for label, layer in layers.items():
        distances, norms = gradient_by_distance(layer, steps, seed=seed)
        ax.semilogy(distances, np.maximum(norms, 1e-30), marker=".", label=label)
    ax.set_xlabel("distance in time (steps before the last output)")
    ax.set_ylabel("‖d h_T / d x_t‖")
    ax.set_title("how far back the gradient reaches")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_perplexity(history, baseline=None, target=None, title="perplexity per character"):
    """Training and validation perplexity against training seconds (``train``'s history), with
    the unigram baseline and the target as horizontal lines when given."""
    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.add_subplot()
    ax.plot(history["seconds"], history["train_perplexity"], label="training (running)")
    ax.plot(history["seconds"], history["valid_perplexity"], marker=".", label="validation")
    for value, style, label in ((baseline, ":", "unigram baseline"), (target, "--", "target")):
        if value is not None:
            ax.axhline(value, linestyle=style, color="gray", label=f"{label} {value:.1f}")
    ax.set_yscale("log")
    ax.set_xlabel("training time (s)")
    ax.set_ylabel("perplexity")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def lstm_gates(model, corpus, text, units=16):
    """The first LSTM layer's gates of a language model along ``text``: a dict of arrays
    (len(text), units) for "input", "forget" and "output" (and the cell state "c"), for the first
    ``units`` units. The states come from running the model's own cell step by step; the gates
    are recomputed from its weights and those states."""
    cell = model.seq_model.cells[0]
    hidden = cell.hidden_size
    ids = corpus.dictionary.encode(list(text) if corpus.level == "char" else text.split())
    device, dtype = cell.weight.device, cell.weight.dtype
    weight = cell.weight.numpy().astype(np.float64)
    bias = np.zeros(weight.shape[1]) if cell.bias is None else cell.bias.numpy().astype(np.float64)
    found = {"input": [], "forget": [], "output": [], "c": []}
    state = None
    with no_grad():
        embedded = model.embedding(Tensor(ids.reshape(-1, 1).astype(np.float32), device=device, dtype=dtype,
                                          requires_grad=False))
        for t in range(len(ids)):
            step_input = embedded[t]
            h_before = np.zeros((1, hidden)) if state is None else state[0].numpy()
            gates = np.concatenate([step_input.numpy(), h_before], axis=1) @ weight + bias
            sigmoid = 1 / (1 + np.exp(-gates[0]))
            state = cell(step_input, state)
            for name, k in (("input", 0), ("forget", 1), ("output", 3)):
                found[name].append(sigmoid[k * hidden:k * hidden + units])
            found["c"].append(state[1].numpy()[0, :units])
    return {name: np.array(values) for name, values in found.items()}


def plot_lstm_gates(model, corpus, text, units=16):
    """Heat maps of the input, forget and output gates (0 to 1) and the cell state of ``units``
    units of the first LSTM layer, one column per token of ``text``."""
    gates = lstm_gates(model, corpus, text, units)
    labels = list(text) if corpus.level == "char" else text.split()
    fig = Figure(figsize=(max(6.4, 0.16 * len(labels) + 1.5), 7.2))
    axes = fig.subplots(4, 1, sharex=True)
    for ax, name in zip(axes, ("input", "forget", "output", "c")):
        values = gates[name].T
        limits = dict(vmin=0, vmax=1, cmap="viridis") if name != "c" else dict(cmap="RdBu_r", vmin=-np.abs(values).max(),
                                                                                 vmax=np.abs(values).max())
        image = ax.imshow(values, aspect="auto", interpolation="nearest", **limits)
        ax.set_ylabel("unit")
        ax.set_title(f"{name} gate" if name != "c" else "cell state c", fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.02, pad=0.01)
    axes[-1].set_xticks(range(len(labels)))
    axes[-1].set_xticklabels(["⏎" if c == "\n" else ("␣" if c == " " else c) for c in labels], fontsize=7)
    fig.tight_layout()
    return fig
