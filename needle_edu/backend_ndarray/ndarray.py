"""NDArray: an n-dimensional array as a flat device buffer plus shape, strides and offset.

All view logic lives here, in Python: reshape, permute, broadcast_to, slicing and flip only
change (shape, strides, offset) and never copy. Devices see compact buffers and flat
kernels (``backend_numpy`` documents the protocol). Every argument is checked here, before
any kernel runs, so a mistake is a clear Python exception and never a crash.
"""
import functools
import itertools
import math
import numbers
import operator

import numpy as np

from . import strides as _strides
from .devices import Device, default_device, device as lookup_device

DTYPES = ("float32", "float64")
# For isinstance: Python's own number types first, as a check against the numbers ABCs alone
# costs about a microsecond, and scalars and axes are checked in every op.
REAL_TYPES = (float, int, numbers.Real)
INTEGER_TYPES = (int, numbers.Integral)


def dtype_name(dtype, op="NDArray"):
    """The canonical name of ``dtype`` (float32 or float64), or a TypeError naming ``op``."""
    if isinstance(dtype, str) and dtype in DTYPES:  # already canonical: the hot path of every op
        return dtype
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = repr(dtype)
    if name not in DTYPES:
        raise TypeError(f"{op}: dtype {name} is not supported; use float32 or float64")
    return name


# The kernels of each elementwise op: (on two arrays, with a number).
_KERNEL_NAMES = {op: (f"ewise_{op}", f"scalar_{op}") for op in (
    "add", "sub", "mul", "div", "power", "maximum", "eq", "ne", "lt", "le", "gt", "ge",
    "neg", "log", "exp", "tanh", "sqrt")}


def _stride_rules():
    """The module whose functions compute views: ``strides`` (written in notebook a06), or, in a
    student build made before a06, where those are stubs, the same rules taken from numpy."""
    try:
        _strides.compact_strides((2, 3))
    except NotImplementedError:
        try:
            from . import strides_numpy
        except ImportError:  # the a06 build: the student's rules arrive with course.install
            return _strides
        return strides_numpy
    return _strides


RULES = _stride_rules()


@functools.lru_cache(maxsize=1024)
def _compact_strides(shape):
    """Row-major strides for new arrays (made by the thousand: cached)."""
    return tuple(itertools.accumulate(shape[:0:-1], operator.mul, initial=1))[::-1] if shape else ()


def _merge_dims(shape, strides):
    """The same view with fewer dimensions: size-1 axes dropped, contiguous neighbours merged."""
    merged_shape, merged_strides = [], []
    for dim, stride in zip(shape, strides):
        if dim == 1:
            continue
        if merged_shape and merged_strides[-1] == stride * dim:
            merged_shape[-1] *= dim
            merged_strides[-1] = stride
        else:
            merged_shape.append(dim)
            merged_strides.append(stride)
    return tuple(merged_shape) or (1,), tuple(merged_strides) or (1,)


def _adjacent_runs(axes):
    """``axes`` sorted and cut into runs of neighbours: (0, 2, 3) -> [(0,), (2, 3)]."""
    runs = []
    for axis in sorted(axes):
        if runs and runs[-1][-1] == axis - 1:
            runs[-1] += (axis,)
        else:
            runs.append((axis,))
    return runs


def normalize_axes(axes, ndim, op):
    """Axes as a tuple of non-negative ints, each in range and none repeated."""
    if axes is None:
        return tuple(range(ndim))
    if isinstance(axes, INTEGER_TYPES):
        axes = (axes,)
    if not isinstance(axes, (tuple, list)):
        raise TypeError(f"{op}: axis must be an int or a tuple of ints, got {type(axes).__name__}")
    result = []
    for axis in axes:
        if not isinstance(axis, INTEGER_TYPES):
            raise TypeError(f"{op}: axis must be an int, got {type(axis).__name__}")
        if not -ndim <= axis < ndim:
            raise ValueError(f"{op}: axis {axis} is out of range for an array of {ndim} dimensions")
        result.append(int(axis) % ndim)
    if len(set(result)) != len(result):
        raise ValueError(f"{op}: repeated axis in {tuple(axes)}")
    return tuple(result)


def broadcast_shapes(*shapes, op="broadcast_shapes"):
    """The shape numpy's broadcasting rules give ``shapes``, or a ValueError naming them."""
    ndim = max(len(s) for s in shapes)
    result = []
    for i in range(ndim):
        dims = {s[i - ndim + len(s)] for s in shapes if i - ndim + len(s) >= 0} - {1}
        if len(dims) > 1:
            raise ValueError(f"{op}: shapes {' and '.join(map(str, shapes))} cannot be broadcast together")
        result.append(dims.pop() if dims else 1)
    return tuple(result)


class NDArray:
    """A strided view of a flat buffer on a device.

    ``NDArray(data, device=None, dtype=None)`` copies numpy arrays, lists, numbers or
    other NDArrays. float64 numpy input stays float64; everything else becomes float32.
    """

    __hash__ = None  # == is elementwise, as in numpy
    # A fixed set of fields: arrays are made by the thousand a training step. ``_compact`` is True
    # once the array is known to be compact (every new array is), None until a view is asked.
    __slots__ = ("_shape", "_strides", "_offset", "_device", "_handle", "_dtype", "_compact", "__weakref__")

    def __init__(self, data, device=None, dtype=None):
        if isinstance(data, NDArray):
            dtype = data.dtype if dtype is None else dtype
            data = data.numpy()
        elif not isinstance(data, np.ndarray):
            data = np.asarray(data, dtype=dtype or "float32")
        if dtype is None:
            dtype = "float64" if data.dtype == np.float64 else "float32"
        if data.dtype.kind not in "biuf":
            raise TypeError(f"NDArray: cannot make an array from numpy dtype {data.dtype}")
        dtype = dtype_name(dtype)
        device = default_device() if device is None else lookup_device(device)
        array = NDArray._empty(data.shape, device, dtype)  # numpy's shape: a tuple of ints >= 0
        if array.size:
            device.module.from_numpy(np.ascontiguousarray(data, dtype=dtype).reshape(-1), array._handle)
        self._become(array)

    def _become(self, other):
        self._shape, self._strides, self._offset = other._shape, other._strides, other._offset
        self._device, self._handle, self._dtype = other._device, other._handle, other._dtype
        self._compact = other._compact

    @staticmethod
    def make(shape, strides=None, device=None, handle=None, offset=0, dtype="float32"):
        """A new array of ``shape`` (uninitialized), or a view of ``handle`` when given."""
        array = NDArray.__new__(NDArray)
        array._shape = tuple(int(d) for d in shape)
        if any(d < 0 for d in array._shape):
            raise ValueError(f"NDArray: negative dimension in shape {array._shape}")
        array._strides = _compact_strides(array._shape) if strides is None else tuple(strides)
        array._offset = offset
        array._device = default_device() if device is None else lookup_device(device)
        array._compact = None
        if handle is None:
            handle = array._device.module.Array(math.prod(array._shape), dtype_name(dtype))
            array._compact = strides is None and offset == 0
        array._handle, array._dtype = handle, handle.dtype
        return array

    @staticmethod
    def _empty(shape, device, dtype):
        """``make`` for the library's own results: ``shape`` a checked tuple, ``device`` a Device
        and ``dtype`` a canonical name, so nothing is converted or checked again."""
        array = NDArray.__new__(NDArray)
        array._shape, array._strides, array._offset = shape, _compact_strides(shape), 0
        array._device, array._dtype, array._compact = device, dtype, True
        array._handle = device.module.Array(math.prod(shape), dtype)
        return array

    def _view(self, shape, strides, offset, compact=None):
        """A view of this array's buffer (shape and strides already checked tuples); ``compact``
        True when the caller knows it is."""
        array = NDArray.__new__(NDArray)
        array._shape, array._strides, array._offset = shape, strides, offset
        array._device, array._handle, array._dtype = self._device, self._handle, self._dtype
        array._compact = compact
        return array

    # ---------------------------------------------------------------- properties
    @property
    def shape(self):
        return self._shape

    @property
    def strides(self):
        return self._strides

    @property
    def offset(self):
        return self._offset

    @property
    def device(self):
        return self._device

    @property
    def dtype(self):
        return self._dtype  # the buffer's, kept here: asking a C++ buffer makes a new str each time

    @property
    def ndim(self):
        return len(self._shape)

    @property
    def size(self):
        return math.prod(self._shape)

    def __len__(self):
        if not self._shape:
            raise TypeError("len() of a 0-d NDArray")
        return self._shape[0]

    def __repr__(self):
        return f"NDArray({self.numpy()!r}, device={self.device.name}, dtype={self.dtype})"

    def __str__(self):
        return str(self.numpy())

    # ---------------------------------------------------------------- data movement
    def _kernel_view(self):
        """(shape, strides, offset) for a kernel: at least 1-D, neighbours merged."""
        shape, strides = _merge_dims(self._shape, self._strides)
        return shape, strides, self._offset

    def numpy(self):
        """A numpy copy of this array."""
        if self.size == 0:
            return np.empty(self._shape, dtype=self.dtype)
        flat = self._device.module.to_numpy(self._handle, *self._kernel_view())
        return np.asarray(flat).reshape(self._shape)

    def __array__(self, dtype=None, copy=None):
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def to(self, device):
        """This array on ``device`` (itself when it is already there)."""
        device = lookup_device(device)
        return self if device == self._device else NDArray(self.numpy(), device=device, dtype=self.dtype)

    def astype(self, dtype):
        dtype = dtype_name(dtype, "astype")
        return self if dtype == self.dtype else NDArray(self.numpy(), device=self._device, dtype=dtype)

    def fill(self, value):
        """Set every element of this array (a view: of the viewed elements) to ``value``."""
        if isinstance(value, REAL_TYPES) and (self._compact or self.is_compact()):
            if self.size:  # the whole buffer: one flat kernel, no view to walk
                self._device.module.fill(self._handle, float(value))
            return
        self[...] = value

    def is_compact(self):
        """Row-major, starting at the buffer's first element and covering all of it."""
        if self._compact is None:  # asked once per view: its shape, strides and buffer never change
            self._compact = bool(RULES.is_compact(self._shape, self._strides, self._offset,
                                                  self._handle.size))
        return self._compact

    def compact(self):
        """This array if compact, else a compact copy."""
        return self if (self._compact or self.is_compact()) else self._copy()

    def _is_transposed_compact(self):
        """A 2-D view whose transpose is compact: the ``.T`` of a compact matrix."""
        return (self.ndim == 2 and not self.is_compact() and self._offset == 0
                and self._strides == (1, self._shape[0]) and self._handle.size == self.size)

    # ---------------------------------------------------------------- views
    # NDArray checks the arguments; the rules of ``strides`` compute the new view.
    def as_strided(self, shape, strides, offset=None):
        """A view of this array's buffer with any ``shape``, ``strides`` and ``offset``.

        Strides count elements, not bytes, and may be 0 (repeat) or negative (walk back);
        ``offset`` (default: this view's) is where element (0, ..., 0) lies. No data is copied,
        so writes through the view reach this array. Unlike numpy's, every element the view
        can reach is checked to lie inside the buffer: an IndexError says which does not.
        """
        shape, strides = tuple(shape), tuple(strides)
        offset = self._offset if offset is None else offset
        for name, values in (("shape", shape), ("strides", strides), ("offset", (offset,))):
            if not all(isinstance(v, INTEGER_TYPES) for v in values):
                raise TypeError(f"as_strided: {name} must be ints, got {values}")
        if len(shape) != len(strides):
            raise ValueError(f"as_strided: shape {shape} and strides {strides} differ in length")
        if any(d < 0 for d in shape):
            raise ValueError(f"as_strided: negative dimension in shape {shape}")
        if math.prod(shape):
            low = offset + sum((d - 1) * s for d, s in zip(shape, strides) if s < 0)
            high = offset + sum((d - 1) * s for d, s in zip(shape, strides) if s > 0)
            if low < 0 or high >= self._handle.size:
                raise IndexError(f"as_strided: the view of shape {shape}, strides {strides} and "
                                 f"offset {offset} reaches elements {low}..{high} of a buffer of "
                                 f"{self._handle.size}")
        shape, strides = tuple(int(d) for d in shape), tuple(int(s) for s in strides)
        return self._view(shape, strides, int(offset))

    def reshape(self, *shape):
        """A view with a new shape of the same size; one dimension may be -1.

        A non-compact array is compacted (copied) first, as numpy does when it must.
        """
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        if not all(isinstance(d, INTEGER_TYPES) for d in shape):
            raise TypeError(f"reshape: shape must be ints, got {shape}")
        if sum(1 for d in shape if d == -1) > 1 or any(d < -1 for d in shape):
            raise ValueError(f"reshape: bad shape {shape}; only one dimension may be -1")
        known = math.prod(d for d in shape if d != -1)
        if -1 in shape:
            if known == 0 or self.size % known:
                raise ValueError(f"reshape: cannot reshape array of shape {self._shape} into {shape}")
            shape = tuple(self.size // known if d == -1 else d for d in shape)
        if math.prod(shape) != self.size:
            raise ValueError(f"reshape: cannot reshape array of shape {self._shape} "
                             f"(size {self.size}) into {shape} (size {math.prod(shape)})")
        shape = tuple(int(d) for d in shape)
        return self.compact()._view(shape, tuple(RULES.compact_strides(shape)), 0, compact=True)

    def permute(self, *axes):
        """A view with the axes reordered: result axis i is this array's axis ``axes[i]``."""
        axes = tuple(axes[0]) if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        order = normalize_axes(axes, self.ndim, "permute")
        if sorted(order) != list(range(self.ndim)):
            raise ValueError(f"permute: axes {axes} are not a permutation of {self.ndim} axes "
                             f"(shape {self._shape})")
        return self._view(*self._rule(RULES.permute_view, order))

    def broadcast_to(self, shape):
        """A view repeating size-1 (or missing leading) axes with stride 0."""
        shape = tuple(shape)
        lead = len(shape) - self.ndim
        if lead < 0 or any(d != t and d != 1 for d, t in zip(self._shape, shape[lead:])):
            raise ValueError(f"broadcast_to: cannot broadcast shape {self._shape} to {shape}")
        return self._view(*self._rule(RULES.broadcast_view, shape))

    def flip(self, axes=None):
        """A view with the order of elements reversed along ``axes`` (all by default)."""
        return self._view(*self._rule(RULES.flip_view, normalize_axes(axes, self.ndim, "flip")))

    def _rule(self, rule, argument):
        """(shape, strides, offset) of the view ``rule`` makes of this one, as plain ints."""
        shape, strides, offset = rule(self._shape, self._strides, self._offset, argument)
        return tuple(int(d) for d in shape), tuple(int(s) for s in strides), int(offset)

    def _view_of_index(self, index):
        """(shape, strides, offset) of ``self[index]`` for ints, slices, ``...`` and ``None``."""
        index = index if isinstance(index, tuple) else (index,)
        for item in index:
            if not (item is None or item is Ellipsis or isinstance(item, (slice, *INTEGER_TYPES))):
                raise TypeError(f"getitem: index of type {type(item).__name__} is not supported "
                                f"(use ints, slices, ... and None)")
        if sum(item is Ellipsis for item in index) > 1:
            raise IndexError("getitem: an index can only have a single ellipsis ('...')")
        used = sum(1 for item in index if item is not None and item is not Ellipsis)
        if used > self.ndim:
            raise IndexError(f"getitem: too many indices ({used}) for an array of shape {self._shape}")
        if Ellipsis in index:
            at = index.index(Ellipsis)
            index = index[:at] + (slice(None),) * (self.ndim - used) + index[at + 1:]
        else:
            index = index + (slice(None),) * (self.ndim - used)
        axis = 0
        for item in index:
            if item is None:
                continue
            if not isinstance(item, slice):
                dim = self._shape[axis]
                if not -dim <= item < dim:
                    raise IndexError(f"getitem: index {item} is out of range for axis {axis} "
                                     f"of size {dim} (shape {self._shape})")
            elif item.step == 0:
                raise ValueError("getitem: slice step cannot be zero")
            axis += 1
        return self._rule(RULES.index_view, tuple(int(i) if isinstance(i, INTEGER_TYPES) else i
                                                  for i in index))

    def __getitem__(self, index):
        shape, strides, offset = self._view_of_index(index)
        return self._view(shape, strides, offset)

    def __setitem__(self, index, value):
        view = self[index]
        if view.size == 0:
            return
        module = self._device.module
        if isinstance(value, REAL_TYPES):
            module.scalar_setitem(view.size, float(value), self._handle, *view._kernel_view())
            return
        if not isinstance(value, NDArray):
            value = NDArray(np.asarray(value), device=self._device, dtype=self.dtype)
        self._check_same_kind(value, "setitem")
        if value.shape != view.shape:
            if broadcast_shapes(value.shape, view.shape, op="setitem") != view.shape:
                raise ValueError(f"setitem: cannot assign shape {value.shape} to a view of shape {view.shape}")
            value = value.broadcast_to(view.shape)
        # Copy first when the value shares our buffer, so overlapping reads see old values.
        source = value._copy() if value._handle is self._handle else value.compact()
        module.ewise_setitem(source._handle, self._handle, *view._kernel_view())

    def _copy(self):
        """A compact copy, even when this array is already compact."""
        out = NDArray._empty(self._shape, self._device, self.dtype)
        if self.size:
            self._device.module.compact(self._handle, out._handle, *self._kernel_view())
        return out

    # ---------------------------------------------------------------- elementwise ops
    def _check_same_kind(self, other, op):
        if other._device is not self._device and other._device != self._device:
            raise ValueError(f"{op}: arrays are on different devices ({self._device.name} "
                             f"and {other.device.name}); move one with .to(device)")
        if other.dtype != self.dtype:
            raise TypeError(f"{op}: dtypes differ ({self.dtype} with shape {self._shape} and "
                            f"{other.dtype} with shape {other.shape}); convert one with .astype()")

    def _binary(self, other, op):
        ewise, scalar = _KERNEL_NAMES[op]
        out = NDArray._empty(self._shape, self._device, self._dtype)
        if isinstance(other, NDArray):
            self._check_same_kind(other, ewise)
            if other._shape != self._shape:
                raise ValueError(f"{ewise}: shapes {self._shape} and {other.shape} differ "
                                 f"(NDArray does not broadcast implicitly: call broadcast_to first)")
            if self.size == 0:  # no kernel for an empty array
                return out
            getattr(self._device.module, ewise)(self.compact()._handle, other.compact()._handle, out._handle)
        elif isinstance(other, REAL_TYPES):
            if self.size == 0:
                return out
            getattr(self._device.module, scalar)(self.compact()._handle, float(other), out._handle)
        else:
            raise TypeError(f"{ewise}: expected an NDArray or a number, got {type(other).__name__}")
        return out

    def _unary(self, op):
        out = NDArray._empty(self._shape, self._device, self._dtype)
        if self.size:
            getattr(self._device.module, _KERNEL_NAMES[op][0])(self.compact()._handle, out._handle)
        return out

    def _full_like(self, value):
        out = NDArray._empty(self._shape, self._device, self.dtype)
        out.fill(value)
        return out

    def _reflected(self, other, op):
        """``other <op> self`` for a number ``other``."""
        if not isinstance(other, REAL_TYPES):
            raise TypeError(f"ewise_{op}: expected an NDArray or a number, got {type(other).__name__}")
        return self._full_like(other)._binary(self, op)

    def __add__(self, other):
        return self._binary(other, "add")

    __radd__ = __add__

    def __sub__(self, other):
        return self._binary(other, "sub")

    def __rsub__(self, other):
        return (-self) + other

    def __mul__(self, other):
        return self._binary(other, "mul")

    __rmul__ = __mul__

    def __truediv__(self, other):
        return self._binary(other, "div")

    def __rtruediv__(self, other):
        return self._reflected(other, "div")

    def __pow__(self, other):
        return self._binary(other, "power")

    def __rpow__(self, other):
        return self._reflected(other, "power")

    def __neg__(self):
        return self._unary("neg")

    def maximum(self, other):
        return self._binary(other, "maximum")

    def __eq__(self, other):
        return self._binary(other, "eq")

    def __ne__(self, other):
        return self._binary(other, "ne")

    def __lt__(self, other):
        return self._binary(other, "lt")

    def __le__(self, other):
        return self._binary(other, "le")

    def __gt__(self, other):
        return self._binary(other, "gt")

    def __ge__(self, other):
        return self._binary(other, "ge")

    def log(self):
        return self._unary("log")

    def exp(self):
        return self._unary("exp")

    def tanh(self):
        return self._unary("tanh")

    def sqrt(self):
        return self._unary("sqrt")

    def __bool__(self):
        if self.size != 1:
            raise ValueError(f"the truth value of an NDArray of shape {self._shape} is ambiguous")
        return bool(self.numpy().reshape(-1)[0])

    def __float__(self):
        if self.size != 1:
            raise TypeError(f"only size-1 NDArrays convert to float, not shape {self._shape}")
        return float(self.numpy().reshape(-1)[0])

    # ---------------------------------------------------------------- reductions
    def _reduce(self, axis, keepdims, op):
        axes = normalize_axes(axis, self.ndim, op)
        kept = tuple(i for i in range(self.ndim) if i not in axes)
        out_shape = tuple(1 if i in axes else d for i, d in enumerate(self._shape)) if keepdims \
            else tuple(self._shape[i] for i in kept)
        reduce = math.prod(self._shape[i] for i in axes)
        if reduce == 0 and op == "max":
            raise ValueError(f"max: reduction over an empty axis (shape {self._shape}, axes {axes})")
        runs = _adjacent_runs(axes)
        if len(runs) > 1 and reduce and math.prod(out_shape):
            # One run of neighbouring axes at a time, the last first: each pass reads its input as
            # it lies, where moving all the reduced axes to the end would copy the whole array.
            result = self
            for run in reversed(runs):
                result = result._reduce(run, True, op)
            return result if keepdims else result.reshape(out_shape)
        out = NDArray._empty(out_shape, self._device, self.dtype)
        if out.size == 0:
            return out
        if reduce == 0:
            out.fill(0.0)
            return out
        if axes and axes == tuple(range(axes[0], axes[-1] + 1)):
            source = self.compact()  # reduced axes are adjacent: (outer, reduce, inner) as is
            outer = math.prod(self._shape[:axes[0]])
        else:
            source = self.permute(kept + axes).compact()
            outer = math.prod(self._shape[i] for i in kept)
        inner = self.size // max(outer * reduce, 1)
        getattr(self._device.module, f"reduce_{op}")(source._handle, out._handle, outer, reduce, inner)
        return out

    def sum(self, axis=None, keepdims=False):
        """Sum over ``axis`` (an int, a tuple of ints, or None for all)."""
        return self._reduce(axis, keepdims, "sum")

    def max(self, axis=None, keepdims=False):
        """Maximum over ``axis`` (an int, a tuple of ints, or None for all)."""
        return self._reduce(axis, keepdims, "max")

    # ---------------------------------------------------------------- matmul
    def __matmul__(self, other):
        if not isinstance(other, NDArray):
            raise TypeError(f"matmul: expected an NDArray, got {type(other).__name__}")
        self._check_same_kind(other, "matmul")
        if self.ndim < 2 or other.ndim < 2:
            raise ValueError(f"matmul: both operands need at least 2 dimensions, got shapes "
                             f"{self._shape} and {other.shape}")
        (m, n), (n2, p) = self._shape[-2:], other.shape[-2:]
        if n != n2:
            raise ValueError(f"matmul: shapes {self._shape} and {other.shape} do not align "
                             f"({n} != {n2})")
        if self.ndim == 2 and other.ndim == 2:  # the common case: no batch axes to broadcast
            batch_shape, a = (), self
        else:
            try:
                batch_shape = broadcast_shapes(self._shape[:-2], other.shape[:-2])
            except ValueError:
                raise ValueError(f"matmul: shapes {self._shape} and {other.shape} cannot be broadcast "
                                 f"together in their batch dimensions") from None
            a = self.broadcast_to(batch_shape + (m, n))
        batch = math.prod(batch_shape)
        out = NDArray._empty(batch_shape + (m, p), self._device, self.dtype)
        if out.size == 0:
            return out
        if n == 0:
            out.fill(0.0)
            return out
        module = self._device.module
        if self.ndim == 2 and other.ndim == 2 and m * (n + p) < n * p and other._is_transposed_compact():
            # a @ Bᵀ for a large compact B and a thin a (a gradient's out_grad @ Wᵀ): (B @ aᵀ)ᵀ
            # copies the thin aᵀ instead of the large Bᵀ; out's buffer holds the (p, m) product.
            module.matmul(other._handle, self.permute((1, 0)).compact()._handle, out._handle, 1, p, n, m)
            return out._view((m, p), (1, m), 0, compact=False)
        if other.ndim == 2:  # one right operand for the whole batch: one (batch*m, n) @ (n, p)
            module.matmul(a.compact()._handle, other.compact()._handle, out._handle, 1, batch * m, n, p)
        else:
            b = other.broadcast_to(batch_shape + (n, p)).compact()
            module.matmul(a.compact()._handle, b._handle, out._handle, batch, m, n, p)
        return out


def array(data, device=None, dtype=None):
    """A new NDArray holding a copy of ``data``."""
    return NDArray(data, device=device, dtype=dtype)


def empty(shape, device=None, dtype="float32"):
    return NDArray.make(shape, device=device, dtype=dtype)


def full(shape, fill_value, device=None, dtype="float32"):
    out = NDArray.make(shape, device=device, dtype=dtype)
    out.fill(fill_value)
    return out


def zeros(shape, device=None, dtype="float32"):
    return full(shape, 0.0, device, dtype)


def ones(shape, device=None, dtype="float32"):
    return full(shape, 1.0, device, dtype)


__all__ = ["NDArray", "Device", "normalize_axes", "array", "empty", "full", "zeros", "ones", "broadcast_shapes"]
