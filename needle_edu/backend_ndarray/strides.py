"""The stride arithmetic behind NDArray's views: new (shape, strides, offset), no data moved.

A view is a flat buffer read through ``shape``, ``strides`` (elements to step per axis) and
``offset`` (the first element). Each function here maps one view to another; NDArray checks
their arguments first, so they see only valid input. Notebook a06 asks students to write them.
"""
from ..course import student_implements


@student_implements("a06")
def compact_strides(shape):
    """The strides of a compact (row-major) array of ``shape``: the last axis steps by 1."""
    # BEGIN SOLUTION a06
    result, step = [], 1
    for dim in reversed(shape):
        result.append(step)
        step *= dim
    return tuple(result[::-1])
    # END SOLUTION


@student_implements("a06")
def is_compact(shape, strides, offset, buffer_size):
    """True when the view is the whole buffer in row-major order, so kernels may read it flat."""
    # BEGIN SOLUTION a06
    size = 1
    for dim in shape:
        size *= dim
    return offset == 0 and size == buffer_size and tuple(strides) == compact_strides(shape)
    # END SOLUTION


@student_implements("a06")
def permute_view(shape, strides, offset, axes):
    """The view with its axes reordered: result axis i is axis ``axes[i]`` of this view."""
    # BEGIN SOLUTION a06
    return tuple(shape[axis] for axis in axes), tuple(strides[axis] for axis in axes), offset
    # END SOLUTION


@student_implements("a06")
def broadcast_view(shape, strides, offset, new_shape):
    """The view as ``new_shape``: new leading axes and size-1 axes repeat with stride 0."""
    # BEGIN SOLUTION a06
    lead = len(new_shape) - len(shape)
    kept = tuple(0 if old == 1 and new != 1 else stride
                 for old, new, stride in zip(shape, new_shape[lead:], strides))
    return tuple(new_shape), (0,) * lead + kept, offset
    # END SOLUTION


@student_implements("a06")
def flip_view(shape, strides, offset, axes):
    """The view reversed along ``axes``: start at the last element there and step backwards."""
    # BEGIN SOLUTION a06
    flipped = list(strides)
    for k in axes:
        if shape[k] > 0:
            offset += (shape[k] - 1) * flipped[k]
        flipped[k] = -flipped[k]
    return tuple(shape), tuple(flipped), offset
    # END SOLUTION


@student_implements("a06")
def index_view(shape, strides, offset, index):
    """The view ``a[index]``; ``index`` has one int or slice per axis, in order, and ``None``
    where a new size-1 axis goes. Ints drop their axis; slices may step, also backwards."""
    # BEGIN SOLUTION a06
    new_shape, new_strides, axis = [], [], 0
    for key in index:
        if key is None:
            new_shape.append(1)
            new_strides.append(0)
            continue
        if isinstance(key, slice):
            start, stop, step = key.indices(shape[axis])
            length = len(range(start, stop, step))
            if length:
                offset += start * strides[axis]
            new_shape.append(length)
            new_strides.append(strides[axis] * step)
        else:
            offset += (key % shape[axis]) * strides[axis]
        axis += 1
    return tuple(new_shape), tuple(new_strides), offset
    # END SOLUTION
