"""Reductions: sum, mean, max and log-sum-exp over axes, and the softmax family built on them.

A reduced element came from many inputs, so its gradient is broadcast back over the
reduced axes (and weighted: equally for mean, by softmax for logsumexp, to the argmax for max).
"""
import math

from ..autograd import Tensor, TensorOp
from ..backend_ndarray.ndarray import normalize_axes
from ..course import student_implements
from .ops_elementwise import exp


class Reduction(TensorOp):
    """Shared by the reductions: ``axes`` (None for all, an int, or a tuple) and ``keepdims``."""

    _normalized = None  # (ndim, axes_of) for the last input, asked by check, compute and gradient

    def __init__(self, axes=None, keepdims=False):
        self.axes, self.keepdims = axes, keepdims

    def check_inputs(self, a):
        self.axes_of(a.shape)

    def axes_of(self, shape):
        """The reduced axes of an input of ``shape``, as non-negative ints."""
        if self._normalized is None or self._normalized[0] != len(shape):
            self._normalized = (len(shape), normalize_axes(self.axes, len(shape), self.name))
        return self._normalized[1]

    @student_implements("a03")
    def expand(self, grad, shape):
        """``grad`` (the reduced shape) broadcast back to the input's ``shape``."""
        # BEGIN SOLUTION a03
        axes = self.axes_of(shape)
        kept_shape = tuple(1 if i in axes else d for i, d in enumerate(shape))
        return grad.reshape(kept_shape).broadcast_to(shape)
        # END SOLUTION


class Summation(Reduction):
    """The sum over ``axes``. Every input element gets the gradient of its sum."""

    @student_implements("a03")
    def compute(self, a):
        # BEGIN SOLUTION a03
        return a.sum(self.axes_of(a.shape), keepdims=self.keepdims)
        # END SOLUTION

    @student_implements("a03")
    def gradient(self, out_grad, node):
        # BEGIN SOLUTION a03
        return self.expand(out_grad, node.inputs[0].shape)
        # END SOLUTION


def summation(a, axes=None, keepdims=False):
    return Summation(axes, keepdims)(a)


class Mean(Reduction):
    """The mean over ``axes``. Every input element gets the gradient of its mean over the count."""

    def count(self, shape):
        return math.prod(shape[i] for i in self.axes_of(shape))

    def compute(self, a):
        total = a.sum(self.axes_of(a.shape), keepdims=self.keepdims)
        return total / self.count(a.shape)

    def gradient(self, out_grad, node):
        shape = node.inputs[0].shape
        return self.expand(out_grad / self.count(shape), shape)  # divide the few, then broadcast


def mean(a, axes=None, keepdims=False):
    return Mean(axes, keepdims)(a)


class Max(Reduction):
    """The maximum over ``axes``. The gradient goes to the elements equal to the maximum,
    split equally among ties (as PyTorch's amax does)."""

    def compute(self, a):
        return a.max(self.axes_of(a.shape), keepdims=self.keepdims)

    def gradient(self, out_grad, node):
        x = node.inputs[0].cached_data
        axes = self.axes_of(x.shape)
        is_max = x == self.expand(node.detach(), x.shape).cached_data
        share = is_max / is_max.sum(axes, keepdims=True).broadcast_to(x.shape)
        return self.expand(out_grad, x.shape) * Tensor.make_const(share)


def max(a, axes=None, keepdims=False):  # noqa: A001  (the op's name, as in needle and numpy)
    return Max(axes, keepdims)(a)


class LogSumExp(Reduction):
    """log(sum(exp(a))) over ``axes``, computed as m + log(sum(exp(a - m))) with m the maximum,
    so no exp overflows. Its gradient is the softmax of ``a`` over ``axes``."""

    @student_implements("a03")
    def compute(self, a):
        # BEGIN SOLUTION a03
        axes = self.axes_of(a.shape)
        shift = a.max(axes, keepdims=True)
        out = (a - shift.broadcast_to(a.shape)).exp().sum(axes, keepdims=True).log() + shift
        return out if self.keepdims else out.reshape(tuple(d for i, d in enumerate(a.shape) if i not in axes))
        # END SOLUTION

    @student_implements("a03")
    def gradient(self, out_grad, node):
        # BEGIN SOLUTION a03
        a = node.inputs[0]
        return self.expand(out_grad, a.shape) * exp(a - self.expand(node, a.shape))
        # END SOLUTION


def logsumexp(a, axes=None, keepdims=False):
    return LogSumExp(axes, keepdims)(a)


def _minus_max(a, axis):
    """``a`` minus its maximum along ``axis``: at most 0, and exact for nearby values."""
    return a - a.max(axis, keepdims=True).broadcast_to(a.shape)


class AxisOp(TensorOp):
    """Shared by LogSoftmax and Softmax: a normalization along one ``axis``."""

    def __init__(self, axis=-1):
        self.axis = axis

    def check_inputs(self, a):
        normalize_axes(self.axis, a.ndim, self.name)


class LogSoftmax(AxisOp):
    """a - logsumexp(a) over ``axis``: log-probabilities, computed from a - max(a), which is exact.

    Its gradient is ``out_grad - softmax * sum(out_grad)`` over the axis.
    """

    def compute(self, a):
        shifted = _minus_max(a, self.axis)
        return shifted - shifted.exp().sum(self.axis, keepdims=True).log().broadcast_to(a.shape)

    def gradient(self, out_grad, node):
        total = out_grad.sum(self.axis, keepdims=True).broadcast_to(out_grad.shape)
        return out_grad - exp(node) * total


def log_softmax(a, axis=-1):
    return LogSoftmax(axis)(a)


class Softmax(AxisOp):
    """exp(a) / sum(exp(a)) over ``axis``, with the maximum subtracted first so nothing overflows.

    Its gradient is ``s * (out_grad - sum(out_grad * s))`` over the axis, with s the output.
    """

    def compute(self, a):
        e = _minus_max(a, self.axis).exp()
        return e / e.sum(self.axis, keepdims=True).broadcast_to(a.shape)

    def gradient(self, out_grad, node):
        total = (out_grad * node).sum(self.axis, keepdims=True).broadcast_to(out_grad.shape)
        return node * (out_grad - total)


def softmax(a, axis=-1):
    return Softmax(axis)(a)
