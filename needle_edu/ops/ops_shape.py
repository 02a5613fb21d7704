"""Shape ops: they move, repeat, select or pad elements without arithmetic.

Each gradient moves ``out_grad`` back where the elements came from: the inverse movement,
a sum over repeats, or a scatter into zeros.
"""
import math
import numbers

import numpy as np

from ..autograd import TensorOp
from ..backend_ndarray import zeros
from ..backend_ndarray.ndarray import normalize_axes
from ..course import student_implements


class Transpose(TensorOp):
    """Swap two axes (by default the last two). Its gradient swaps them back."""

    def __init__(self, axes=None):
        self.axes = axes

    def _order(self, ndim):
        i, j = (-2, -1) if self.axes is None else self.axes
        order = list(range(ndim))
        order[i], order[j] = order[j], order[i]
        return order

    def check_inputs(self, a):
        if a.ndim < 2:
            raise ValueError(f"{self.name}: needs at least 2 dimensions, got shape {a.shape}")
        if self.axes is not None and len(normalize_axes(self.axes, a.ndim, self.name)) != 2:
            raise ValueError(f"{self.name}: axes must be two axes, got {self.axes}")

    @student_implements("a03")
    def compute(self, a):
        # BEGIN SOLUTION a03
        return a.permute(self._order(a.ndim))
        # END SOLUTION

    @student_implements("a03")
    def gradient(self, out_grad, node):
        # BEGIN SOLUTION a03
        return transpose(out_grad, self.axes)
        # END SOLUTION


def transpose(a, axes=None):
    return Transpose(axes)(a)


class Permute(TensorOp):
    """Reorder the axes: output axis i is input axis ``axes[i]``. The gradient applies the inverse order."""

    def __init__(self, axes):
        self.axes = tuple(axes)

    def check_inputs(self, a):
        if sorted(normalize_axes(self.axes, a.ndim, self.name)) != list(range(a.ndim)):
            raise ValueError(f"{self.name}: axes {self.axes} are not a permutation of the axes "
                             f"of shape {a.shape}")

    def compute(self, a):
        # A copy in the new order: later ops would otherwise each copy the strided view again.
        return a.permute(self.axes).compact()

    def gradient(self, out_grad, node):
        order = normalize_axes(self.axes, out_grad.ndim, self.name)
        return permute(out_grad, sorted(range(len(order)), key=order.__getitem__))


def permute(a, axes):
    return Permute(axes)(a)


class Reshape(TensorOp):
    """The same elements in row-major order, in a new shape. The gradient reshapes back."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def check_inputs(self, a):
        known = math.prod(d for d in self.shape if d != -1)
        free = self.shape.count(-1)
        fits = a.size == known if free == 0 else free == 1 and known > 0 and a.size % known == 0
        if not fits or any(d < -1 for d in self.shape):
            raise ValueError(f"{self.name}: cannot reshape shape {a.shape} (size {a.size}) into {self.shape}")

    @student_implements("a03")
    def compute(self, a):
        # BEGIN SOLUTION a03
        return a.reshape(self.shape)
        # END SOLUTION

    @student_implements("a03")
    def gradient(self, out_grad, node):
        # BEGIN SOLUTION a03
        return reshape(out_grad, node.inputs[0].shape)
        # END SOLUTION


def reshape(a, shape):
    return Reshape(shape)(a)


class BroadcastTo(TensorOp):
    """Repeat size-1 (or missing leading) axes up to ``shape``. The gradient sums the repeats."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def check_inputs(self, a):
        lead = len(self.shape) - a.ndim
        if lead < 0 or any(d != t and d != 1 for d, t in zip(a.shape, self.shape[lead:])):
            raise ValueError(f"{self.name}: cannot broadcast shape {a.shape} to {self.shape}")

    @student_implements("a03")
    def compute(self, a):
        # BEGIN SOLUTION a03
        return a.broadcast_to(self.shape)
        # END SOLUTION

    @student_implements("a03")
    def gradient(self, out_grad, node):
        # BEGIN SOLUTION a03
        return sum_to_shape(out_grad, node.inputs[0].shape)
        # END SOLUTION


def broadcast_to(a, shape):
    return BroadcastTo(shape)(a)


@student_implements("a03")
def sum_to_shape(grad, shape):
    """Sum ``grad`` over the axes that broadcasting from ``shape`` added or stretched."""
    # BEGIN SOLUTION a03
    lead = grad.ndim - len(shape)
    stretched = tuple(lead + i for i, d in enumerate(shape) if d == 1 and grad.shape[lead + i] != 1)
    axes = tuple(range(lead)) + stretched
    return grad.sum(axes).reshape(shape) if axes else grad
    # END SOLUTION


def _view_shape(shape, index):
    """The shape of ``array[index]`` for an array of ``shape`` (numpy's indexing rules)."""
    return np.broadcast_to(np.empty(()), shape)[index].shape


def _write_into_zeros(a, index, shape):
    """An NDArray of zeros of ``shape`` with ``a`` written at ``index``."""
    out = zeros(shape, device=a.device, dtype=a.dtype)
    out[index] = a
    return out


class GetItem(TensorOp):
    """``a[index]`` for ints, slices (with steps), None and ``...``: a view.

    The gradient scatters ``out_grad`` back into zeros of the input's shape.
    """

    def __init__(self, index):
        self.index = index

    def compute(self, a):
        return a[self.index]

    def gradient(self, out_grad, node):
        return scatter_item(out_grad, self.index, node.inputs[0].shape)


def getitem(a, index):
    return GetItem(index)(a)


class ScatterItem(TensorOp):
    """Zeros of ``shape`` with ``a`` written at ``index``: the adjoint of GetItem.

    Its gradient is therefore ``out_grad[index]``.
    """

    def __init__(self, index, shape):
        self.index, self.shape = index, tuple(shape)

    def check_inputs(self, a):
        if _view_shape(self.shape, self.index) != a.shape:
            raise ValueError(f"{self.name}: an input of shape {a.shape} does not fit index "
                             f"{self.index} of shape {self.shape}")

    def compute(self, a):
        return _write_into_zeros(a, self.index, self.shape)

    def gradient(self, out_grad, node):
        return getitem(out_grad, self.index)


def scatter_item(a, index, shape):
    return ScatterItem(index, shape)(a)


class Flip(TensorOp):
    """Reverse the order of elements along ``axes`` (all by default). The gradient flips back."""

    def __init__(self, axes=None):
        self.axes = axes

    def check_inputs(self, a):
        normalize_axes(self.axes, a.ndim, self.name)

    def compute(self, a):
        return a.flip(self.axes)

    def gradient(self, out_grad, node):
        return flip(out_grad, self.axes)


def flip(a, axes=None):
    return Flip(axes)(a)


class Pad(TensorOp):
    """Zeros around ``a``: ``axes[i] = (before, after)`` for every axis i.

    The gradient is the slice of ``out_grad`` where ``a`` was written.
    """

    def __init__(self, axes):
        self.axes = tuple(tuple(pair) for pair in axes)

    def _index(self, shape):
        return tuple(slice(before, before + dim) for (before, _), dim in zip(self.axes, shape))

    def check_inputs(self, a):
        if len(self.axes) != a.ndim or any(len(p) != 2 or min(p) < 0 for p in self.axes):
            raise ValueError(f"{self.name}: axes must be one (before, after) pair of non-negative ints "
                             f"per axis of shape {a.shape}, got {self.axes}")

    def compute(self, a):
        shape = tuple(before + dim + after for (before, after), dim in zip(self.axes, a.shape))
        return _write_into_zeros(a, self._index(a.shape), shape)

    def gradient(self, out_grad, node):
        return getitem(out_grad, self._index(node.inputs[0].shape))


def pad(a, axes):
    return Pad(axes)(a)


class DilationOp(TensorOp):
    """Shared by Dilate and UnDilate: ``dilation`` zeros follow each element along ``axes``."""

    def __init__(self, axes, dilation):
        self.axes = (axes,) if isinstance(axes, numbers.Integral) else tuple(axes)
        self.dilation = dilation

    def check_inputs(self, a):
        normalize_axes(self.axes, a.ndim, self.name)
        if not isinstance(self.dilation, numbers.Integral) or self.dilation < 0:
            raise ValueError(f"{self.name}: dilation must be a non-negative int, got {self.dilation}")

    def _index(self, ndim):
        """Where the original elements sit in the dilated array."""
        axes = normalize_axes(self.axes, ndim, self.name)
        return tuple(slice(None, None, self.dilation + 1) if i in axes else slice(None) for i in range(ndim))


class Dilate(DilationOp):
    """Insert ``dilation`` zeros after every element along ``axes``. The gradient undilates."""

    def compute(self, a):
        axes = normalize_axes(self.axes, a.ndim, self.name)
        shape = tuple(d * (self.dilation + 1) if i in axes else d for i, d in enumerate(a.shape))
        return _write_into_zeros(a, self._index(a.ndim), shape)

    def gradient(self, out_grad, node):
        return undilate(out_grad, self.axes, self.dilation)


def dilate(a, axes, dilation):
    return Dilate(axes, dilation)(a)


class UnDilate(DilationOp):
    """Keep every (dilation+1)-th element along ``axes``. The gradient scatters back into zeros."""

    def compute(self, a):
        return a[self._index(a.ndim)]

    def gradient(self, out_grad, node):
        return scatter_item(out_grad, self._index(out_grad.ndim), node.inputs[0].shape)


def undilate(a, axes, dilation):
    return UnDilate(axes, dilation)(a)
