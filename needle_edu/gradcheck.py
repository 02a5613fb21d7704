"""Gradient checking: autograd's gradients against central finite differences.

To check every output at once we differentiate the scalar L = sum(f(x) * w) for a fixed random
w. Its numerical gradient is (L(x + eps e_i) - L(x - eps e_i)) / (2 eps) for each element i,
always computed in float64 on the numpy device: one reference, whatever device is checked.
"""
import numpy as np

from .autograd import Tensor, grad
from .course import student_implements


@student_implements("a03")
def numerical_gradient(f, *inputs, out_grad, eps=1e-6):
    """d sum(f(*inputs) * out_grad) / d input for each input, by central differences in float64.

    ``f`` maps Tensors to a Tensor; ``out_grad`` is a numpy array of the output's shape.
    """
    # BEGIN SOLUTION a03
    arrays = [x.numpy().astype("float64") for x in inputs]
    weights = np.asarray(out_grad, dtype="float64")

    def loss():
        tensors = [Tensor(a, device="numpy", dtype="float64") for a in arrays]
        return float((f(*tensors).numpy() * weights).sum())

    gradients = []
    for a in arrays:
        gradient = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            original = a[i]
            a[i] = original + eps
            above = loss()
            a[i] = original - eps
            below = loss()
            a[i] = original
            gradient[i] = (above - below) / (2 * eps)
        gradients.append(gradient)
    return gradients
    # END SOLUTION


def check_gradients(f, *inputs, out_grad=None, eps=1e-6, rtol=1e-6, atol=1e-6, seed=0):
    """Assert that autograd's gradients of ``f`` at ``inputs`` match finite differences.

    ``out_grad`` (the weights w) defaults to standard normal numbers. Raises an AssertionError
    naming each input whose gradient differs, where, and by how much; returns the gradients.
    """
    output = f(*inputs)
    if out_grad is None:
        out_grad = np.random.default_rng(seed).standard_normal(output.shape)
    weights = Tensor(out_grad, device=output.device, dtype=output.dtype, requires_grad=False)
    computed = [g.numpy() for g in grad(output, inputs, out_grad=weights)]
    expected = numerical_gradient(f, *inputs, out_grad=out_grad, eps=eps)
    failures = []
    for i, (x, got, want) in enumerate(zip(inputs, computed, expected)):
        if not np.allclose(got, want, rtol=rtol, atol=atol):
            error = np.abs(got - want)
            worst = np.unravel_index(np.argmax(error), error.shape)
            failures.append(f"input {i} ({x.dtype}, shape {x.shape}, on {x.device.name}): largest "
                            f"error {error[worst]:.3g} at {worst}: autograd {got[worst]:.8g}, "
                            f"finite differences {want[worst]:.8g}")
    if failures:
        raise AssertionError(f"gradient check failed (rtol={rtol}, atol={atol}):\n  " + "\n  ".join(failures))
    return computed
