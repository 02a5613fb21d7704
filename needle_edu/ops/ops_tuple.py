"""Ops between tensors and tuples of tensors: pack, unpack, stack, split and concatenate.

A TensorTuple is one node of the graph, so the gradient of a tuple is a tuple of gradients.
"""
import numbers

from ..autograd import TensorOp, TensorTuple, TensorTupleOp, is_grad_enabled, zeros_like
from ..backend_ndarray import empty
from ..backend_ndarray.ndarray import normalize_axes
from .ops_shape import getitem


class MakeTensorTuple(TensorTupleOp):
    """Pack tensors into a TensorTuple. The gradient unpacks the tuple of gradients."""

    def compute(self, *arrays):
        return tuple(arrays)

    def gradient(self, out_grad, node):
        return tuple(out_grad)


def make_tuple(*tensors):
    return MakeTensorTuple()(*tensors)


class TupleGetItem(TensorOp):
    """Element ``index`` of a TensorTuple. Its gradient is a tuple of zeros but at ``index``."""

    def __init__(self, index):
        self.index = index

    def check_inputs(self, arrays):
        if not isinstance(self.index, numbers.Integral) or not -len(arrays) <= self.index < len(arrays):
            raise IndexError(f"{self.name}: index {self.index} is out of range for a tuple of {len(arrays)}")

    def compute(self, arrays):
        return arrays[self.index]

    def gradient(self, out_grad, node):
        arrays = node.inputs[0].cached_data
        index = self.index % len(arrays)
        zeros = {}  # one tensor of zeros per shape, shared by the entries (nothing writes to it)
        for i, x in enumerate(arrays):
            if i != index and x.shape not in zeros:
                zeros[x.shape] = zeros_like(x)
        grads = make_tuple(*[out_grad if i == index else zeros[x.shape] for i, x in enumerate(arrays)])
        grads.nonzero = {index}  # the entries that are not zeros, for tuple_add
        return grads


def tuple_get_item(tensors, index):
    return TupleGetItem(index)(tensors)


class TupleAdd(TensorTupleOp):
    """Two TensorTuples of the same shapes added entry by entry: how the gradients a tuple gets
    from its several uses add up. The gradient passes ``out_grad`` unchanged to both."""

    def check_inputs(self, a, b):
        if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b)):
            raise ValueError(f"{self.name}: tuples of shapes {[x.shape for x in a]} and "
                             f"{[y.shape for y in b]} differ")

    def compute(self, a, b):
        return tuple(x + y for x, y in zip(a, b))

    def gradient(self, out_grad, node):
        return out_grad, out_grad


def tuple_add(a, b):
    """a + b entry by entry. A backward pass (no graph recorded) adds only the entries that are
    not zeros, when both tuples know them (``nonzero``, as TupleGetItem's gradients do): the T
    one-hot gradients of a tensor split into T pieces (an RNN's time steps) then sum in O(T)
    adds instead of O(T^2)."""
    a_nonzero, b_nonzero = getattr(a, "nonzero", None), getattr(b, "nonzero", None)
    if a_nonzero is None or b_nonzero is None or is_grad_enabled():
        return TupleAdd()(a, b)
    TupleAdd().check_inputs(a.cached_data, b.cached_data)
    arrays = list(a.cached_data)
    for i in b_nonzero:
        arrays[i] = arrays[i] + b.cached_data[i] if i in a_nonzero else b.cached_data[i]
    total = TensorTuple.make_const(tuple(arrays))
    total.nonzero = a_nonzero | b_nonzero
    return total


def _check_shapes(op, arrays, concat_axis=None):
    """At least one array, all of one shape (but along ``concat_axis``, when given)."""
    if not arrays:
        raise ValueError(f"{op.name}: needs at least one tensor")
    first = arrays[0].shape
    skip = None if concat_axis is None else normalize_axes(concat_axis, len(first), op.name)[0]
    for a in arrays[1:]:
        if a.ndim != len(first) or any(d != e for i, (d, e) in enumerate(zip(a.shape, first)) if i != skip):
            where = "" if skip is None else f" but along axis {skip}"
            raise ValueError(f"{op.name}: shapes must match{where}, got {[x.shape for x in arrays]}")


class Stack(TensorOp):
    """Join tensors of one shape along a new ``axis``. The gradient splits along it."""

    def __init__(self, axis=0):
        self.axis = axis

    def check_inputs(self, arrays):
        _check_shapes(self, arrays)
        normalize_axes(self.axis, arrays[0].ndim + 1, self.name)

    def compute(self, arrays):
        axis = self.axis % (arrays[0].ndim + 1)
        shape = arrays[0].shape[:axis] + (len(arrays),) + arrays[0].shape[axis:]
        out = empty(shape, device=arrays[0].device, dtype=arrays[0].dtype)
        for i, a in enumerate(arrays):
            out[(slice(None),) * axis + (i,)] = a
        return out

    def gradient(self, out_grad, node):
        return split(out_grad, self.axis)


def stack(tensors, axis=0):
    return Stack(axis)(make_tuple(*tensors))


class Split(TensorTupleOp):
    """Cut a tensor into the slices along ``axis`` (which disappears). The gradient stacks them."""

    def __init__(self, axis=0):
        self.axis = axis

    def check_inputs(self, a):
        normalize_axes(self.axis, a.ndim, self.name)

    def compute(self, a):
        axis = self.axis % a.ndim
        return tuple(a[(slice(None),) * axis + (i,)] for i in range(a.shape[axis]))

    def gradient(self, out_grad, node):
        return Stack(self.axis)(out_grad)


def split(a, axis=0):
    return Split(axis)(a)


class Concat(TensorOp):
    """Join tensors along an existing ``axis``. The gradient slices each input's part back out."""

    def __init__(self, axis=0):
        self.axis = axis

    def check_inputs(self, arrays):
        _check_shapes(self, arrays, concat_axis=self.axis)

    def _parts(self, shapes):
        """The index of each input's part in the output."""
        axis, start, parts = self.axis % len(shapes[0]), 0, []
        for shape in shapes:
            parts.append((slice(None),) * axis + (slice(start, start + shape[axis]),))
            start += shape[axis]
        return parts

    def compute(self, arrays):
        axis = self.axis % arrays[0].ndim
        shape = list(arrays[0].shape)
        shape[axis] = sum(a.shape[axis] for a in arrays)
        out = empty(shape, device=arrays[0].device, dtype=arrays[0].dtype)
        for part, a in zip(self._parts([a.shape for a in arrays]), arrays):
            out[part] = a
        return out

    def gradient(self, out_grad, node):
        parts = self._parts(node.inputs[0].shape)
        return make_tuple(*[getitem(out_grad, part) for part in parts])


def concat(tensors, axis=0):
    return Concat(axis)(make_tuple(*tensors))
