"""The reference device: every kernel of the flat protocol, written with numpy.

The protocol. A device module exposes a buffer class and flat kernels on it:

- ``Array(size, dtype)``: a flat buffer of ``size`` elements, ``dtype`` is ``"float32"``
  or ``"float64"``; attributes ``size`` and ``dtype``.
- ``from_numpy(a, out)``: copy a 1-D contiguous numpy array of ``out.size`` elements in.
- ``to_numpy(a, shape, strides, offset)``: a new numpy array of the strided view.
- ``fill(out, val)``.
- ``compact(a, out, shape, strides, offset)``: ``out`` (compact, row-major) receives the
  strided view of ``a``; strides and offset are in elements, strides may be 0 or negative.
- ``ewise_setitem(a, out, shape, strides, offset)``: the reverse: compact ``a`` is written
  into the strided view of ``out``. ``scalar_setitem(size, val, out, shape, strides,
  offset)`` writes one value into it.
- ``ewise_<op>(a, b, out)`` and ``scalar_<op>(a, val, out)`` for every op in ``BINARY_OPS``
  (comparisons give 1.0 or 0.0); ``ewise_<op>(a, out)`` for every op in ``UNARY_OPS``.
- ``reduce_sum(a, out, outer, reduce, inner)`` and ``reduce_max`` (same signature): ``a``
  is read as a compact (outer, reduce, inner) block and ``out`` receives (outer, inner).
- ``matmul(a, b, out, batch, m, n, p)``: compact (batch, m, n) @ (batch, n, p).

Every buffer handed to a kernel is compact and of the right size and dtype: ``NDArray``
checks all of that before any kernel runs, so kernels stay flat loops.
"""

import numpy as np

from . import kernel_checks as check

BINARY_OPS = ("add", "sub", "mul", "div", "power", "maximum", "eq", "ne", "lt", "le", "gt", "ge")
UNARY_OPS = ("neg", "log", "exp", "tanh", "sqrt")


class Array:
    """A flat buffer: here simply a 1-D numpy array."""

    def __init__(self, size, dtype="float32"):
        self.array = np.empty(size, dtype=dtype)
        # Asked by every kernel call: numpy would build the name anew each time.
        self._dtype = dtype if dtype in ("float32", "float64") else self.array.dtype.name

    @property
    def size(self):
        return self.array.size

    @property
    def dtype(self):
        return self._dtype


def _strided(buffer, shape, strides, offset, writeable=False):
    """The numpy view of a flat buffer; negative strides may walk back from ``offset``."""
    itemsize = buffer.itemsize
    return np.lib.stride_tricks.as_strided(
        buffer[offset:], shape, tuple(s * itemsize for s in strides), writeable=writeable)


def from_numpy(a, out):
    check.sizes("from_numpy", a.size, out)
    out.array[:] = a


def to_numpy(a, shape, strides, offset):
    check.view("to_numpy", a, shape, strides, offset)
    return _strided(a.array, shape, strides, offset).copy()


def fill(out, val):
    out.array.fill(val)


def compact(a, out, shape, strides, offset):
    check.compact(a, out, shape, strides, offset)
    out.array[:] = _strided(a.array, shape, strides, offset).reshape(-1)


def ewise_setitem(a, out, shape, strides, offset):
    check.setitem(a, out, shape, strides, offset)
    _strided(out.array, shape, strides, offset, writeable=True)[...] = a.array.reshape(shape)


def scalar_setitem(size, val, out, shape, strides, offset):
    check.view("scalar_setitem", out, shape, strides, offset)
    _strided(out.array, shape, strides, offset, writeable=True)[...] = val


_BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "power": np.power,
    "maximum": np.maximum, "eq": np.equal, "ne": np.not_equal, "lt": np.less,
    "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
}
_UNARY = {"neg": np.negative, "log": np.log, "exp": np.exp, "tanh": np.tanh, "sqrt": np.sqrt}


def _binary_kernels(name, ufunc):
    def ewise(a, b, out):
        check.elementwise(f"ewise_{name}", out, a, b)
        ufunc(a.array, b.array, out=out.array)

    def scalar(a, val, out):
        check.elementwise(f"scalar_{name}", out, a)
        ufunc(a.array, a.array.dtype.type(val), out=out.array)

    return ewise, scalar


def _unary_kernel(name, ufunc):
    def ewise(a, out):
        check.elementwise(f"ewise_{name}", out, a)
        ufunc(a.array, out=out.array)

    return ewise


for _name, _ufunc in _BINARY.items():
    globals()[f"ewise_{_name}"], globals()[f"scalar_{_name}"] = _binary_kernels(_name, _ufunc)
for _name, _ufunc in _UNARY.items():
    globals()[f"ewise_{_name}"] = _unary_kernel(_name, _ufunc)


def reduce_sum(a, out, outer, reduce, inner):
    check.blocks("reduce_sum", a, out, outer, reduce, inner)
    out.array[:] = a.array.reshape(outer, reduce, inner).sum(axis=1).reshape(-1)


def reduce_max(a, out, outer, reduce, inner):
    check.blocks("reduce_max", a, out, outer, reduce, inner)
    out.array[:] = a.array.reshape(outer, reduce, inner).max(axis=1).reshape(-1)


def matmul(a, b, out, batch, m, n, p):
    check.matmul(a, b, out, batch, m, n, p)
    np.matmul(a.array.reshape(batch, m, n), b.array.reshape(batch, n, p),
              out=out.array.reshape(batch, m, p))
