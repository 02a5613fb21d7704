"""needle_edu.memory: the bytes the graph holds, counted from outside the graph, against the
sizes of the arrays numpy says the same computation makes."""
import gc

import numpy as np
import pytest

import needle_edu as ndl
from needle_edu import memory, nn


def leaf(shape, dtype="float64", requires_grad=True):
    return ndl.Tensor(np.ones(shape), device=ndl.cpu_numpy(), dtype=dtype, requires_grad=requires_grad)


def test_graph_nbytes_counts_each_op_output_once():
    x = leaf((100, 30))
    y = ndl.ops.tanh(x)            # 100*30 float64
    z = (y * 2.0).sum()            # 100*30, then one
    assert memory.graph_nbytes(z) == (3000 + 3000 + 1) * 8
    assert memory.graph_nbytes(z, include_leaves=True) == (3000 + 3000 + 3000 + 1) * 8


def test_views_that_share_a_buffer_count_once():
    x = leaf((20, 10), dtype="float32")
    y = ndl.ops.relu(x)
    views = [y.reshape((200,)), y.reshape((10, 20))]  # reshapes of a compact array are views
    assert {id(v.cached_data._handle) for v in views} == {id(y.cached_data._handle)}
    assert memory.graph_nbytes(*views) == 200 * 4


def test_a_graph_under_no_grad_holds_nothing():
    x = leaf((50, 50))
    with ndl.no_grad():
        y = ndl.ops.exp(x) * 3.0
    assert y.op is None and memory.graph_nbytes(y) == 0


def test_tracker_follows_live_bytes_and_the_peak():
    x = leaf((1000,))
    with memory.MemoryTracker() as tracked:
        a = ndl.ops.exp(x)          # 8000 bytes alive
        b = a * 2.0                 # 16000
        del a                       # still referenced by b's graph: nothing freed
        c = b.sum()                 # 16008
        del b, c
        gc.collect()
        d = ndl.ops.tanh(x)         # everything before is gone: 8000
    assert [name for name, _ in tracked.timeline] == ["Exp", "MulScalar", "Summation", "Tanh"]
    assert [live for _, live in tracked.timeline] == [8000, 16000, 16008, 8000]
    assert tracked.peak == 16008
    assert tracked.live == 8000
    del d
    gc.collect()
    assert tracked.live == 0


def test_tracker_restores_the_ops_it_watched():
    call = ndl.autograd.TensorOp.__call__
    with pytest.raises(RuntimeError):
        with memory.MemoryTracker():
            raise RuntimeError("inside")
    assert ndl.autograd.TensorOp.__call__ is call


def test_a_training_step_holds_activations_that_grow_with_depth():
    """The forward pass of an MLP keeps, per layer, the product, the bias sum and the activation."""
    def held(depth, batch=32, width=64):
        ndl.init.manual_seed(0)
        layers = [nn.Linear(width, width, dtype="float64", device=ndl.cpu_numpy()) for _ in range(depth)]
        model = nn.Sequential(*[m for layer in layers for m in (layer, nn.ReLU())])
        return memory.graph_nbytes(model(leaf((batch, width), requires_grad=False)).sum())

    # x @ W, the bias added, the ReLU: three (32, 64) float64 arrays a layer (the broadcast
    # bias is a view of the parameter, not activation memory); the sum at the end: 8 bytes.
    for depth in (1, 2, 5):
        assert held(depth) == depth * 3 * 32 * 64 * 8 + 8
    assert held(2, batch=64) == 2 * 3 * 64 * 64 * 8 + 8


def test_the_book_figures_measure_what_they_claim():
    from needle_edu.viz.memory import activation_bytes, checkpoint_tradeoff
    from needle_edu.viz.parallelism import pipeline_schedule

    # three (batch, width) float32 arrays a block, and the final sum
    assert activation_bytes(5, 16, 8) == 5 * 3 * 16 * 8 * 4 + 4
    # 36 blocks of 3 arrays; k segments keep k - 1 checkpoints, the last segment's graph and one
    # recomputed segment: k - 1 + 2 * 3 * 36 / k arrays, least near sqrt(6 * 36) ~ 15 segments.
    rows = checkpoint_tradeoff(depth=36, width=8, batch=64, segments=(1, 12, 36))
    peaks = [r["peak_bytes"] for r in rows]
    assert peaks[1] < peaks[2] < peaks[0]
    assert rows[0]["ops"] < rows[1]["ops"] < rows[2]["ops"]  # recomputation costs ops
    stages, micro = 4, 3
    slots = pipeline_schedule(stages, micro)
    assert len(slots) == 2 * stages * micro
    assert len({(s, t) for s, t, _, _ in slots}) == len(slots)  # a device does one thing at a time
    span = max(t for _, t, _, _ in slots) + 1
    assert 1 - 2 * micro / span == (stages - 1) / (micro + stages - 1)  # the bubble
