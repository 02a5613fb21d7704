"""Elementwise ops: each output element depends on the input elements at the same position.

So each gradient is elementwise too: ``out_grad`` times the local derivative.
"""
from ..autograd import Tensor, TensorOp
from ..backend_ndarray.ndarray import REAL_TYPES
from ..course import student_implements


class EWiseOp(TensorOp):
    """An elementwise op of two tensors of one shape (broadcast explicitly with broadcast_to)."""

    def check_inputs(self, a, b):
        if a.shape != b.shape:
            raise ValueError(f"{self.name}: shapes {a.shape} and {b.shape} differ; use broadcast_to")


class ScalarOp(TensorOp):
    """An elementwise op of a tensor and a Python number."""

    def __init__(self, scalar):
        if not isinstance(scalar, REAL_TYPES):
            raise TypeError(f"{self.name}: the scalar must be a number, got {type(scalar).__name__}")
        self.scalar = scalar


class EWiseAdd(EWiseOp):
    """a + b. Addition passes ``out_grad`` unchanged to both inputs."""

    def compute(self, a, b):
        return a + b

    def gradient(self, out_grad, node):
        return out_grad, out_grad


def add(a, b):
    return EWiseAdd()(a, b)


class AddScalar(ScalarOp):
    """a + c for a number c. The gradient passes through unchanged."""

    def compute(self, a):
        return a + self.scalar

    def gradient(self, out_grad, node):
        return out_grad


def add_scalar(a, scalar):
    return AddScalar(scalar)(a)


class EWiseSub(EWiseOp):
    """a - b. The gradient is ``out_grad`` for a and ``-out_grad`` for b.

    (a - c for a number c needs no op of its own: it is ``AddScalar(-c)``.)
    """

    def compute(self, a, b):
        return a - b

    def gradient(self, out_grad, node):
        return out_grad, -out_grad


def subtract(a, b):
    return EWiseSub()(a, b)


class EWiseMul(EWiseOp):
    """a * b. Each input's gradient is ``out_grad`` times the other input."""

    @student_implements("a03")
    def compute(self, a, b):
        # BEGIN SOLUTION a03
        return a * b
        # END SOLUTION

    @student_implements("a03")
    def gradient(self, out_grad, node):
        # BEGIN SOLUTION a03
        a, b = node.inputs
        return out_grad * b, out_grad * a
        # END SOLUTION


def multiply(a, b):
    return EWiseMul()(a, b)


class MulScalar(ScalarOp):
    """a * c for a number c. The gradient is ``out_grad * c``."""

    def compute(self, a):
        return a * self.scalar

    def gradient(self, out_grad, node):
        return out_grad * self.scalar


def mul_scalar(a, scalar):
    return MulScalar(scalar)(a)


class EWiseDiv(EWiseOp):
    """a / b. d/da = 1/b and d/db = -a/b²."""

    @student_implements("a03")
    def compute(self, a, b):
        # BEGIN SOLUTION a03
        return a / b
        # END SOLUTION

    @student_implements("a03")
    def gradient(self, out_grad, node):
        # BEGIN SOLUTION a03
        a, b = node.inputs
        return out_grad / b, -out_grad * a / (b * b)
        # END SOLUTION


def divide(a, b):
    return EWiseDiv()(a, b)


class DivScalar(ScalarOp):
    """a / c for a number c. The gradient is ``out_grad / c``."""

    def compute(self, a):
        return a / self.scalar

    def gradient(self, out_grad, node):
        return out_grad / self.scalar


def divide_scalar(a, scalar):
    return DivScalar(scalar)(a)


class EWisePow(EWiseOp):
    """a ** b, for a > 0. d/da = b a^(b-1) and d/db = a^b log(a), which reuses the output."""

    def compute(self, a, b):
        return a ** b

    def gradient(self, out_grad, node):
        base, exponent = node.inputs
        return out_grad * exponent * base ** (exponent - 1.0), out_grad * node * log(base)


def power(a, b):
    return EWisePow()(a, b)


class PowerScalar(ScalarOp):
    """a ** c for a number c. The gradient is ``out_grad * c * a^(c-1)``."""

    @student_implements("a03")
    def compute(self, a):
        # BEGIN SOLUTION a03
        return a ** self.scalar
        # END SOLUTION

    @student_implements("a03")
    def gradient(self, out_grad, node):
        # BEGIN SOLUTION a03
        a = node.inputs[0]
        return out_grad * self.scalar * a ** (self.scalar - 1)
        # END SOLUTION


def power_scalar(a, scalar):
    return PowerScalar(scalar)(a)


class Negate(TensorOp):
    """-a. The gradient is ``-out_grad``."""

    def compute(self, a):
        return -a

    def gradient(self, out_grad, node):
        return -out_grad


def negate(a):
    return Negate()(a)


class Log(TensorOp):
    """The natural logarithm. Its derivative is 1/a."""

    @student_implements("a03")
    def compute(self, a):
        # BEGIN SOLUTION a03
        return a.log()
        # END SOLUTION

    @student_implements("a03")
    def gradient(self, out_grad, node):
        # BEGIN SOLUTION a03
        return out_grad / node.inputs[0]
        # END SOLUTION


def log(a):
    return Log()(a)


class Exp(TensorOp):
    """e ** a. Its derivative is itself, so the gradient reuses the output."""

    @student_implements("a03")
    def compute(self, a):
        # BEGIN SOLUTION a03
        return a.exp()
        # END SOLUTION

    @student_implements("a03")
    def gradient(self, out_grad, node):
        # BEGIN SOLUTION a03
        return node * out_grad
        # END SOLUTION


def exp(a):
    return Exp()(a)


class Sqrt(TensorOp):
    """The square root. Its derivative 1/(2 sqrt(a)) reuses the output."""

    def compute(self, a):
        return a.sqrt()

    def gradient(self, out_grad, node):
        return out_grad / (node * 2.0)


def sqrt(a):
    return Sqrt()(a)


class ReLU(TensorOp):
    """max(a, 0). The gradient flows where the input was positive: a constant 0/1 mask."""

    @student_implements("a03")
    def compute(self, a):
        # BEGIN SOLUTION a03
        return a.maximum(0.0)
        # END SOLUTION

    @student_implements("a03")
    def gradient(self, out_grad, node):
        # BEGIN SOLUTION a03
        return out_grad * Tensor.make_const(node.inputs[0].cached_data > 0.0)
        # END SOLUTION


def relu(a):
    return ReLU()(a)


class Tanh(TensorOp):
    """The hyperbolic tangent. Its derivative 1 - tanh(a)² reuses the output."""

    def compute(self, a):
        return a.tanh()

    def gradient(self, out_grad, node):
        return out_grad - out_grad * node * node  # three ops: ``1.0 - t`` would take two


def tanh(a):
    return Tanh()(a)


class Sigmoid(TensorOp):
    """1 / (1 + e^-a). Its derivative s (1 - s) reuses the output s."""

    def compute(self, a):
        # The same function as (1 + tanh(a/2)) / 2, which never overflows.
        return (a * 0.5).tanh() * 0.5 + 0.5

    def gradient(self, out_grad, node):
        return out_grad * (node - node * node)  # s (1 - s) in three ops


def sigmoid(a):
    return Sigmoid()(a)


class Maximum(EWiseOp):
    """The elementwise larger of a and b. The gradient goes to the larger; ties split it equally."""

    def compute(self, a, b):
        return a.maximum(b)

    def gradient(self, out_grad, node):
        a, b = (x.cached_data for x in node.inputs)
        share_of_a = (a > b) + (a == b) * 0.5
        return out_grad * Tensor.make_const(share_of_a), out_grad * Tensor.make_const(1.0 - share_of_a)


def maximum(a, b):
    return Maximum()(a, b)
