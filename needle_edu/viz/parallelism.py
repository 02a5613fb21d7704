"""Diagrams of the ways to spread training over several devices: data, model and pipeline parallelism."""
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch


def _box(ax, x, y, w, h, text, colour, fontsize=9):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02", facecolor=colour, edgecolor="0.3"))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, start, end, text=None):
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="-|>", color="0.35"))
    if text:
        ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.08, text, ha="center", fontsize=8)


def plot_parallelism(devices=3, layers=3):
    """Data parallelism (left: every device the whole model, a slice of the batch, gradients
    averaged by an allreduce) beside model parallelism (right: every device some layers)."""
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    for d in range(devices):
        x = d * 1.3
        _box(left, x, 2.2, 1.0, 0.45, f"batch slice {d + 1}", "#cfe2f3")
        for j in range(layers):
            _box(left, x, 1.5 - 0.5 * j, 1.0, 0.4, f"layer {j + 1}", "#fde9c9", 8)
        _arrow(left, (x + 0.5, 2.2), (x + 0.5, 1.92))
    _box(left, 0, -0.15, devices * 1.3 - 0.3, 0.4, "allreduce: average the gradients", "#d9ead3")
    left.set_title("data parallel: a replica of the model per device")
    for j in range(layers):
        x = j * 1.5
        _box(right, x, 1.0, 1.1, 0.5, f"device {j + 1}\nlayer {j + 1}", "#fde9c9")
        if j:
            _arrow(right, (x - 0.4, 1.35), (x, 1.35), "activations")
            _arrow(right, (x, 1.15), (x - 0.4, 1.15))
    _box(right, -1.3, 1.0, 0.9, 0.5, "batch", "#cfe2f3")
    _arrow(right, (-0.4, 1.25), (0, 1.25))
    right.text(1.5 * (layers - 1) / 2 + 0.55, 0.75, "gradients flow back the same way", ha="center", fontsize=8)
    right.set_title("model parallel: each device some of the layers")
    for ax, (xlim, ylim) in ((left, ((-0.2, devices * 1.3), (-0.3, 2.8))),
                             (right, ((-1.5, layers * 1.5), (0.5, 1.9)))):
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        ax.set_axis_off()
    return fig


def pipeline_schedule(stages, microbatches):
    """GPipe's schedule: [(stage, start, "F" or "B", microbatch)], one time unit a pass.

    Stage s runs forward pass m at time s + m; after the last forward pass the backward passes
    run in reverse order of stages. The idle fraction (the bubble) is (S - 1) / (M + S - 1).
    """
    slots = [(s, s + m, "F", m) for s in range(stages) for m in range(microbatches)]
    end_forward = stages + microbatches - 1
    slots += [(s, end_forward + (stages - 1 - s) + m, "B", m) for s in range(stages) for m in range(microbatches)]
    return slots


def plot_pipeline_schedule(stages=4, microbatches=(1, 4)):
    """The pipeline's timeline for each number of micro-batches: forward (F) and backward (B)
    passes of each micro-batch on each stage, and the idle bubble."""
    fig = Figure(figsize=(10, 1.2 + 1.1 * stages * len(microbatches) / 2), layout="constrained")
    axes = fig.subplots(len(microbatches), 1, squeeze=False)[:, 0]
    for ax, m in zip(axes, microbatches):
        slots = pipeline_schedule(stages, m)
        for stage, start, kind, micro in slots:
            ax.add_patch(FancyBboxPatch((start + 0.05, stage + 0.1), 0.9, 0.8, boxstyle="square,pad=0",
                                        facecolor="#fde9c9" if kind == "F" else "#cfe2f3", edgecolor="0.4"))
            ax.text(start + 0.5, stage + 0.5, f"{kind}{micro + 1}", ha="center", va="center", fontsize=8)
        total = max(start for _, start, _, _ in slots) + 1
        bubble = (stages - 1) / (m + stages - 1)
        ax.set_xlim(0, total)
        ax.set_ylim(stages, 0)
        ax.set_yticks([s + 0.5 for s in range(stages)], [f"device {s + 1}" for s in range(stages)])
        ax.set_xlabel("time (one forward or backward pass of one stage)")
        ax.set_title(f"{m} micro-batch{'es' if m > 1 else ''}: idle fraction (S-1)/(M+S-1) = {bubble:.0%}")
    return fig
