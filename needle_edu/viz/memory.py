"""Memory of training, measured with needle_edu.memory: what the graph holds during a training
step, how it grows with depth and batch size, and what gradient checkpointing trades for it."""
import gc
import math
import time

import numpy as np
from matplotlib.figure import Figure

from .. import init, nn
from ..autograd import Tensor
from ..checkpoint import checkpoint_sequential
from ..memory import MemoryTracker, graph_nbytes

MB = 2 ** 20


def deep_mlp(depth, width, device="numpy", dtype="float32", seed=0):
    """``depth`` blocks of Linear(width, width) and ReLU, as one Sequential."""
    init.manual_seed(seed)
    return nn.Sequential(*[m for _ in range(depth)
                           for m in (nn.Linear(width, width, device=device, dtype=dtype), nn.ReLU())])


def _batch(rows, width, device, dtype):
    x = np.random.default_rng(0).standard_normal((rows, width))
    return Tensor(x, device=device, dtype=dtype, requires_grad=False)


def activation_bytes(depth, batch, width=256, device="numpy", dtype="float32"):
    """The bytes the graph of a deep MLP's forward pass holds when its loss is computed."""
    model = deep_mlp(depth, width, device, dtype)
    return graph_nbytes(model(_batch(batch, width, device, dtype)).sum())


def training_step_timeline(model, x, y, loss_fn):
    """A MemoryTracker run over one step (forward, backward) and the number of forward ops."""
    for p in model.parameters():
        p.grad = None
    gc.collect()
    with MemoryTracker() as tracked:
        loss = loss_fn(model(x), y)
        forward_ops = len(tracked.timeline)
        loss.backward()
        del loss
    return tracked, forward_ops


def checkpoint_tradeoff(depth=64, width=256, batch=128, segments=(1, 2, 4, 8, 16, 32, 64),
                        device="numpy", dtype="float32"):
    """For each number of checkpointed segments: peak bytes of a training step, ops run, seconds.

    ``segments=1`` is no checkpointing (one plain block).
    """
    model, x = deep_mlp(depth, width, device, dtype), _batch(batch, width, device, dtype)
    model(x).sum().backward()  # a warm-up step: the first one also compiles and allocates
    rows = []
    for k in segments:
        for p in model.parameters():
            p.grad = None
        gc.collect()
        started = time.perf_counter()
        with MemoryTracker() as tracked:
            loss = (checkpoint_sequential(model, k, x) if k > 1 else model(x)).sum()
            loss.backward()
            del loss
        rows.append({"segments": k, "peak_bytes": tracked.peak, "ops": len(tracked.timeline),
                     "seconds": time.perf_counter() - started})
    return rows


def plot_memory_timeline(tracked, forward_ops, title=None):
    """Live op outputs (MB) after each op of a training step, forward then backward."""
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    ax = fig.subplots()
    live = np.array([b for _, b in tracked.timeline]) / MB
    ax.step(np.arange(len(live)), live, where="post", color="C0")
    ax.axvspan(0, forward_ops, color="C1", alpha=0.12, label="forward")
    ax.axvspan(forward_ops, len(live), color="C2", alpha=0.12, label="backward")
    ax.set_xlabel("op number in the step")
    ax.set_ylabel("live op outputs (MB)")
    ax.set_xlim(0, len(live))
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    ax.set_title(title or "memory held during one training step")
    return fig


def plot_activation_memory(depths, depth_bytes, batches, batch_bytes, batch, depth, width):
    """Graph memory against depth at batch size ``batch`` (left), and against batch size at
    ``depth`` (right), for blocks of ``width`` units."""
    fig = Figure(figsize=(9, 3.3), layout="constrained")
    left, right = fig.subplots(1, 2)
    for ax, xs, ys, label, title in (
            (left, depths, depth_bytes, "depth (Linear+ReLU blocks)", f"batch {batch}, width {width}"),
            (right, batches, batch_bytes, "batch size", f"depth {depth}, width {width}")):
        ax.plot(xs, np.array(ys) / MB, marker="o")
        ax.set_xlabel(label)
        ax.set_ylabel("graph memory (MB)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    return fig


def plot_checkpoint_tradeoff(rows, depth):
    """Peak memory (left) and the ops run, recomputation included (right), against the number
    of checkpointed segments."""
    fig = Figure(figsize=(9, 3.3), layout="constrained")
    left, right = fig.subplots(1, 2)
    k = np.array([r["segments"] for r in rows])
    left.plot(k, [r["peak_bytes"] / MB for r in rows], marker="o")
    left.set_ylabel("peak of a training step (MB)")
    right.plot(k, [r["ops"] / rows[0]["ops"] for r in rows], marker="o")
    right.set_ylabel("ops run, relative to no checkpointing")
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(k, [str(v) for v in k])
        ax.axvline(math.sqrt(depth), color="0.5", linestyle="--")
        ax.set_xlabel(f"segments (dashed: sqrt({depth}))")
        ax.grid(alpha=0.3)
    return fig
