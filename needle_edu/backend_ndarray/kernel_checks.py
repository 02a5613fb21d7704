"""Argument checks for the Python kernel modules (numpy, numba, numba_cuda).

``NDArray`` never calls a kernel with bad arguments; these checks are for students who
call a kernel module directly, so that a mistake raises instead of touching stray memory.
"""
import math


def _fail(kernel, message):
    raise ValueError(f"{kernel}: {message}")


def same_dtype(kernel, *buffers):
    dtypes = {b.dtype for b in buffers}
    if len(dtypes) > 1:
        raise TypeError(f"{kernel}: buffers have different dtypes {sorted(dtypes)}")


def sizes(kernel, expected, *buffers):
    for b in buffers:
        if b.size != expected:
            _fail(kernel, f"buffer of size {b.size} where {expected} elements are needed")


def elementwise(kernel, out, *inputs):
    """An elementwise kernel's arguments: one dtype, and every input the size of ``out``."""
    dtype, size = out.dtype, out.size
    for b in inputs:  # one pass in the common case; the checks below word the error
        if b.dtype != dtype or b.size != size:
            same_dtype(kernel, out, *inputs)
            sizes(kernel, size, *inputs)


def view(kernel, buffer, shape, strides, offset):
    """The strided view (shape, strides, offset) lies inside ``buffer``."""
    if len(shape) != len(strides):
        _fail(kernel, f"shape {tuple(shape)} and strides {tuple(strides)} differ in length")
    if any(d < 0 for d in shape):
        _fail(kernel, f"negative dimension in shape {tuple(shape)}")
    if math.prod(shape) == 0:
        return
    low = offset + sum((d - 1) * s for d, s in zip(shape, strides) if s < 0)
    high = offset + sum((d - 1) * s for d, s in zip(shape, strides) if s > 0)
    if low < 0 or high >= buffer.size:
        _fail(kernel, f"view shape={tuple(shape)} strides={tuple(strides)} offset={offset} "
                      f"reaches elements {low}..{high} of a buffer of size {buffer.size}")


def compact(a, out, shape, strides, offset):
    """``compact``'s arguments: the view of ``a`` fits in it and ``out`` holds the view."""
    same_dtype("compact", a, out)
    view("compact", a, shape, strides, offset)
    sizes("compact", math.prod(shape), out)


def setitem(a, out, shape, strides, offset):
    """``ewise_setitem``'s arguments: the view of ``out`` fits in it and ``a`` fills it."""
    same_dtype("ewise_setitem", a, out)
    view("ewise_setitem", out, shape, strides, offset)
    sizes("ewise_setitem", math.prod(shape), a)


def blocks(kernel, a, out, outer, reduce, inner):
    same_dtype(kernel, a, out)
    sizes(kernel, outer * reduce * inner, a)
    sizes(kernel, outer * inner, out)


def matmul(a, b, out, batch, m, n, p):
    same_dtype("matmul", a, b, out)
    sizes("matmul", batch * m * n, a)
    sizes("matmul", batch * n * p, b)
    sizes("matmul", batch * m * p, out)
