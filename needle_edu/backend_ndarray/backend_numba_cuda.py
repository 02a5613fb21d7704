"""The ``numba_cuda`` device: the flat kernel protocol as ``numba.cuda`` GPU kernels.

Buffers live in GPU memory (``numba.cuda.device_array``); each kernel is a grid of thread
blocks, and ``backend_numpy``'s docstring is the protocol. Without a GPU, numba's CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1`` before numba is first imported) runs the very same
kernels in Python, one thread block at a time and slowly: the launch configurations
below then shrink to a single small block, and every loop strides over the whole grid,
so the same code is correct for any grid size.
"""
import functools
import math
import re
import warnings

import numpy as np
from numba import config, cuda, from_dtype

from ..course import student_implements
from . import kernel_checks as check
from .backend_numpy import BINARY_OPS, UNARY_OPS

SIMULATED = bool(config.ENABLE_CUDASIM)
THREADS = 32 if SIMULATED else 256  # threads per block for 1-D kernels
MAX_BLOCKS = 1 if SIMULATED else 4096  # grid-stride loops cover the rest
TILE = 4 if SIMULATED else 16  # matmul tiles are TILE x TILE, one thread per element

if SIMULATED:
    # The simulator computes on numpy scalars, which warn on stderr where a GPU silently
    # gives inf or nan (1/0, inf - inf); and Python's math.log(0) raises where the GPU's
    # gives -inf, so the simulated kernels use numpy's functions instead.
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=re.escape(__name__))
    _math = np
else:
    _math = math


def available():
    if cuda.is_available():
        return True, ""
    return False, ("no CUDA GPU found; set NUMBA_ENABLE_CUDASIM=1 before importing numba "
                   "to use the simulator")


class Array:
    """A flat buffer in GPU memory."""

    def __init__(self, size, dtype="float32"):
        self.array = cuda.device_array(size, dtype=np.dtype(dtype))
        # Asked by every kernel call: numpy would build the name anew each time.
        self._dtype = dtype if dtype in ("float32", "float64") else self.array.dtype.name

    @property
    def size(self):
        return self.array.size

    @property
    def dtype(self):
        return self._dtype


def _blocks(items, per_block=THREADS):
    """How many blocks a grid-stride loop over ``items`` gets: at least 1, at most MAX_BLOCKS."""
    return max(1, min(MAX_BLOCKS, -(-items // per_block)))


def _device_ints(values):
    return cuda.to_device(np.asarray(values, dtype=np.int64).reshape(-1))


def _device_scalar(val, dtype):
    """A 1-element device array: the scalar in the buffer's own dtype."""
    return cuda.to_device(np.full(1, val, dtype=dtype))


# ---------------------------------------------------------------------------------------
# Strided views: compact, setitem and to_numpy.


@cuda.jit
def _strided_copy_kernel(view, flat, flat_step, shape, strides, offset, size, into_view):
    """Copies between the strided ``view`` and compact ``flat``, one element per thread.

    Thread i turns its row-major index into a position in ``view`` by div/mod, last
    dimension first.
    """
    for i in range(cuda.grid(1), size, cuda.gridsize(1)):
        position = offset
        rest = i
        for d in range(shape.size - 1, -1, -1):
            position += (rest % shape[d]) * strides[d]
            rest //= shape[d]
        if into_view:
            view[position] = flat[i * flat_step]
        else:
            flat[i] = view[position]


def _copy_strided(view, flat, flat_step, shape, strides, offset, into_view):
    size = math.prod(shape)
    if size == 0:
        return
    _strided_copy_kernel[_blocks(size), THREADS](
        view, flat, flat_step, _device_ints(shape), _device_ints(strides), offset, size,
        into_view)


def from_numpy(a, out):
    check.sizes("from_numpy", a.size, out)
    if out.size:
        out.array.copy_to_device(np.ascontiguousarray(a, dtype=out.array.dtype))


def to_numpy(a, shape, strides, offset):
    check.view("to_numpy", a, shape, strides, offset)
    result = cuda.device_array(math.prod(shape), dtype=a.array.dtype)
    _copy_strided(a.array, result, 1, shape, strides, offset, False)
    host = result.copy_to_host() if result.size else np.empty(0, dtype=a.array.dtype)
    return host.reshape(tuple(shape))


def compact(a, out, shape, strides, offset):
    check.compact(a, out, shape, strides, offset)
    _copy_strided(a.array, out.array, 1, shape, strides, offset, False)


def ewise_setitem(a, out, shape, strides, offset):
    check.setitem(a, out, shape, strides, offset)
    _copy_strided(out.array, a.array, 1, shape, strides, offset, True)


def scalar_setitem(size, val, out, shape, strides, offset):
    check.view("scalar_setitem", out, shape, strides, offset)
    _copy_strided(out.array, _device_scalar(val, out.array.dtype), 0, shape, strides, offset, True)


# ---------------------------------------------------------------------------------------
# Elementwise: one kernel for all binary ops and one for all unary ops, picked by op code.


@cuda.jit(device=True)
def _maximum(x, y):
    """max(x, y) that returns NaN when either is NaN, like ``np.maximum``."""
    return x if (x >= y or x != x) else y


@cuda.jit(device=True)
def _binary(op, x, y):
    """The binary op with code ``op`` (its index in ``BINARY_OPS``) on two scalars."""
    if op == 0:
        return x + y
    if op == 1:
        return x - y
    if op == 2:
        return x * y
    if op == 3:
        return x / y
    if op == 4:
        return x ** y
    if op == 5:
        return _maximum(x, y)
    if op == 6:
        return 1.0 if x == y else 0.0
    if op == 7:
        return 1.0 if x != y else 0.0
    if op == 8:
        return 1.0 if x < y else 0.0
    if op == 9:
        return 1.0 if x <= y else 0.0
    if op == 10:
        return 1.0 if x > y else 0.0
    return 1.0 if x >= y else 0.0


@cuda.jit(device=True)
def _unary(op, x):
    """The unary op with code ``op`` (its index in ``UNARY_OPS``) on a scalar."""
    if op == 0:
        return -x
    if op == 1:
        return _math.log(x)
    if op == 2:
        return _math.exp(x)
    if op == 3:
        return _math.tanh(x)
    return _math.sqrt(x)


@cuda.jit
def _binary_kernel(op, a, b, b_step, out):
    """out[i] = a[i] op b[i * b_step]: ``b_step`` is 1 for arrays, 0 for a scalar."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = _binary(op, a[i], b[i * b_step])


@cuda.jit
def _unary_kernel(op, a, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = _unary(op, a[i])


@cuda.jit
def _fill_kernel(value, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = value[0]


def fill(out, val):
    if out.size:
        _fill_kernel[_blocks(out.size), THREADS](_device_scalar(val, out.array.dtype), out.array)


def _binary_kernels(op):
    name = BINARY_OPS[op]

    def ewise(a, b, out):
        check.elementwise(f"ewise_{name}", out, a, b)
        if out.size:
            _binary_kernel[_blocks(out.size), THREADS](op, a.array, b.array, 1, out.array)

    def scalar(a, val, out):
        check.elementwise(f"scalar_{name}", out, a)
        if out.size:
            value = _device_scalar(val, a.array.dtype)
            _binary_kernel[_blocks(out.size), THREADS](op, a.array, value, 0, out.array)

    return ewise, scalar


def _unary_kernels(op):
    name = UNARY_OPS[op]

    def ewise(a, out):
        check.elementwise(f"ewise_{name}", out, a)
        if out.size:
            _unary_kernel[_blocks(out.size), THREADS](op, a.array, out.array)

    return ewise


for _op, _name in enumerate(BINARY_OPS):
    globals()[f"ewise_{_name}"], globals()[f"scalar_{_name}"] = _binary_kernels(_op)
for _op, _name in enumerate(UNARY_OPS):
    globals()[f"ewise_{_name}"] = _unary_kernels(_op)


# ---------------------------------------------------------------------------------------
# The kernels notebook a06 asks for are made by factories (one kernel per dtype, as shared
# arrays have a fixed type), looked up by name at each call so that course.install reaches them.

@functools.lru_cache(maxsize=None)
def _made(factory, dtype_name):
    return factory(dtype_name)


def _kernel(factory_name, dtype_name):
    return _made(globals()[factory_name], dtype_name)


@student_implements("a06")
def make_add_kernel(dtype_name):
    """A kernel ``(a, b, out)``: out[i] = a[i] + b[i], for any number of blocks and threads
    (a grid-stride loop: thread t of the grid does elements t, t + gridsize, ...)."""
    # BEGIN SOLUTION a06
    @cuda.jit
    def add(a, b, out):
        start, step = cuda.grid(1), cuda.gridsize(1)
        for k in range(start, out.size, step):
            out[k] = a[k] + b[k]

    return add
    # END SOLUTION


def ewise_add(a, b, out):
    check.elementwise("ewise_add", out, a, b)
    if out.size:
        _kernel("make_add_kernel", out.dtype)[_blocks(out.size), THREADS](a.array, b.array, out.array)


# ---------------------------------------------------------------------------------------
# Reductions over the middle axis of a compact (outer, reduce, inner) block.

_SUM, _MAX = 0, 1


@cuda.jit(device=True)
def _combine(op, x, y):
    """x + y or max(x, y), as ``op`` says."""
    return x + y if op == _SUM else _maximum(x, y)


@cuda.jit
def _reduce_strided_kernel(op, a, out, reduce, inner):
    """inner > 1: one thread per output; neighbouring threads read neighbouring elements."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        o, j = i // inner, i % inner
        acc = a[o * reduce * inner + j]
        for r in range(1, reduce):
            acc = _combine(op, acc, a[(o * reduce + r) * inner + j])
        out[i] = acc


@student_implements("a06")
def make_reduce_kernel(dtype_name):
    """A kernel ``(op, identity, a, out, reduce)`` reducing each row of ``a`` (out.size rows of
    ``reduce`` elements) with ``_combine(op, x, y)``, in blocks of THREADS threads.

    Block b does rows b, b + gridDim, ...: its threads stride over the row, then halve a shared
    array of partial results, THREADS/2, THREADS/4, ... active threads, until one value is left.
    """
    # BEGIN SOLUTION a06
    element = from_dtype(np.dtype(dtype_name))

    @cuda.jit
    def kernel(op, identity, a, out, reduce):
        partial = cuda.shared.array(THREADS, element)
        t = cuda.threadIdx.x
        for row in range(cuda.blockIdx.x, out.size, cuda.gridDim.x):
            acc = identity
            for r in range(t, reduce, cuda.blockDim.x):
                acc = _combine(op, acc, a[row * reduce + r])
            partial[t] = acc
            cuda.syncthreads()  # every partial result is written
            half = cuda.blockDim.x // 2
            while half > 0:
                if t < half:
                    partial[t] = _combine(op, partial[t], partial[t + half])
                cuda.syncthreads()  # this round is done
                half //= 2
            if t == 0:
                out[row] = partial[0]
            cuda.syncthreads()  # partial[0] is read before the next row overwrites it

    return kernel
    # END SOLUTION


def _reduce(op, a, out, outer, reduce, inner):
    if out.size == 0:
        return
    if reduce == 0:  # an empty sum is 0; numpy has no max of nothing either, so 0 is ours
        fill(out, 0.0)
    elif inner == 1:
        identity = a.array.dtype.type(0.0 if op == _SUM else -math.inf)
        _kernel("make_reduce_kernel", out.dtype)[_blocks(outer, 1), THREADS](
            op, identity, a.array, out.array, reduce)
    else:
        _reduce_strided_kernel[_blocks(out.size), THREADS](op, a.array, out.array, reduce, inner)


def reduce_sum(a, out, outer, reduce, inner):
    check.blocks("reduce_sum", a, out, outer, reduce, inner)
    _reduce(_SUM, a, out, outer, reduce, inner)


def reduce_max(a, out, outer, reduce, inner):
    check.blocks("reduce_max", a, out, outer, reduce, inner)
    _reduce(_MAX, a, out, outer, reduce, inner)


# ---------------------------------------------------------------------------------------
# Matmul: TILE x TILE blocks of out, each built from tiles of a and b in shared memory.


@student_implements("a06")
def make_matmul_kernel(dtype_name):
    """A kernel ``(a, b, out, batch, m, n, p)``: out[t] = a[t] @ b[t] for t < batch, compact
    (m, n) and (n, p) matrices, in blocks of (TILE, TILE) threads over a 1-D grid.

    A block computes one TILE x TILE tile of ``out`` (tiles numbered batch-major, then by row,
    then by column; block b does tiles b, b + gridDim, ...): it walks along the shared
    dimension, each thread loading one element of an ``a`` tile and of a ``b`` tile into shared
    memory, so every element loaded is used TILE times.
    """
    # BEGIN SOLUTION a06
    element = from_dtype(np.dtype(dtype_name))

    @cuda.jit
    def kernel(a, b, out, batch, m, n, p):
        a_tile = cuda.shared.array((TILE, TILE), element)
        b_tile = cuda.shared.array((TILE, TILE), element)
        zero = element(0)
        ty, tx = cuda.threadIdx.y, cuda.threadIdx.x
        row_tiles, col_tiles = (m + TILE - 1) // TILE, (p + TILE - 1) // TILE
        for tile in range(cuda.blockIdx.x, batch * row_tiles * col_tiles, cuda.gridDim.x):
            t, rest = tile // (row_tiles * col_tiles), tile % (row_tiles * col_tiles)
            i = (rest // col_tiles) * TILE + ty
            j = (rest % col_tiles) * TILE + tx
            acc = zero
            for k0 in range(0, n, TILE):
                # threads outside the matrices load zeros, which add nothing
                k = k0 + tx
                a_tile[ty, tx] = a[(t * m + i) * n + k] if i < m and k < n else zero
                k = k0 + ty
                b_tile[ty, tx] = b[(t * n + k) * p + j] if k < n and j < p else zero
                cuda.syncthreads()  # both tiles are loaded
                for kk in range(TILE):
                    acc += a_tile[ty, kk] * b_tile[kk, tx]
                cuda.syncthreads()  # both tiles are used up
            if i < m and j < p:
                out[(t * m + i) * p + j] = acc

    return kernel
    # END SOLUTION


def matmul(a, b, out, batch, m, n, p):
    check.matmul(a, b, out, batch, m, n, p)
    if out.size:
        tiles = batch * -(-m // TILE) * -(-p // TILE)
        _kernel("make_matmul_kernel", out.dtype)[_blocks(tiles, 1), (TILE, TILE)](
            a.array, b.array, out.array, batch, m, n, p)
