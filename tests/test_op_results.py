"""An op's results are checked where the op is applied: compute returns NDArrays, gradient returns
one Tensor (or None) per input, shaped like it. A mistake names the op and the rule at once,
instead of surfacing as an AttributeError deep inside autograd (issue 14, point 4)."""
import numpy as np
import pytest

import needle_edu as ndl
from needle_edu import ops
from needle_edu.autograd import TensorOp, TensorTupleOp


def tensor(values, requires_grad=True):
    return ndl.Tensor(np.asarray(values, dtype="float64"), device="numpy", requires_grad=requires_grad)


A = [[1.0, 2.0], [3.0, 4.0]]
B = [[0.5, -1.0], [2.0, 1.0]]


def test_a_compute_that_returns_numpy_is_named_with_the_rule(monkeypatch):
    monkeypatch.setattr(ops.EWiseMul, "compute", lambda self, a, b: a.numpy() * b.numpy())
    with pytest.raises(TypeError, match=r"^EWiseMul\.compute returned numpy\.ndarray; compute must "
                                        r"return an NDArray"):
        tensor(A) * tensor(B)


@pytest.mark.parametrize("result, kind", [(lambda a: a.numpy().tolist(), "list"),
                                          (lambda a: float(a.numpy()[0, 0]), "float"),
                                          (lambda a: ndl.Tensor(a), "Tensor"),
                                          (lambda a: None, "NoneType")])
def test_other_wrong_compute_results_are_named(monkeypatch, result, kind):
    monkeypatch.setattr(ops.Exp, "compute", lambda self, a: result(a))
    with pytest.raises(TypeError, match=rf"^Exp\.compute returned {kind}; compute must return an NDArray"):
        ops.exp(tensor(A))


def test_a_tuple_op_must_compute_a_tuple_of_ndarrays():
    class Pair(TensorTupleOp):
        def compute(self, a):
            return [a, a]  # a list, not a tuple

    with pytest.raises(TypeError, match=r"^Pair\.compute returned list; a TensorTuple op's compute "
                                        r"must return a tuple of NDArrays"):
        Pair()(tensor(A))


def test_a_gradient_that_returns_numpy_is_named_with_the_rule(monkeypatch):
    def gradient(self, out_grad, node):
        a, b = node.inputs
        return out_grad.numpy() * b.numpy(), out_grad.numpy() * a.numpy()

    monkeypatch.setattr(ops.EWiseMul, "gradient", gradient)
    x, y = tensor(A), tensor(B)
    with pytest.raises(TypeError, match=r"^EWiseMul\.gradient returned numpy\.ndarray for input 0; "
                                        r"gradients are Tensors built from ops"):
        (x * y).sum().backward()
    assert x.grad is None and y.grad is None  # nothing half-done


def test_a_gradient_of_ndarrays_is_named(monkeypatch):
    monkeypatch.setattr(ops.Exp, "gradient", lambda self, out_grad, node: out_grad.cached_data)
    with pytest.raises(TypeError, match=r"^Exp\.gradient returned needle_edu\.NDArray for input 0"):
        ops.exp(tensor(A)).sum().backward()


def test_a_gradient_with_one_entry_too_few_is_named(monkeypatch):
    monkeypatch.setattr(ops.EWiseMul, "gradient", lambda self, out_grad, node: out_grad * node.inputs[1])
    with pytest.raises(TypeError, match=r"^EWiseMul\.gradient returned 1 gradient for 2 inputs; return "
                                        r"one per input \(a tuple\), None for an input that needs no gradient"):
        (tensor(A) * tensor(B)).sum().backward()


def test_a_gradient_of_the_wrong_shape_is_named(monkeypatch):
    # A classic: the gradient of a broadcast not summed back to the input's shape.
    monkeypatch.setattr(ops.BroadcastTo, "gradient", lambda self, out_grad, node: out_grad)
    with pytest.raises(ValueError, match=r"^BroadcastTo\.gradient returned a gradient of shape \(2, 2\) "
                                         r"for input 0 of shape \(1, 2\)"):
        tensor([[1.0, 2.0]]).broadcast_to((2, 2)).sum().backward()


def test_the_checks_also_guard_a_direct_call_of_gradient_as_tuple(monkeypatch):
    node = tensor(A) * tensor(B)
    monkeypatch.setattr(ops.EWiseMul, "gradient", lambda self, out_grad, node: (np.ones((2, 2)),) * 2)
    with pytest.raises(TypeError, match=r"EWiseMul\.gradient returned numpy\.ndarray for input 0"):
        node.op.gradient_as_tuple(tensor(np.ones((2, 2)), requires_grad=False), node)


def test_right_results_pass_the_checks_none_included():
    # MatMul returns None for an input that needs no gradient; a tuple op's gradient is a tuple.
    x, w = tensor(A, requires_grad=False), tensor(B)
    (x @ w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), np.asarray(A).T @ np.ones((2, 2)))
    a, b = tensor(A), tensor(B)
    parts = ops.split(ops.stack([a, b], axis=0), axis=0)
    (parts[0] * parts[1]).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), B)
    np.testing.assert_allclose(b.grad.numpy(), A)


def test_a_custom_op_with_right_results_works():
    class Double(TensorOp):
        def compute(self, a):
            return a * 2.0

        def gradient(self, out_grad, node):
            return out_grad * 2.0

    x = tensor(A)
    Double()(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 2), 2.0))


@pytest.mark.parametrize("make, error, message", [
    (lambda: tensor(A) * ndl.Tensor(np.ones((2, 2)), device="numpy", dtype="float32"), TypeError,
     r"^EWiseMul: dtypes differ \(float64 with shape \(2, 2\) and float32 with shape \(2, 2\)\)"),
    (lambda: tensor(A) * ndl.Tensor(np.ones((2, 2)), device="cpu", dtype="float64"), ValueError,
     r"^EWiseMul: inputs are on different devices \(numpy and cpu\)"),
    (lambda: ops.multiply(tensor(A), np.ones((2, 2))), TypeError,
     r"^EWiseMul: inputs must be Tensors, got ndarray"),
])
def test_operands_are_still_checked_before_compute(make, error, message):
    if "cpu" in message and not ndl.cpu().enabled():
        pytest.skip(f"cpu: {ndl.cpu().reason}")
    with pytest.raises(error, match=message):
        make()
