"""Every op on every device: forward against numpy, gradients against finite differences.

The case table lists each op with a few shapes and arguments (broadcasting, reductions over
different axes, keepdims) and a numpy reference. Gradients are checked against central
differences computed in float64 (``needle_edu.gradcheck``): tightly in float64 on ``numpy``
and ``cpu``, loosely in float32 on every device. Shapes stay tiny (at most 24 elements) so
that the simulated ``numba_cuda``, where each kernel call costs milliseconds, runs them all.
"""
from dataclasses import dataclass, field

import numpy as np
import pytest
from conftest import ALL_DEVICE_NAMES, require

import needle_edu as ndl
from needle_edu import ops
from needle_edu.autograd import Op
from needle_edu.gradcheck import check_gradients


@dataclass
class Case:
    """One op applied to inputs of ``shapes``; ``reference`` computes the same with numpy."""

    op: type
    fn: object
    reference: object
    shapes: tuple
    name: str = ""
    positive: bool = False  # inputs in [0.5, 2) rather than standard normal (log, sqrt, pow, div)
    kwargs: dict = field(default_factory=dict)

    def inputs(self, dtype, seed=0):
        rng = np.random.default_rng(seed)
        make = (lambda s: rng.uniform(0.5, 2.0, s)) if self.positive else rng.standard_normal
        return [make(shape).astype(dtype) for shape in self.shapes]


def np_logsumexp(a, axis=None, keepdims=False):
    shift = a.max(axis=axis, keepdims=True)
    out = np.log(np.exp(a - shift).sum(axis=axis, keepdims=True)) + shift
    return out if keepdims else np.squeeze(out, axis=axis)


def np_log_softmax(a, axis=-1):
    return a - np_logsumexp(a, axis=axis, keepdims=True)


def np_dilate(a, axes, dilation):
    shape = [d * (dilation + 1) if i in axes else d for i, d in enumerate(a.shape)]
    out = np.zeros(shape, a.dtype)
    out[tuple(slice(None, None, dilation + 1) if i in axes else slice(None) for i in range(a.ndim))] = a
    return out


def np_conv(x, w, stride=1, padding=0):
    """NHWC convolution with (K, K, C_in, C_out) weights: a sum of K * K matrix products."""
    x = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    k = w.shape[0]
    h, w_out = ((d - k) // stride + 1 for d in x.shape[1:3])
    return sum(x[:, i:i + stride * (h - 1) + 1:stride, j:j + stride * (w_out - 1) + 1:stride] @ w[i, j]
               for i in range(k) for j in range(k))


def np_scatter(a, index, shape):
    out = np.zeros(shape, a.dtype)
    out[index] = a
    return out


SCATTER_INDEX = (slice(1, None), slice(None, None, 2))

CASES = [
    # elementwise
    Case(ops.EWiseAdd, ops.add, np.add, ((3, 4), (3, 4))),
    Case(ops.AddScalar, lambda a: ops.add_scalar(a, 1.5), lambda a: a + 1.5, ((3, 4),)),
    Case(ops.EWiseSub, ops.subtract, np.subtract, ((3, 4), (3, 4))),
    Case(ops.EWiseSub, lambda a, b: a - b, np.subtract, ((2, 3, 4), (2, 3, 4)), "operator"),
    Case(ops.EWiseMul, ops.multiply, np.multiply, ((3, 4), (3, 4))),
    Case(ops.EWiseMul, lambda a, b: a * b, np.multiply, ((2, 3, 4), (2, 3, 4)), "operator"),
    Case(ops.MulScalar, lambda a: ops.mul_scalar(a, -2.5), lambda a: a * -2.5, ((3, 4),)),
    Case(ops.EWiseDiv, ops.divide, np.divide, ((3, 4), (3, 4)), positive=True),
    Case(ops.DivScalar, lambda a: ops.divide_scalar(a, 4.0), lambda a: a / 4.0, ((3, 4),)),
    Case(ops.EWisePow, ops.power, np.power, ((3, 4), (3, 4)), positive=True),
    Case(ops.PowerScalar, lambda a: ops.power_scalar(a, 3), lambda a: a ** 3, ((3, 4),)),
    Case(ops.PowerScalar, lambda a: a ** -1.5, lambda a: a ** -1.5, ((3, 4),), "fractional", positive=True),
    Case(ops.Negate, ops.negate, np.negative, ((3, 4),)),
    Case(ops.Log, ops.log, np.log, ((3, 4),), positive=True),
    Case(ops.Exp, ops.exp, np.exp, ((3, 4),)),
    Case(ops.Sqrt, ops.sqrt, np.sqrt, ((3, 4),), positive=True),
    Case(ops.ReLU, ops.relu, lambda a: np.maximum(a, 0), ((3, 4),)),
    Case(ops.Tanh, ops.tanh, np.tanh, ((3, 4),)),
    Case(ops.Sigmoid, ops.sigmoid, lambda a: 1 / (1 + np.exp(-a)), ((3, 4),)),
    Case(ops.Maximum, ops.maximum, np.maximum, ((3, 4), (3, 4))),
    # shape
    Case(ops.Transpose, ops.transpose, lambda a: np.swapaxes(a, -1, -2), ((2, 3, 4),)),
    Case(ops.Transpose, lambda a: ops.transpose(a, (0, 2)), lambda a: np.swapaxes(a, 0, 2), ((2, 3, 4),), "axes"),
    Case(ops.Permute, lambda a: ops.permute(a, (2, 0, 1)), lambda a: a.transpose(2, 0, 1), ((2, 3, 4),)),
    Case(ops.Permute, lambda a: a.permute(-1, 1, 0), lambda a: a.transpose(2, 1, 0), ((2, 3, 4),), "negative"),
    Case(ops.Reshape, lambda a: ops.reshape(a, (2, 6)), lambda a: a.reshape(2, 6), ((3, 4),)),
    Case(ops.Reshape, lambda a: a.reshape(4, -1), lambda a: a.reshape(4, -1), ((2, 3, 4),), "infer"),
    Case(ops.BroadcastTo, lambda a: ops.broadcast_to(a, (3, 4)), lambda a: np.broadcast_to(a, (3, 4)), ((3, 1),)),
    Case(ops.BroadcastTo, lambda a: ops.broadcast_to(a, (2, 3, 4)), lambda a: np.broadcast_to(a, (2, 3, 4)),
         ((4,),), "lead"),
    Case(ops.BroadcastTo, lambda a: ops.broadcast_to(a, (2, 3, 4)), lambda a: np.broadcast_to(a, (2, 3, 4)),
         ((1, 3, 1),), "both"),
    Case(ops.GetItem, lambda a: a[1:, ::-2], lambda a: a[1:, ::-2], ((3, 4),)),
    Case(ops.GetItem, lambda a: a[None, ..., 0], lambda a: a[None, ..., 0], ((2, 3, 4),), "none-ellipsis-int"),
    Case(ops.GetItem, lambda a: ops.getitem(a, (1, slice(0, 3, 2))), lambda a: a[1, 0:3:2], ((2, 3, 4),), "int-step"),
    Case(ops.ScatterItem, lambda a: ops.scatter_item(a, SCATTER_INDEX, (3, 4)),
         lambda a: np_scatter(a, SCATTER_INDEX, (3, 4)), ((2, 2),)),
    Case(ops.Flip, lambda a: ops.flip(a, (0,)), lambda a: np.flip(a, 0), ((3, 4),)),
    Case(ops.Flip, lambda a: ops.flip(a, (0, 2)), lambda a: np.flip(a, (0, 2)), ((2, 3, 4),), "two-axes"),
    Case(ops.Flip, ops.flip, np.flip, ((2, 3, 4),), "all"),
    Case(ops.Pad, lambda a: ops.pad(a, ((1, 0), (2, 1))), lambda a: np.pad(a, ((1, 0), (2, 1))), ((2, 3),)),
    Case(ops.Pad, lambda a: ops.pad(a, ((0, 0), (1, 1), (0, 2))), lambda a: np.pad(a, ((0, 0), (1, 1), (0, 2))),
         ((2, 3, 2),), "3d"),
    Case(ops.Dilate, lambda a: ops.dilate(a, (0, 1), 1), lambda a: np_dilate(a, (0, 1), 1), ((2, 3),)),
    Case(ops.Dilate, lambda a: ops.dilate(a, 1, 2), lambda a: np_dilate(a, (1,), 2), ((2, 3, 2),), "axis1-by2"),
    Case(ops.UnDilate, lambda a: ops.undilate(a, (0, 1), 1), lambda a: a[::2, ::2], ((4, 4),)),
    Case(ops.UnDilate, lambda a: ops.undilate(a, (0,), 1), lambda a: a[::2], ((5, 3),), "uneven"),
    # reductions
    Case(ops.Summation, ops.summation, np.sum, ((3, 4),)),
    Case(ops.Summation, lambda a: ops.summation(a, 0), lambda a: a.sum(0), ((3, 4),), "axis0"),
    Case(ops.Summation, lambda a: a.sum(1), lambda a: a.sum(1), ((2, 3, 4),), "axis1"),
    Case(ops.Summation, lambda a: a.sum((0, 2)), lambda a: a.sum((0, 2)), ((2, 3, 4),), "axes02"),
    Case(ops.Summation, lambda a: a.sum(-1, keepdims=True), lambda a: a.sum(-1, keepdims=True),
         ((2, 3, 4),), "negative-keepdims"),
    Case(ops.Mean, lambda a: ops.mean(a, (0, 2)), lambda a: a.mean((0, 2)), ((2, 3, 4),)),
    Case(ops.Mean, ops.mean, np.mean, ((3, 4),), "all"),
    Case(ops.Mean, lambda a: a.mean(-1, keepdims=True), lambda a: a.mean(-1, keepdims=True), ((3, 4),), "keepdims"),
    Case(ops.Max, lambda a: ops.max(a, 1), lambda a: a.max(1), ((3, 4),)),
    Case(ops.Max, ops.max, np.max, ((2, 3, 4),), "all"),
    Case(ops.Max, lambda a: a.max((0, 2), keepdims=True), lambda a: a.max((0, 2), keepdims=True),
         ((2, 3, 4),), "axes02-keepdims"),
    Case(ops.LogSumExp, lambda a: ops.logsumexp(a, 1), lambda a: np_logsumexp(a, 1), ((3, 4),)),
    Case(ops.LogSumExp, ops.logsumexp, np_logsumexp, ((2, 3, 4),), "all"),
    Case(ops.LogSumExp, lambda a: ops.logsumexp(a, (0, 2)), lambda a: np_logsumexp(a, (0, 2)), ((2, 3, 4),), "axes02"),
    Case(ops.LogSumExp, lambda a: ops.logsumexp(a, -1, keepdims=True),
         lambda a: np_logsumexp(a, -1, keepdims=True), ((2, 3, 4),), "negative-keepdims"),
    Case(ops.LogSoftmax, ops.log_softmax, np_log_softmax, ((3, 4),)),
    Case(ops.LogSoftmax, lambda a: ops.log_softmax(a, 0), lambda a: np_log_softmax(a, 0), ((2, 3, 4),), "axis0"),
    Case(ops.Softmax, ops.softmax, lambda a: np.exp(np_log_softmax(a)), ((3, 4),)),
    Case(ops.Softmax, lambda a: ops.softmax(a, 1), lambda a: np.exp(np_log_softmax(a, 1)), ((2, 3, 4),), "axis1"),
    # matmul
    Case(ops.MatMul, ops.matmul, np.matmul, ((3, 4), (4, 2))),
    Case(ops.MatMul, lambda a, b: a @ b, np.matmul, ((2, 3, 4), (4, 5)), "batched-left"),
    Case(ops.MatMul, ops.matmul, np.matmul, ((4, 3), (2, 3, 5)), "batched-right"),
    Case(ops.MatMul, ops.matmul, np.matmul, ((2, 1, 3, 4), (3, 4, 2)), "broadcast-batch"),
    # convolution
    Case(ops.Conv, ops.conv, np_conv, ((1, 3, 3, 2), (2, 2, 2, 2))),
    Case(ops.Conv, lambda a, b: ops.conv(a, b, stride=2, padding=1), lambda a, b: np_conv(a, b, 2, 1),
         ((1, 3, 4, 2), (3, 3, 2, 1)), "stride2-padding1"),
    # tuples
    Case(ops.MakeTensorTuple, lambda a, b: ops.make_tuple(a, b)[1], lambda a, b: b, ((3, 4), (3, 4))),
    Case(ops.TupleGetItem, lambda a: ops.split(a, 0)[-1], lambda a: a[-1], ((3, 4),)),
    Case(ops.Stack, lambda a, b: ops.stack([a, b], 1), lambda a, b: np.stack([a, b], 1), ((3, 4), (3, 4))),
    Case(ops.Stack, lambda a, b, c: ops.stack([a, b, c], -1), lambda a, b, c: np.stack([a, b, c], -1),
         ((2, 3), (2, 3), (2, 3)), "three-last"),
    Case(ops.Split, lambda a: (lambda parts: parts[0] + parts[2] * 2.0)(ops.split(a, 1)),
         lambda a: a[:, 0] + a[:, 2] * 2.0, ((3, 4),)),
    Case(ops.Concat, lambda a, b: ops.concat([a, b], 1), lambda a, b: np.concatenate([a, b], 1), ((3, 2), (3, 1))),
    Case(ops.Concat, lambda a, b: ops.concat([a, b], 0), lambda a, b: np.concatenate([a, b], 0),
         ((1, 2, 3), (2, 2, 3)), "axis0"),
]


def case_id(case):
    return case.op.__name__ + (f"-{case.name}" if case.name else "")


def matrix():
    """(case, device name, dtype) for every case on every device; float64 on numpy and cpu."""
    return [pytest.param(case, name, dtype, id=f"{case_id(case)}-{name}-{dtype}")
            for name in ALL_DEVICE_NAMES
            for dtype in (("float32", "float64") if name in ("numpy", "cpu") else ("float32",))
            for case in CASES]


def tensors(case, device, dtype):
    return [ndl.Tensor(a, device=device, dtype=dtype) for a in case.inputs(dtype)]


@pytest.mark.parametrize("case, device_name, dtype", matrix())
def test_forward(case, device_name, dtype):
    device = require(ndl.device(device_name))
    out = case.fn(*tensors(case, device, dtype))
    expected = case.reference(*case.inputs(dtype))
    assert out.shape == expected.shape
    assert out.dtype == dtype and out.device == device
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(out.numpy(), expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("case, device_name, dtype", matrix())
def test_gradient(case, device_name, dtype):
    device = require(ndl.device(device_name))
    tol = 2e-3 if dtype == "float32" else 1e-6
    check_gradients(case.fn, *tensors(case, device, dtype), rtol=tol, atol=tol)


# These change the device or dtype, which the table's checks hold fixed: see test_conversions.
TESTED_SEPARATELY = {ops.ToDevice, ops.AsType}


def test_every_op_is_in_the_case_table():
    exported = {obj for obj in vars(ops).values() if isinstance(obj, type) and issubclass(obj, Op)}
    missing = sorted(op.__name__ for op in exported - {case.op for case in CASES} - TESTED_SEPARATELY)
    assert not missing, f"ops without test cases: {missing}"


def test_conversions_carry_values_and_gradients_back(device):
    values = np.array([[1.5, -2.0], [0.25, 3.0]], dtype="float32")
    x = ndl.Tensor(values, device=device)
    y = x.to("numpy").astype("float64")
    assert (y.device.name, y.dtype) == ("numpy", "float64")
    np.testing.assert_array_equal(y.numpy(), values.astype("float64"))
    (y * y).sum().backward()
    assert (x.grad.device, x.grad.dtype) == (device, "float32")
    np.testing.assert_allclose(x.grad.numpy(), 2 * values)
    assert x.to(device) is x and x.astype("float32") is x


# ------------------------------------------------------------------ stability


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_logsumexp_and_softmax_of_huge_inputs(device, sign):
    small = np.array([[0.0, 1.0, -2.0], [3.0, 3.0, -1.0]])
    x = ndl.Tensor(sign * 1e4 + small, device=device, dtype="float32")
    np.testing.assert_allclose(ops.logsumexp(x, 1).numpy(), sign * 1e4 + np_logsumexp(small, 1), rtol=1e-6)
    np.testing.assert_allclose(ops.log_softmax(x).numpy(), np_log_softmax(small), atol=1e-3)
    np.testing.assert_allclose(ops.softmax(x).numpy(), np.exp(np_log_softmax(small)), atol=1e-4)
    ops.logsumexp(x, 1).sum().backward()
    # The gradient exp(x - logsumexp(x)) inherits the float32 rounding of logsumexp near 1e4 (5e-4).
    np.testing.assert_allclose(x.grad.numpy(), np.exp(np_log_softmax(small)), atol=1e-3)


def test_sigmoid_of_huge_inputs_saturates(device):
    x = ndl.Tensor([-1e4, 0.0, 1e4], device=device, dtype="float32")
    np.testing.assert_array_equal(ops.sigmoid(x).numpy(), [0.0, 0.5, 1.0])


# ------------------------------------------------------------------ errors


def const(shape, dtype="float32", device="numpy"):
    return ndl.Tensor(np.zeros(shape), device=device, dtype=dtype)


@pytest.mark.parametrize("call, error, message", [
    (lambda: ops.add(const((2, 3)), const((3,))), ValueError,
     r"EWiseAdd: shapes \(2, 3\) and \(3,\) differ; use broadcast_to"),
    (lambda: const((2, 3)) * const((2, 1)), ValueError, r"EWiseMul: shapes \(2, 3\) and \(2, 1\) differ"),
    (lambda: const((2, 3)) - const((3,)), ValueError, r"EWiseSub: shapes \(2, 3\) and \(3,\) differ; use broadcast_to"),
    (lambda: const((2, 3)) - np.zeros((2, 3)), TypeError, r"EWiseSub: expected a Tensor or a number, got ndarray"),
    (lambda: ops.subtract(const((2, 3)), const((2, 3), "float64")), TypeError,
     r"EWiseSub: dtypes differ \(float32 with shape \(2, 3\) and float64 with shape \(2, 3\)\)"),
    (lambda: const((2, 3)) + np.zeros((2, 3)), TypeError, r"EWiseAdd: expected a Tensor or a number, got ndarray"),
    (lambda: ops.add(const((2, 3)), np.zeros((2, 3))), TypeError, r"EWiseAdd: inputs must be Tensors, got ndarray"),
    (lambda: const((2, 3)) * const((2, 3), "float64"), TypeError,
     r"EWiseMul: dtypes differ \(float32 with shape \(2, 3\) and float64 with shape \(2, 3\)\)"),
    (lambda: ops.add_scalar(const((2,)), "1"), TypeError, r"AddScalar: the scalar must be a number, got str"),
    (lambda: const((2, 3)) @ const((4, 5)), ValueError, r"MatMul: shapes \(2, 3\) and \(4, 5\) do not align"),
    (lambda: const((2, 2, 3)) @ const((3, 3, 4)), ValueError, r"MatMul: the batch axes of shapes \(2, 2, 3\)"),
    (lambda: const((2, 3)).reshape(4), ValueError, r"Reshape: cannot reshape shape \(2, 3\) \(size 6\) into \(4,\)"),
    (lambda: const((3, 2)).broadcast_to((3, 4)), ValueError,
     r"BroadcastTo: cannot broadcast shape \(3, 2\) to \(3, 4\)"),
    (lambda: const((2, 3)).sum(2), ValueError, r"Summation: axis 2 is out of range"),
    (lambda: ops.logsumexp(const((2, 3)), (0, 0)), ValueError, r"LogSumExp: repeated axis"),
    (lambda: ops.softmax(const((2, 3)), 3), ValueError, r"Softmax: axis 3 is out of range"),
    (lambda: ops.transpose(const((3,))), ValueError, r"Transpose: needs at least 2 dimensions, got shape \(3,\)"),
    (lambda: const((2, 3)).permute(0, 0), ValueError, r"Permute: repeated axis"),
    (lambda: const((2, 3)).permute(1,), ValueError, r"Permute: axes \(1,\) are not a permutation"),
    (lambda: ops.pad(const((2, 3)), ((1, 1),)), ValueError, r"Pad: axes must be one \(before, after\) pair"),
    (lambda: ops.dilate(const((2, 3)), (0,), -1), ValueError, r"Dilate: dilation must be a non-negative int"),
    (lambda: ops.undilate(const((2, 3)), (2,), 1), ValueError, r"UnDilate: axis 2 is out of range"),
    (lambda: ops.flip(const((2, 3)), (5,)), ValueError, r"Flip: axis 5 is out of range"),
    (lambda: ops.scatter_item(const((2, 3)), (slice(1, None),), (2, 3)), ValueError,
     r"ScatterItem: an input of shape \(2, 3\) does not fit"),
    (lambda: const((2, 3))[2], IndexError, r"getitem: index 2 is out of range for axis 0 of size 2"),
    (lambda: ops.stack([const((2, 3)), const((3, 2))]), ValueError, r"Stack: shapes must match"),
    (lambda: ops.stack([]), ValueError, r"Stack: needs at least one tensor"),
    (lambda: ops.concat([const((2, 3)), const((3, 2))], 1), ValueError, r"Concat: shapes must match but along axis 1"),
    (lambda: ops.split(const((2, 3)), 2), ValueError, r"Split: axis 2 is out of range"),
    (lambda: ops.split(const((2, 3)), 0)[2], IndexError, r"TupleGetItem: index 2 is out of range for a tuple of 2"),
])
def test_bad_input_names_the_op_and_shapes(call, error, message, monkeypatch):
    """The op raises a clear error before any kernel runs: here every compute kernel fails."""
    kernels = ndl.cpu_numpy().module
    for name in dir(kernels):
        if name.startswith(("ewise_", "scalar_", "reduce_")) or name in ("matmul", "compact"):
            monkeypatch.setattr(kernels, name, kernel_ran)
    with pytest.raises(error, match=message):
        call()


def kernel_ran(*args):
    raise AssertionError("a kernel ran before the input was checked")


def test_different_devices_are_an_error():
    other = next((d for d in ndl.all_devices() if d.name != "numpy" and d.enabled()), None)
    if other is None:
        pytest.skip("only the numpy device runs here")
    with pytest.raises(ValueError, match=rf"EWiseAdd: inputs are on different devices \(numpy and {other.name}\)"):
        const((2,)) + const((2,), device=other)
