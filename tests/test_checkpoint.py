"""Gradient checkpointing: the same gradients as without it (float64, to rounding), with less
graph memory, measured by needle_edu.memory; errors for what it cannot take."""
import gc

import numpy as np
import pytest

import needle_edu as ndl
from needle_edu import init, memory, nn

DEVICE = ndl.cpu_numpy()


def deep_mlp(depth, width=32, dropout=0.0, batchnorm=False, seed=0):
    init.manual_seed(seed)
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width, device=DEVICE, dtype="float64"), nn.Tanh()]
        if batchnorm:
            layers.append(nn.BatchNorm1d(width, device=DEVICE, dtype="float64"))
        if dropout:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def batch(rows=16, width=32, seed=1):
    x = np.random.default_rng(seed).standard_normal((rows, width))
    return ndl.Tensor(x, device=DEVICE, dtype="float64", requires_grad=True)


def gradients(model, x, run):
    """Loss, parameter gradients and input gradient of ``run(model, x)``'s squared sum."""
    for p in model.parameters():
        p.grad = None
    x.grad = None
    init.manual_seed(7)  # the same dropout masks for every run
    loss = (run(model, x) ** 2).sum()
    loss.backward()
    return loss.item(), [p.grad.numpy() for p in model.parameters()], x.grad.numpy()


def plain(model, x):
    return model(x)


@pytest.mark.parametrize("run", [
    lambda m, x: ndl.checkpoint(m, x),
    lambda m, x: nn.Checkpoint(m)(x),
    lambda m, x: ndl.checkpoint_sequential(m, 3, x),
    lambda m, x: ndl.checkpoint_sequential(m.layers, len(m), x),
], ids=["checkpoint", "Checkpoint-module", "sequential-3", "every-layer"])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_the_same_gradients_as_without_checkpointing(run, dropout):
    model, x = deep_mlp(6, dropout=dropout), batch()
    loss, param_grads, x_grad = gradients(model, x, plain)
    loss_ckpt, param_grads_ckpt, x_grad_ckpt = gradients(model, x, run)
    assert loss_ckpt == pytest.approx(loss, rel=1e-14)
    np.testing.assert_allclose(x_grad_ckpt, x_grad, rtol=1e-12, atol=1e-14)
    assert len(param_grads_ckpt) == len(param_grads) == 12
    for got, want in zip(param_grads_ckpt, param_grads):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_batchnorm_statistics_are_updated_once():
    """Recomputing in backward must not move BatchNorm's running averages a second time."""
    model, x = deep_mlp(3, batchnorm=True), batch()
    gradients(model, x, plain)
    once = [m.running_mean.numpy() for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
    model_ckpt = deep_mlp(3, batchnorm=True)
    _, grads_ckpt, _ = gradients(model_ckpt, x, lambda m, x: ndl.checkpoint_sequential(m, 3, x))
    again = [m.running_mean.numpy() for m in model_ckpt.modules() if isinstance(m, nn.BatchNorm1d)]
    for a, b in zip(again, once):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    _, grads, _ = gradients(deep_mlp(3, batchnorm=True), x, plain)
    for got, want in zip(grads_ckpt, grads):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_a_plain_function_with_its_parameters():
    w = ndl.Tensor(np.linspace(-1, 1, 12).reshape(3, 4), device=DEVICE, dtype="float64")
    x = ndl.Tensor(np.linspace(0, 2, 6).reshape(2, 3), device=DEVICE, dtype="float64")

    def block(v):
        return ndl.ops.tanh(v @ w)

    (block(x) ** 2).sum().backward()
    want = w.grad.numpy(), x.grad.numpy()
    w.grad = x.grad = None
    (ndl.checkpoint(block, x, parameters=[w]) ** 2).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), want[0], rtol=1e-13)
    np.testing.assert_allclose(x.grad.numpy(), want[1], rtol=1e-13)


def peak_and_held(model, x, run):
    """The peak bytes of op outputs alive during forward and backward, and the graph's bytes
    just before backward."""
    for p in model.parameters():
        p.grad = None
    x.grad = None
    gc.collect()
    with memory.MemoryTracker() as tracked:
        loss = run(model, x).sum()
        held = memory.graph_nbytes(loss)
        loss.backward()
        del loss
    return tracked.peak, held


def test_checkpointing_holds_less_memory():
    model, x = deep_mlp(16, width=64), batch(rows=64, width=64)
    peak, held = peak_and_held(model, x, plain)
    peak_ckpt, held_ckpt = peak_and_held(model, x, lambda m, x: ndl.checkpoint_sequential(m, 4, x))
    activation = 64 * 64 * 8
    # without: three arrays per Linear+Tanh layer (product, bias sum, tanh), 16 layers;
    # with 4 segments: 3 checkpoint outputs + the last segment's 4 layers.
    assert held == 16 * 3 * activation + 8
    assert held_ckpt == 3 * activation + 4 * 3 * activation + 8
    # The peaks also hold the gradients (the same either way) and one recomputed segment: at
    # least half of what the graph no longer holds is saved at the peak too.
    assert peak - peak_ckpt > 0.5 * (held - held_ckpt)


def test_bad_input_is_refused_with_the_reason():
    model, x = deep_mlp(2), batch()
    with pytest.raises(TypeError, match="checkpoint: inputs must be Tensors"):
        ndl.checkpoint(model, x.numpy())
    with pytest.raises(ValueError, match=r"checkpoint_sequential: segments must be in \[1, 4\]"):
        ndl.checkpoint_sequential(model, 5, x)
    with pytest.raises(TypeError, match="must return one Tensor"):
        ndl.checkpoint(lambda v: (v, v), x)
    with pytest.raises(RuntimeError, match="cannot be differentiated again"):
        ndl.autograd.grad(ndl.checkpoint(model, x).sum(), [x], create_graph=True)
