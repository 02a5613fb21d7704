"""needle_edu.nn: Module bookkeeping, and every layer's forward pass against numpy written here
and its gradients (input and parameters) against finite differences.

Gradients are checked tightly in float64 on ``numpy`` and ``cpu`` and loosely in float32 on
every device; the simulated ``numba_cuda`` (milliseconds a kernel) runs only the small layers.
"""
import numpy as np
import pytest
from conftest import ALL_DEVICE_NAMES, is_slow, require

import needle_edu as ndl
from needle_edu import init, nn
from needle_edu.backend_ndarray import devices
from needle_edu.gradcheck import check_gradients

CASES = [(name, dtype) for name in ALL_DEVICE_NAMES for dtype in ("float32", "float64")
         if dtype == "float32" or name in ("numpy", "cpu")]


@pytest.fixture(params=CASES, ids=[f"{name}-{dtype}" for name, dtype in CASES])
def case(request):
    """(device, dtype, tolerances): float64 on the reference devices, float32 on all."""
    name, dtype = request.param
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == "float64" else dict(rtol=2e-3, atol=2e-3)
    return require(devices.device(name)), dtype, tol


def skip_if_simulated(device):
    if is_slow(device):
        pytest.skip("numba_cuda on the CUDA simulator: too slow for this layer; its ops are "
                    "checked in test_ops.py")


def tensor(array, device, dtype, requires_grad=True):
    return ndl.Tensor(np.asarray(array, dtype="float64"), device=device, dtype=dtype,
                      requires_grad=requires_grad)


def forward_tol(dtype):
    return dict(rtol=1e-10, atol=1e-10) if dtype == "float64" else dict(rtol=1e-4, atol=1e-5)


def check_module_gradients(make, x, tol, labels=None):
    """Check the gradients of ``make()``'s output with respect to ``x`` and every parameter.

    The module is rebuilt for each evaluation on the input's device and dtype (finite
    differences run in float64 on numpy), with the tensors under test as its parameters.
    """
    named = make(device=x.device, dtype=x.dtype).named_parameters()
    names, parameters = [name for name, _ in named], [p for _, p in named]

    def f(x, *values):
        rebuilt = make(device=x.device, dtype=x.dtype)
        owners = dict(rebuilt.named_modules())
        for name, value in zip(names, values):
            owner, _, attribute = name.rpartition(".")
            setattr(owners[owner], attribute, value)
        return rebuilt(x) if labels is None else rebuilt(x, labels)

    check_gradients(f, x, *parameters, **tol)


# ------------------------------------------------------------------ Module bookkeeping


class Block(nn.Module):
    def __init__(self, shared):
        super().__init__()
        self.linear = nn.Linear(2, 3)
        self.shared = shared
        self.extra = nn.Parameter(init.ones(3))
        self.running = init.zeros(3)  # a plain Tensor: state, not a parameter


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        shared = nn.Linear(3, 3)
        self.blocks = [Block(shared), Block(shared)]
        self.heads = {"a": nn.Linear(3, 1), "b": (nn.ReLU(), nn.Parameter(init.zeros(1)))}
        self.again = self.blocks[0]
        self.scale = nn.Parameter(init.ones(1))


def test_parameter_is_a_trainable_leaf_tensor():
    p = nn.Parameter(init.ones(2, 3))
    assert isinstance(p, ndl.Tensor) and p.requires_grad and p.is_leaf() and p.shape == (2, 3)
    assert type(p.data) is ndl.Tensor and not p.data.requires_grad


def test_parameters_are_found_in_nested_attributes_lists_and_dicts_exactly_once():
    net = Net()
    block_a, block_b = net.blocks
    expected = ([block_a.extra, block_a.linear.weight, block_a.linear.bias, block_a.shared.weight,
                 block_a.shared.bias, block_b.extra, block_b.linear.weight, block_b.linear.bias,
                 net.heads["a"].weight, net.heads["a"].bias, net.heads["b"][1], net.scale])
    found = net.parameters()
    assert len(found) == len(expected) == len({id(p) for p in found})
    assert {id(p) for p in found} == {id(p) for p in expected}
    assert all(isinstance(p, nn.Parameter) for p in found)
    assert not any(p is block_a.running for p in found)
    names = dict(net.named_parameters())
    assert names["blocks.0.shared.weight"] is block_a.shared.weight
    assert names["heads.b.1"] is net.heads["b"][1] and names["scale"] is net.scale


def test_children_and_modules():
    net = Net()
    assert [name for name, _ in net.named_children()] == ["blocks.0", "blocks.1", "heads.a", "heads.b.0"]
    modules = net.modules()
    assert modules[0] is net and len(modules) == len({id(m) for m in modules}) == 8
    assert sum(m is net.blocks[0].shared for m in modules) == 1


def test_train_and_eval_reach_every_module():
    net = Net()
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    assert not net.heads["b"][0].training
    net.train()
    assert all(m.training for m in net.modules())


def test_call_runs_forward_and_a_module_without_forward_says_so():
    assert nn.Identity()(7) == 7
    with pytest.raises(NotImplementedError, match="Net does not define forward"):
        Net()(1)


def test_repr_shows_the_tree_and_the_settings():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Residual(nn.Sequential(nn.Linear(3, 3))),
                          nn.Dropout(0.25), nn.BatchNorm1d(3))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=4, out_features=3, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Residual(\n"
        "    (fn): Sequential(\n"
        "      (0): Linear(in_features=3, out_features=3, bias=True)\n"
        "    )\n"
        "  )\n"
        "  (3): Dropout(p=0.25)\n"
        "  (4): BatchNorm1d(3, eps=1e-05, momentum=0.1)\n"
        ")")
    assert [name for name, _ in model.named_parameters()] == [
        "0.weight", "0.bias", "2.fn.0.weight", "2.fn.0.bias", "4.weight", "4.bias"]
    assert model[0] is model.layers[0] and len(model) == 5


# ------------------------------------------------------------------ Linear


def test_linear_forward_and_gradients(case, rng):
    device, dtype, tol = case
    layer = nn.Linear(3, 4, device=device, dtype=dtype)
    assert layer.weight.shape == (3, 4) and layer.bias.shape == (1, 4)
    assert (layer.weight.device, layer.weight.dtype) == (device, dtype)
    x = tensor(rng.standard_normal((5, 3)), device, dtype)
    expected = x.numpy() @ layer.weight.numpy() + layer.bias.numpy()
    np.testing.assert_allclose(layer(x).numpy(), expected, **forward_tol(dtype))
    check_module_gradients(lambda **kw: nn.Linear(3, 4, **kw), x, tol)


def test_linear_without_bias(rng):
    layer = nn.Linear(3, 2, bias=False, device="numpy", dtype="float64")
    assert layer.bias is None and layer.parameters() == [layer.weight]
    x = tensor(rng.standard_normal((4, 3)), "numpy", "float64")
    np.testing.assert_allclose(layer(x).numpy(), x.numpy() @ layer.weight.numpy())
    check_module_gradients(lambda **kw: nn.Linear(3, 2, bias=False, **kw), x, {})


def test_linear_init_is_kaiming_uniform():
    init.manual_seed(0)
    fan_in, fan_out = 200, 300
    layer = nn.Linear(fan_in, fan_out, device="numpy")
    weight, bias = layer.weight.numpy(), layer.bias.numpy()
    bound = np.sqrt(6 / fan_in)  # gain sqrt(2) times sqrt(3 / fan_in)
    assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.99 * bound
    np.testing.assert_allclose(weight.var(), bound ** 2 / 3, rtol=0.02)
    assert abs(weight.mean()) < 0.01 * bound
    assert np.abs(bias).max() <= np.sqrt(6 / fan_out)  # needle: the bias has fan_in = out_features
    assert weight.dtype == np.float32 and nn.Linear(2, 2).weight.device == ndl.default_device()


# ------------------------------------------------------------------ activations and containers


@pytest.mark.parametrize("module, reference", [
    (nn.ReLU, lambda x: np.maximum(x, 0)),
    (nn.Tanh, np.tanh),
    (nn.Sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    (nn.Identity, lambda x: x),
    (nn.Flatten, lambda x: x.reshape(len(x), -1)),
], ids=["ReLU", "Tanh", "Sigmoid", "Identity", "Flatten"])
def test_parameter_free_layers(case, module, reference, rng):
    device, dtype, tol = case
    values = rng.standard_normal((2, 3, 2))
    values[np.abs(values) < 0.01] = 0.5  # keep ReLU's kink away from the finite differences
    x = tensor(values, device, dtype)
    np.testing.assert_allclose(module()(x).numpy(), reference(values), **forward_tol(dtype))
    check_module_gradients(lambda **kw: module(), x, tol)


def test_sequential_and_residual(case, rng):
    device, dtype, tol = case
    skip_if_simulated(device)

    def make(**kw):
        return nn.Sequential(nn.Linear(3, 3, **kw), nn.Tanh(), nn.Residual(nn.Linear(3, 3, **kw)))

    init.manual_seed(1)
    model = make(device=device, dtype=dtype)
    x = tensor(rng.standard_normal((4, 3)), device, dtype)
    first, _, residual = model.layers
    h = np.tanh(x.numpy() @ first.weight.numpy() + first.bias.numpy())
    expected = h @ residual.fn.weight.numpy() + residual.fn.bias.numpy() + h
    np.testing.assert_allclose(model(x).numpy(), expected, **forward_tol(dtype))
    check_module_gradients(make, x, tol)


# ------------------------------------------------------------------ SoftmaxLoss


def reference_softmax_loss(z, y):
    shifted = z - z.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_probabilities[np.arange(len(y)), y].mean()


def test_softmax_loss(case, rng):
    device, dtype, tol = case
    z = tensor(3 * rng.standard_normal((5, 4)), device, dtype)
    y = np.array([0, 3, 1, 1, 2])
    loss = nn.SoftmaxLoss()(z, y)
    assert loss.shape == ()
    np.testing.assert_allclose(loss.item(), reference_softmax_loss(z.numpy().astype("float64"), y),
                               **forward_tol(dtype))
    as_tensor = ndl.Tensor(y, device=device, requires_grad=False)  # labels as a DataLoader gives them
    np.testing.assert_allclose(nn.SoftmaxLoss()(z, as_tensor).item(), loss.item())
    check_module_gradients(lambda **kw: nn.SoftmaxLoss(), z, tol, labels=y)


def test_softmax_loss_is_stable_for_huge_logits():
    z = tensor([[1000.0, 0.0], [0.0, -1000.0]], "numpy", "float32")
    np.testing.assert_allclose(nn.SoftmaxLoss()(z, [0, 1]).item(), 500.0, rtol=1e-6)


@pytest.mark.parametrize("labels", [[0, 4], [0, -1], [0.5, 1], [[0, 1]]])
def test_softmax_loss_refuses_bad_labels(labels):
    z = tensor(np.zeros((2, 4)), "numpy", "float64")
    with pytest.raises(ValueError, match="one_hot: labels must be"):
        nn.SoftmaxLoss()(z, labels)


# ------------------------------------------------------------------ normalization


def reference_normalize(x, axis, eps, weight=1.0, bias=0.0):
    mean = x.mean(axis=axis, keepdims=True)
    var = x.var(axis=axis, keepdims=True)  # biased, as needle and PyTorch normalize
    return weight * (x - mean) / np.sqrt(var + eps) + bias


def test_batchnorm_training_forward_and_gradients(case, rng):
    device, dtype, tol = case
    skip_if_simulated(device)
    bn = nn.BatchNorm1d(3, device=device, dtype=dtype)
    bn.weight.data = tensor([1.0, 2.0, -0.5], device, dtype, requires_grad=False)
    bn.bias.data = tensor([0.0, 1.0, 3.0], device, dtype, requires_grad=False)
    values = rng.standard_normal((6, 3)) * [1.0, 3.0, 0.2] + [0.0, 5.0, -1.0]
    x = tensor(values, device, dtype)
    expected = reference_normalize(values, 0, 1e-5, np.array([1.0, 2.0, -0.5]), np.array([0.0, 1.0, 3.0]))
    np.testing.assert_allclose(bn(x).numpy(), expected, **forward_tol(dtype))
    check_module_gradients(lambda **kw: nn.BatchNorm1d(3, **kw), x, tol)


def test_batchnorm_running_statistics_and_eval_mode(case, rng):
    device, dtype, _ = case
    skip_if_simulated(device)
    bn = nn.BatchNorm1d(4, momentum=0.2, device=device, dtype=dtype)
    mean, var = np.zeros(4), np.ones(4)
    for step in range(4):
        values = rng.standard_normal((8, 4)) * (step + 1) + step
        bn(tensor(values, device, dtype))
        mean = 0.8 * mean + 0.2 * values.mean(axis=0)
        var = 0.8 * var + 0.2 * values.var(axis=0)  # needle: the biased batch variance
    tol = dict(rtol=1e-10) if dtype == "float64" else dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.running_mean.numpy(), mean, **tol)
    np.testing.assert_allclose(bn.running_var.numpy(), var, **tol)
    assert not bn.running_mean.requires_grad and bn.running_mean.is_leaf()
    assert bn.running_mean.dtype == dtype and len(bn.parameters()) == 2

    bn.eval()
    values = rng.standard_normal((3, 4))
    out = bn(tensor(values, device, dtype)).numpy()
    np.testing.assert_allclose(out, (values - mean) / np.sqrt(var + 1e-5), **forward_tol(dtype))
    np.testing.assert_allclose(bn.running_mean.numpy(), mean, **tol)  # eval leaves them alone
    single = bn(tensor(values[:1], device, dtype)).numpy()
    np.testing.assert_allclose(single, out[:1], **forward_tol(dtype))  # rows are independent


def test_layernorm_forward_and_gradients(case, rng):
    device, dtype, tol = case
    skip_if_simulated(device)
    values = rng.standard_normal((4, 5)) * [[1.0], [10.0], [0.1], [2.0]] + 3.0
    x = tensor(values, device, dtype)
    ln = nn.LayerNorm1d(5, eps=1e-5, device=device, dtype=dtype)
    np.testing.assert_allclose(ln(x).numpy(), reference_normalize(values, 1, 1e-5), **forward_tol(dtype))
    np.testing.assert_allclose(ln.eval()(x).numpy(), reference_normalize(values, 1, 1e-5), **forward_tol(dtype))
    check_module_gradients(lambda **kw: nn.LayerNorm1d(5, **kw), x, tol)


@pytest.mark.parametrize("layer", [nn.BatchNorm1d, nn.LayerNorm1d])
def test_normalization_refuses_the_wrong_shape(layer):
    with pytest.raises(ValueError, match=rf"{layer.__name__}: expected an input of shape \(batch, 3\), got \(2, 4\)"):
        layer(3, device="numpy")(init.ones(2, 4, device="numpy"))


# ------------------------------------------------------------------ Dropout


def test_dropout_in_eval_mode_is_the_identity():
    x = init.normal(5, 5)
    assert nn.Dropout(0.5).eval()(x) is x


def test_dropout_zeroes_about_p_and_scales_the_kept_entries_exactly(case):
    device, dtype, _ = case
    shape = (10, 10) if is_slow(device) else (100, 100)
    init.manual_seed(0)
    x = init.uniform(*shape, low=1.0, high=2.0, device=device, dtype=dtype)
    out = nn.Dropout(0.3)(x).numpy()
    kept = out != 0
    assert abs(1 - kept.mean() - 0.3) < (0.15 if is_slow(device) else 0.02)
    np.testing.assert_allclose(out[kept], x.numpy()[kept] / 0.7, rtol=1e-6 if dtype == "float32" else 1e-15)
    init.manual_seed(0)
    x_again = init.uniform(*shape, low=1.0, high=2.0, device=device, dtype=dtype)
    np.testing.assert_array_equal(nn.Dropout(0.3)(x_again).numpy(), out)  # seeded: the same mask


def test_dropout_gradient_is_the_scaled_mask(rng):
    x = tensor(rng.standard_normal((4, 6)), "numpy", "float64")

    def f(x):
        init.manual_seed(3)  # the same mask at every evaluation
        return nn.Dropout(0.5)(x)

    check_gradients(f, x)
    out = f(x)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), (out.numpy() != 0) * 2.0)


def test_dropout_edge_probabilities():
    x = init.uniform(3, 4, low=1.0, high=2.0)
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).numpy(), x.numpy())
    np.testing.assert_array_equal(nn.Dropout(1.0)(x).numpy(), np.zeros((3, 4)))
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="Dropout: p must be a probability"):
            nn.Dropout(p)
