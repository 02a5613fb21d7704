"""The autograd engine: graph bookkeeping, backward, grad modes, deep graphs, leaks, higher order."""
import gc
import sys
import weakref

import numpy as np
import pytest

import needle_edu as ndl
from needle_edu import ops
from needle_edu.autograd import TensorOp, find_topo_sort, grad, is_grad_enabled
from needle_edu.gradcheck import check_gradients


def tensor(values, requires_grad=True, dtype="float64", device="numpy"):
    return ndl.Tensor(np.asarray(values, dtype="float64"), device=device, dtype=dtype,
                      requires_grad=requires_grad)


# ------------------------------------------------------------------ tensors


def test_tensor_shares_an_ndarray_on_its_device_and_copies_the_rest():
    array = ndl.NDArray(np.arange(6.0).reshape(2, 3), device="numpy")
    t = ndl.Tensor(array)
    assert t.cached_data is array and t.shape == (2, 3) and t.dtype == "float64"
    assert t.device == ndl.cpu_numpy() and t.requires_grad
    assert ndl.Tensor(array, dtype="float32").cached_data is not array
    assert ndl.Tensor([1, 2]).dtype == "float32"
    assert ndl.Tensor(t).cached_data is array


def test_scalar_operators_use_the_scalar_ops():
    x = tensor([1.0, 2.0, 4.0])
    for y, op in [(x + 1, ops.AddScalar), (2 * x, ops.MulScalar), (x / 2, ops.DivScalar),
                  (x ** 2, ops.PowerScalar), (x - 1, ops.AddScalar), (1 - x, ops.AddScalar)]:
        assert isinstance(y.op, op)
    np.testing.assert_allclose((3 / x).numpy(), [3.0, 1.5, 0.75])
    np.testing.assert_allclose((x - 1).numpy(), [0.0, 1.0, 3.0])


# ------------------------------------------------------------------ topological order


def test_topological_order_lists_each_node_once_after_its_inputs():
    x = tensor([1.0, 2.0])
    a = ops.exp(x)
    b = a * x
    c = b + a  # a diamond: a feeds b and c
    order = find_topo_sort([c])
    assert len(order) == len(set(map(id, order))) == 4
    position = {id(node): i for i, node in enumerate(order)}
    for node in order:
        assert all(position[id(i)] < position[id(node)] for i in node.inputs)
    assert order[-1] is c


def test_a_chain_of_ten_thousand_ops_needs_no_recursion():
    limit = sys.getrecursionlimit()
    x = tensor([1.0, 2.0])
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    assert len(find_topo_sort([y])) == 10_001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** 10_000] * 2, rtol=1e-9)
    assert sys.getrecursionlimit() == limit
    del y  # freeing the chain must not recurse either


# ------------------------------------------------------------------ backward


def test_gradients_sum_over_paths_and_accumulate_over_calls():
    x = tensor([1.0, 2.0, 3.0])
    y = (x * x + x).sum()  # dy/dx = 2x + 1
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 5.0, 7.0])
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 10.0, 14.0])
    x.grad = None
    (x * 2.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, 2.0])


def test_only_leaves_that_require_grad_keep_a_grad_and_it_has_no_graph():
    x, w = tensor([1.0, 2.0]), tensor([3.0, 4.0], requires_grad=False)
    h = x * w
    h.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 4.0])
    assert h.grad is None and w.grad is None
    assert x.grad.is_leaf() and not x.grad.requires_grad


def test_backward_with_out_grad_for_a_non_scalar():
    x = tensor([[1.0, 2.0], [3.0, 4.0]])
    (x * x).backward(ndl.Tensor(np.array([[1.0, 0.0], [0.5, 2.0]]), device="numpy", requires_grad=False))
    np.testing.assert_allclose(x.grad.numpy(), [[2.0, 0.0], [3.0, 16.0]])


def test_matmul_spends_no_product_on_an_input_that_needs_no_gradient():
    """Data (requires_grad=False) gets None from MatMul.gradient; the weights still get theirs."""
    x_np, w_np = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4) / 10
    x, w = tensor(x_np, requires_grad=False), tensor(w_np)
    y = x @ w
    out_grad = tensor(np.ones((2, 4)), requires_grad=False)
    grad_x, grad_w = y.op.gradient_as_tuple(out_grad, y)
    assert grad_x is None
    np.testing.assert_allclose(grad_w.numpy(), x_np.T @ np.ones((2, 4)))
    y.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), x_np.T @ np.ones((2, 4)))
    assert x.grad is None


def test_backward_errors():
    x = tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"backward: out_grad is required for a tensor of shape \(2, 3\) "
                                         r"\(only scalars get a default of 1\)"):
        (x * 2.0).backward()
    with pytest.raises(ValueError, match=r"backward: out_grad has shape \(3,\) but the tensor has shape \(2, 3\)"):
        (x * 2.0).backward(np.ones(3))
    with pytest.raises(ValueError, match=r"backward: this tensor does not require grad"):
        ops.exp(tensor([1.0], requires_grad=False)).backward()


def test_gradient_through_a_tensor_tuple():
    x = tensor(np.arange(6.0).reshape(2, 3))
    first, second = ops.split(x, 0)
    (first * 2.0 + second * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[2.0] * 3, [3.0] * 3])


def test_a_tuples_gradients_from_several_uses_add_as_one_op():
    # Four gates split from one tensor, as in an LSTM: the tuple gets four partial gradients.
    x = tensor(np.arange(8.0).reshape(4, 2))
    gates = ops.split(x, 0)
    weights = [1.0, -2.0, 3.0, 0.5]
    sum(gate * w for gate, w in zip(gates, weights)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.repeat(np.array(weights)[:, None], 2, axis=1))
    a, b = ops.split(tensor([[1.0, 2.0], [3.0, 4.0]]), 0), ops.split(tensor([[10.0, 20.0], [30.0, 40.0]]), 0)
    total = a + b
    assert isinstance(total.op, ops.ops_tuple.TupleAdd)
    np.testing.assert_allclose([t.numpy() for t in total], [[11.0, 22.0], [33.0, 44.0]])
    with pytest.raises(ValueError, match=r"^TupleAdd: tuples of shapes \[\(2,\), \(2,\)\] and \[\(3,\)\] differ"):
        a + ops.split(tensor([[1.0, 2.0, 3.0]]), 0)


# ------------------------------------------------------------------ graph modes


def test_requires_grad_propagates_from_any_input():
    a, b = tensor([1.0], requires_grad=False), tensor([2.0], requires_grad=False)
    x = tensor([3.0])
    assert not (a + b).requires_grad and (a + b).is_leaf()
    assert (a + x).requires_grad and not (a + x).is_leaf()


def test_detach_and_data_give_leaves_without_graph():
    x = tensor([1.0, 2.0])
    y = ops.exp(x)
    for z in (y.detach(), y.data):
        assert z.is_leaf() and not z.requires_grad and z.cached_data is y.cached_data
        assert not (z * x).inputs[0].requires_grad


def test_data_setter_replaces_the_data_without_recording():
    x = tensor([1.0, 2.0])
    x.data = x.data - 0.5 * tensor([2.0, 2.0], requires_grad=False)
    assert x.is_leaf() and x.requires_grad
    np.testing.assert_allclose(x.numpy(), [0.0, 1.0])
    with pytest.raises(TypeError, match=r"Tensor.data: cannot replace float64 data on numpy with float32"):
        x.data = tensor([1.0], dtype="float32")


def test_no_grad_records_nothing_and_restores_the_mode():
    x = tensor([1.0, 2.0])
    with ndl.no_grad():
        assert not is_grad_enabled()
        y = x * 2.0
        assert not y.requires_grad and y.is_leaf()
    assert is_grad_enabled()
    with pytest.raises(RuntimeError), ndl.no_grad():
        raise RuntimeError
    assert is_grad_enabled() and (x * 2.0).requires_grad

    @ndl.no_grad()
    def predict(t):
        return t * 2.0

    assert not predict(x).requires_grad


# ------------------------------------------------------------------ memory


def test_the_graph_is_freed_by_reference_counting_alone():
    """No reference cycles: the graph dies with its last reference, without the cycle collector."""
    gc.collect()
    gc.disable()
    try:
        x, w = tensor(np.ones((2, 3))), tensor(np.ones((3, 4)))
        loss = ops.logsumexp(ops.tanh(x @ w), axes=1).sum() + ops.stack(list(ops.split(x, 0))).sum()
        loss.backward()
        inner = [weakref.ref(node) for node in find_topo_sort([loss]) if not node.is_leaf()]
        first_order = grad(ops.exp(x).sum(), [x], create_graph=True)[0]
        inner += [weakref.ref(node) for node in find_topo_sort([first_order]) if not node.is_leaf()]
        assert len(inner) > 10 and all(ref() is not None for ref in inner)
        del loss, first_order
        assert [ref() for ref in inner if ref() is not None] == []
        assert x.grad.is_leaf() and w.grad.is_leaf()
    finally:
        gc.enable()


# ------------------------------------------------------------------ higher order


def derivative(f):
    """x -> d sum(f(x)) / dx, itself differentiable."""
    return lambda x: grad(f(x).sum(), [x], create_graph=True)[0]


@pytest.fixture
def device_dtype_tolerance(device, dtype):
    if dtype == "float64" and device.name not in ("numpy", "cpu"):
        pytest.skip("float64 gradient checks run on numpy and cpu")
    return device, dtype, (1e-6 if dtype == "float64" else 2e-3)


def test_second_derivative_of_a_cube_is_6x(device_dtype_tolerance):
    device, dtype, tol = device_dtype_tolerance
    x = tensor([-1.5, 0.5, 2.0], dtype=dtype, device=device)
    second = grad(derivative(lambda t: t ** 3)(x).sum(), [x])[0]
    np.testing.assert_allclose(second.numpy(), 6 * x.numpy(), rtol=tol)
    check_gradients(derivative(lambda t: t ** 3), x, rtol=tol, atol=tol)


def test_second_derivative_of_tanh(device_dtype_tolerance):
    device, dtype, tol = device_dtype_tolerance
    x = tensor([[-1.5, 0.5, 2.0], [0.1, -0.3, 1.0]], dtype=dtype, device=device)
    second = grad(derivative(ops.tanh)(x).sum(), [x])[0]
    t = np.tanh(x.numpy().astype("float64"))
    np.testing.assert_allclose(second.numpy(), -2 * t * (1 - t * t), rtol=tol, atol=tol)
    check_gradients(derivative(ops.tanh), x, rtol=tol, atol=tol)


def test_second_derivative_of_logsumexp(device_dtype_tolerance):
    device, dtype, tol = device_dtype_tolerance
    x = tensor([[-1.5, 0.5, 2.0], [0.1, -0.3, 1.0]], dtype=dtype, device=device)
    check_gradients(derivative(lambda t: ops.logsumexp(t, axes=1)), x, rtol=tol, atol=tol)
    check_gradients(derivative(lambda t: ops.logsumexp(t, axes=(0, 1), keepdims=True)), x, rtol=tol, atol=tol)


# ------------------------------------------------------------------ the gradient checker


class WrongSquare(TensorOp):
    """a², with a gradient missing its factor 2."""

    def compute(self, a):
        return a * a

    def gradient(self, out_grad, node):
        return out_grad * node.inputs[0]


def test_check_gradients_reports_a_wrong_gradient(device):
    x = tensor([1.0, 2.0, 3.0], dtype="float32", device=device)
    with pytest.raises(AssertionError, match=rf"input 0 \(float32, shape \(3,\), on {device.name}\): largest error"):
        check_gradients(lambda t: WrongSquare()(t), x, rtol=1e-3, atol=1e-3)


def test_the_pieces_of_a_split_get_their_gradients_in_linear_time(monkeypatch):
    """Each piece of split(x) used once (an RNN's time steps): x.grad holds each piece's gradient,
    and summing the T one-hot tuple gradients costs O(T) adds, not O(T^2)."""
    from needle_edu.backend_ndarray import backend_numpy

    def adds_for(steps):
        values = np.random.default_rng(steps).standard_normal((steps, 2, 3))
        x = ndl.Tensor(values, device="numpy", dtype="float64")
        loss = sum((piece * float(t + 1)).sum() for t, piece in enumerate(ops.split(x, axis=0)))
        calls = []
        real_add = backend_numpy.ewise_add
        monkeypatch.setattr(backend_numpy, "ewise_add", lambda *a: calls.append(1) or real_add(*a))
        loss.backward()
        monkeypatch.setattr(backend_numpy, "ewise_add", real_add)
        expected = np.broadcast_to(np.arange(1, steps + 1, dtype="float64")[:, None, None], values.shape)
        np.testing.assert_array_equal(x.grad.numpy(), expected)
        return len(calls)

    small, large = adds_for(16), adds_for(64)
    assert large <= 4 * small + 8, f"{small} adds for 16 pieces but {large} for 64: more than linear"
