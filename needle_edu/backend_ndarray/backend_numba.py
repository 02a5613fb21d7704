"""The ``numba`` device: the flat kernel protocol as ``@njit(parallel=True)`` loops.

Every kernel is an explicit loop that numba compiles to machine code and spreads over
the CPU cores with ``prange``; buffers are plain numpy arrays, as in ``backend_numpy``
(whose docstring is the protocol). Two practical matters shape the Python side:

- numba's compiled loops cannot see Ctrl-C, so large work is handed to the kernels in
  chunks of about ``CHUNK`` elements and a KeyboardInterrupt lands between two chunks;
- compiling costs about a second per kernel and dtype, so compiled kernels are
  cached on disk when (and only when) numba has a writable cache directory.
"""
import functools
import math
import os
import sys
import tempfile

import numpy as np
from numba import get_num_threads, njit, prange, types
from numba.extending import intrinsic

from . import kernel_checks as check
from .backend_numpy import BINARY_OPS, UNARY_OPS
from .backend_numpy import Array as _NumpyArray

CHUNK = 1 << 22  # elements of work per kernel call, so that Ctrl-C is seen often enough
# Below this much work (in elements copied or added; an exp or a log counts 16, a multiply-add
# 1/4) one thread runs a kernel: waking numba's other threads costs about 10 us.
PARALLEL_MIN_WORK = 1 << 17
STRIDED_BLOCK = 4096  # elements of a strided copy one thread takes at a time
ELEMENTWISE_BLOCK = 4096  # elements of an elementwise op one thread takes at a time
REDUCE_BLOCK_COLS = 1024  # columns of the inner axis one reduction task takes
MAX_LANES = 64  # running maxima side by side in a max over a contiguous run
MATMUL_BLOCK_ROWS = 64  # rows of ``out`` one task computes
MATMUL_BLOCK_INNER = 1024  # KC: the length of the dot products between two updates of ``out``
MATMUL_BLOCK_COLS = 128  # columns of ``out`` whose transposed B rows stay in cache together
MATMUL_PAD = 16  # extra elements per packed row (one cache line of float32)
MATMUL_WORK_PER_CALL = 1 << 28  # multiply-adds per kernel call, so that Ctrl-C is seen
TRANSPOSE_TILE = 32  # square tiles of a transposing copy: the lines written stay in L1


def _cache_is_writable():
    """True when numba can cache compiled kernels without warning on stderr.

    numba stores its cache in ``__pycache__`` next to this file, else in
    ``NUMBA_CACHE_DIR``; in a read-only install neither may be writable.
    """
    candidates = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__")]
    if os.environ.get("NUMBA_CACHE_DIR"):
        candidates.append(os.environ["NUMBA_CACHE_DIR"])
    for directory in candidates:
        try:
            os.makedirs(directory, exist_ok=True)
            with tempfile.TemporaryFile(dir=directory):
                return True
        except OSError:
            continue
    return False


_CACHE = _cache_is_writable()
# error_model="numpy": x / 0 gives inf or nan, as in numpy, instead of raising ZeroDivisionError.
_KERNEL = dict(error_model="numpy", cache=_CACHE)
_HELPER = dict(inline="always", error_model="numpy", cache=_CACHE)  # inlined into kernels


class _Kernel:
    """One kernel compiled twice: ``parallel`` shares its ``prange`` loop among the cores,
    ``serial`` runs it as a plain loop (and costs microseconds less to call)."""

    def __init__(self, function, fastmath=False):
        self.parallel = njit(parallel=True, fastmath=fastmath, **_KERNEL)(function)
        # Renamed: numba's disk cache tells compiled functions apart by name and argument types,
        # not by options, so the parallel build would be loaded for the serial one or back.
        serial = type(function)(function.__code__, function.__globals__, function.__name__,
                                function.__defaults__, function.__closure__)
        serial.__qualname__ = f"{function.__qualname__}_serial"
        self.serial = njit(fastmath=fastmath, **_KERNEL)(serial)


def _kernel(fastmath=False):
    """Decorator making a ``_Kernel``; ``fastmath`` as for ``njit``."""
    return lambda function: _Kernel(function, fastmath)


def _chunks(total, chunk=CHUNK):
    """``(start, stop)`` pieces covering ``range(total)``: one piece when ``total`` is small."""
    return [(start, min(start + chunk, total)) for start in range(0, total, chunk)]


def _run(kernel, work, *args):
    """Calls ``kernel(*args)`` on all cores, or on one when ``work`` is too small to share.

    Waking the other threads costs microseconds, and on a busy machine, where they wait
    for a free core, milliseconds: far more than a small kernel takes on its own.
    """
    return (kernel.parallel if work >= PARALLEL_MIN_WORK else kernel.serial)(*args)


def _as_int64(values):
    return np.asarray(values, dtype=np.int64).reshape(-1)


# ---------------------------------------------------------------------------------------
# Buffers: numpy arrays, and freed large ones are kept for reuse, as the cpu device does.

CACHE_MIN_BYTES = 1 << 16  # smaller buffers come from malloc's own free lists
CACHE_MAX_BYTES = 256 << 20  # freed memory kept at most


class _FreedBuffers:
    """Freed buffers of CACHE_MIN_BYTES or more, by (size, dtype), kept up to CACHE_MAX_BYTES."""

    def __init__(self, min_bytes, max_bytes):
        self.buffers, self.bytes = {}, 0
        self.min_bytes, self.max_bytes = min_bytes, max_bytes

    def take(self, size, dtype):
        free = self.buffers.get((size, dtype))
        if not free:
            return None
        array = free.pop()
        self.bytes -= array.nbytes
        return array

    def keep(self, array, dtype):
        if self.min_bytes <= array.nbytes <= self.max_bytes - self.bytes:
            self.buffers.setdefault((array.size, dtype), []).append(array)
            self.bytes += array.nbytes


_freed = _FreedBuffers(CACHE_MIN_BYTES, CACHE_MAX_BYTES)
_CACHE_MIN_SIZE = CACHE_MIN_BYTES // 8  # elements: no smaller Array can be in the cache


class Array(_NumpyArray):
    """A flat buffer: a 1-D numpy array, reused from a freed Array of the same size when it can.

    Fresh memory from the OS costs a page fault per 4 KiB at its first write; reused memory does not.
    """

    array = None  # until __init__ has one: a failed allocation leaves nothing for __del__ to keep

    def __init__(self, size, dtype="float32"):
        array = _freed.take(size, dtype) if size >= _CACHE_MIN_SIZE else None
        if array is None:
            super().__init__(size, dtype)
        else:
            self.array, self._dtype = array, array.dtype.name

    def __del__(self, freed=_freed, getrefcount=sys.getrefcount):  # (bound now: at exit globals may be gone)
        array = self.array
        # Kept only when nothing else holds it (a numpy view of it would): the references
        # from self, from ``array`` and from getrefcount's argument make 3.
        if array is not None and array.nbytes >= freed.min_bytes and getrefcount(array) == 3:
            freed.keep(array, self._dtype)


def cached_buffer_bytes():
    """Bytes of freed buffers kept for reuse."""
    return _freed.bytes


def release_cached_buffers():
    """Hands the kept buffers back to the allocator."""
    _freed.buffers.clear()
    _freed.bytes = 0


# ---------------------------------------------------------------------------------------
# Strided views: compact, setitem and to_numpy walk one in row-major order.


@_kernel()
def _strided_copy(view, flat, flat_step, shape, strides, offset, start, stop, into_view):
    """Copies between the strided ``view`` and compact ``flat`` for flat indices [start, stop).

    Each thread takes a block of flat indices, converts the first into a multi-index by
    div/mod, then copies a run along the last dimension at a time (a plain loop, which
    vectorizes), and steps to the next run like an odometer, carrying into outer dims.
    """
    last = shape.shape[0] - 1
    step = strides[last]
    for block in prange((stop - start + STRIDED_BLOCK - 1) // STRIDED_BLOCK):
        begin = start + block * STRIDED_BLOCK
        end = min(begin + STRIDED_BLOCK, stop)
        index = np.empty(last + 1, dtype=np.int64)
        position = offset
        rest = begin
        for d in range(last, -1, -1):
            index[d] = rest % shape[d]
            rest //= shape[d]
            position += index[d] * strides[d]
        i = begin
        while i < end:
            run = min(shape[last] - index[last], end - i)
            if into_view:
                for c in range(run):
                    view[position + c * step] = flat[(i + c) * flat_step]
            elif step == 1:  # contiguous rows and broadcast ones: loops that vectorize
                flat[i:i + run] = view[position:position + run]
            elif step == 0:
                flat[i:i + run] = view[position]
            else:
                for c in range(run):
                    flat[i + c] = view[position + c * step]
            i += run
            index[last] += run
            position += run * step
            d = last
            while d > 0 and index[d] == shape[d]:  # carry into the next outer dimension
                position += strides[d - 1] - shape[d] * strides[d]
                index[d] = 0
                index[d - 1] += 1
                d -= 1


def _copy_strided(view, flat, flat_step, shape, strides, offset, into_view):
    if len(shape) == 0:  # a single element: a run of one
        shape, strides = (1,), (0,)
    shape, strides = _as_int64(shape), _as_int64(strides)
    for start, stop in _chunks(math.prod(shape)):
        _run(_strided_copy, stop - start,
             view, flat, flat_step, shape, strides, offset, start, stop, into_view)


def from_numpy(a, out):
    check.sizes("from_numpy", a.size, out)
    out.array[:] = a


def to_numpy(a, shape, strides, offset):
    check.view("to_numpy", a, shape, strides, offset)
    result = np.empty(tuple(shape), dtype=a.array.dtype)
    _copy_strided(a.array, result.reshape(-1), 1, shape, strides, offset, False)
    return result


def fill(out, val):
    out.array.fill(val)


def _plane_offsets(shape, strides, offset):
    """The buffer index where each plane (the last two dimensions) of a view starts."""
    offsets = np.full(1, offset, dtype=np.int64)
    for d, s in zip(shape[:-2], strides[:-2]):
        offsets = (offsets[:, None] + np.arange(d, dtype=np.int64) * s).reshape(-1)
    return offsets


def compact(a, out, shape, strides, offset):
    check.compact(a, out, shape, strides, offset)
    # (NDArray passes views with size-1 dimensions dropped and contiguous ones merged.)
    if len(shape) >= 2 and strides[-1] != 1 and min(shape[-2:]) >= TRANSPOSE_TILE // 4:
        # Rows that are not contiguous (a transpose, say): square tiles reuse each cache line
        # read down a column for the next rows.
        _copy_planes(a.array, _plane_offsets(shape, strides, offset), shape[-2], shape[-1],
                     strides[-2], strides[-1], out.array, shape[-1])
    else:
        _copy_strided(a.array, out.array, 1, shape, strides, offset, False)


def ewise_setitem(a, out, shape, strides, offset):
    check.setitem(a, out, shape, strides, offset)
    _copy_strided(out.array, a.array, 1, shape, strides, offset, True)


def scalar_setitem(size, val, out, shape, strides, offset):
    check.view("scalar_setitem", out, shape, strides, offset)
    value = np.full(1, val, dtype=out.array.dtype)
    _copy_strided(out.array, value, 0, shape, strides, offset, True)


# ---------------------------------------------------------------------------------------
# Elementwise: one kernel for all binary ops and one for all unary ops, picked by op code.
# A loop that branches on the op for every element does not vectorize (it ran 2-10x
# slower), so each op gets its own plain loop and the branch is taken once per block.


@njit(**_HELPER)
def _maximum(x, y):
    """max(x, y) that returns NaN when either is NaN, like ``np.maximum``."""
    return x if (x >= y or x != x) else y


@njit(**_HELPER)
def _binary_block(op, a, b, out):
    """out = a op b for one block; ``op`` is the op's index in ``BINARY_OPS``."""
    n = out.shape[0]
    if op == 0:
        for i in range(n):
            out[i] = a[i] + b[i]
    elif op == 1:
        for i in range(n):
            out[i] = a[i] - b[i]
    elif op == 2:
        for i in range(n):
            out[i] = a[i] * b[i]
    elif op == 3:
        for i in range(n):
            out[i] = a[i] / b[i]
    elif op == 4:
        for i in range(n):
            out[i] = a[i] ** b[i]
    elif op == 5:
        for i in range(n):
            out[i] = _maximum(a[i], b[i])
    elif op == 6:  # a comparison's True / False is stored as 1.0 / 0.0
        for i in range(n):
            out[i] = a[i] == b[i]
    elif op == 7:
        for i in range(n):
            out[i] = a[i] != b[i]
    elif op == 8:
        for i in range(n):
            out[i] = a[i] < b[i]
    elif op == 9:
        for i in range(n):
            out[i] = a[i] <= b[i]
    elif op == 10:
        for i in range(n):
            out[i] = a[i] > b[i]
    else:
        for i in range(n):
            out[i] = a[i] >= b[i]


@njit(**_HELPER)
def _unary_block(op, a, out):
    """out = op(a) for one block; ``op`` is the op's index in ``UNARY_OPS``."""
    n = out.shape[0]
    if op == 0:
        for i in range(n):
            out[i] = -a[i]
    elif op == 1:
        for i in range(n):
            out[i] = np.log(a[i])
    elif op == 2:
        for i in range(n):
            out[i] = np.exp(a[i])
    elif op == 3:
        for i in range(n):
            out[i] = np.tanh(a[i])
    else:
        for i in range(n):
            out[i] = np.sqrt(a[i])


@_kernel()
def _binary_kernel(op, a, b, b_is_scalar, out):
    """out = a op b, one block of ELEMENTWISE_BLOCK elements per task.

    A scalar ``b`` arrives as one block filled with it, which every task reuses from cache.
    """
    n = out.shape[0]
    for block in prange((n + ELEMENTWISE_BLOCK - 1) // ELEMENTWISE_BLOCK):
        start = block * ELEMENTWISE_BLOCK
        stop = min(start + ELEMENTWISE_BLOCK, n)
        b_start = 0 if b_is_scalar else start
        _binary_block(op, a[start:stop], b[b_start:b_start + stop - start], out[start:stop])


@_kernel()
def _unary_kernel(op, a, out):
    n = out.shape[0]
    for block in prange((n + ELEMENTWISE_BLOCK - 1) // ELEMENTWISE_BLOCK):
        start = block * ELEMENTWISE_BLOCK
        stop = min(start + ELEMENTWISE_BLOCK, n)
        _unary_block(op, a[start:stop], out[start:stop])


# exp of float32 in a form the compiler can vectorize (np.exp is a call to the C library, one
# element at a time): the method of the ``cpu`` device's Exp. In double precision,
# e^x = 2^n * e^r with n = round(x / ln 2) and |r| <= ln(2) / 2; e^r is its Taylor
# polynomial to r^10 (relative error < 1e-11), and 2^n is written straight into the exponent
# bits of a double. Rounding the product to float32 then gives inf, 0 and denormals as usual.

EXP_CLAMP = 110.0  # |x| > 110: e^x is 0 or inf as a float32, and 2^n stays a normal double
_LOG2_E = 1.4426950408889634
_LN_2 = 0.6931471805599453
_INV_FACTORIALS = tuple(1.0 / math.factorial(k) for k in range(11))


@intrinsic
def _float64_from_bits(typingctx, bits):
    """The double whose 64 bits are the integer ``bits`` (C++'s std::bit_cast)."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))
    return types.float64(types.int64), codegen


@njit(**_HELPER)
def _exp_float32(x32):
    x = min(max(np.float64(x32), -EXP_CLAMP), EXP_CLAMP)
    n = np.floor(x * _LOG2_E + 0.5)
    r = x - n * _LN_2
    c = _INV_FACTORIALS
    poly = c[10]
    poly = poly * r + c[9]
    poly = poly * r + c[8]
    poly = poly * r + c[7]
    poly = poly * r + c[6]
    poly = poly * r + c[5]
    poly = poly * r + c[4]
    poly = poly * r + c[3]
    poly = poly * r + c[2]
    poly = poly * r + c[1]
    poly = poly * r + c[0]
    scale = _float64_from_bits((np.int64(n) + 1023) << 52)
    result = np.float32(poly * scale)
    return x32 if x32 != x32 else result  # NaN in, the same NaN out


@_kernel()
def _exp_float32_kernel(a, out):
    n = out.shape[0]
    for block in prange((n + ELEMENTWISE_BLOCK - 1) // ELEMENTWISE_BLOCK):
        start = block * ELEMENTWISE_BLOCK
        stop = min(start + ELEMENTWISE_BLOCK, n)
        a_block, out_block = a[start:stop], out[start:stop]
        for i in range(stop - start):
            out_block[i] = _exp_float32(a_block[i])


@functools.lru_cache(maxsize=256)
def _scalar_block(val, dtype):
    """A block filled with ``val``: what ``_binary_kernel`` reads for a scalar operand. Cached, as
    training steps use the same few scalars (a learning rate, a batch size) again and again."""
    return np.full(ELEMENTWISE_BLOCK, val, dtype=dtype)  # (kernels only read it)


# The work of one element, for PARALLEL_MIN_WORK: a call to the C library counts 16 copies.
_COST = {"power": 16, "log": 16, "exp": 16, "tanh": 16}


def _binary_kernels(op):
    ewise_name, scalar_name = f"ewise_{BINARY_OPS[op]}", f"scalar_{BINARY_OPS[op]}"
    cost = _COST.get(BINARY_OPS[op], 1)

    def ewise(a, b, out):
        check.elementwise(ewise_name, out, a, b)
        if out.size <= CHUNK:  # one call: no slices to make
            _run(_binary_kernel, cost * out.size, op, a.array, b.array, False, out.array)
            return
        for start, stop in _chunks(out.size):
            _run(_binary_kernel, cost * (stop - start),
                 op, a.array[start:stop], b.array[start:stop], False, out.array[start:stop])

    def scalar(a, val, out):
        check.elementwise(scalar_name, out, a)
        b = _scalar_block(float(val), a.dtype)
        if out.size <= CHUNK:
            _run(_binary_kernel, cost * out.size, op, a.array, b, True, out.array)
            return
        for start, stop in _chunks(out.size):
            _run(_binary_kernel, cost * (stop - start),
                 op, a.array[start:stop], b, True, out.array[start:stop])

    return ewise, scalar


def _unary_kernels(op):
    name = f"ewise_{UNARY_OPS[op]}"
    cost = _COST.get(UNARY_OPS[op], 1)

    def ewise(a, out):
        check.elementwise(name, out, a)
        for start, stop in _chunks(out.size):
            if name == "ewise_exp" and out.dtype == "float32":
                _run(_exp_float32_kernel, cost * (stop - start), a.array[start:stop], out.array[start:stop])
            else:
                _run(_unary_kernel, cost * (stop - start), op, a.array[start:stop], out.array[start:stop])

    return ewise


for _op, _name in enumerate(BINARY_OPS):
    globals()[f"ewise_{_name}"], globals()[f"scalar_{_name}"] = _binary_kernels(_op)
for _op, _name in enumerate(UNARY_OPS):
    globals()[f"ewise_{_name}"] = _unary_kernels(_op)


# ---------------------------------------------------------------------------------------
# Reductions over the middle axis of a compact (outer, reduce, inner) block.

_SUM, _MAX = 0, 1


# The branch on ``op`` sits outside each loop, so that every loop is a plain one that the
# compiler vectorizes; fastmath "reassoc" lets a sum be split into vector lanes (it
# changes only rounding; NaN and inf behave as without it).
@njit(fastmath={"reassoc"}, **_HELPER)
def _accumulate_row(op, acc, row):
    """acc[j] = acc[j] op row[j] for every j."""
    if op == _SUM:
        for j in range(acc.shape[0]):
            acc[j] += row[j]
    else:
        for j in range(acc.shape[0]):
            acc[j] = _maximum(acc[j], row[j])


@njit(fastmath={"reassoc"}, **_HELPER)
def _accumulate_4_rows(op, acc, r0, r1, r2, r3):
    """_accumulate_row for four rows in one pass: acc is read and written once, not four times."""
    if op == _SUM:
        for j in range(acc.shape[0]):
            acc[j] = (((acc[j] + r0[j]) + r1[j]) + r2[j]) + r3[j]
    else:
        for j in range(acc.shape[0]):
            acc[j] = _maximum(_maximum(_maximum(_maximum(acc[j], r0[j]), r1[j]), r2[j]), r3[j])


@njit(fastmath={"reassoc"}, **_HELPER)
def _reduce_run(op, run):
    """The sum or the max of a contiguous run of elements."""
    if op == _SUM:
        acc = run[0]
        for r in range(1, run.shape[0]):
            acc += run[r]
        return acc
    # One running max that keeps NaN does not vectorize, but MAX_LANES running maxima side
    # by side (lane j sees elements j, j + MAX_LANES, ...) do; the lanes are merged last.
    lanes = min(MAX_LANES, run.shape[0])
    whole = run.shape[0] // lanes * lanes
    acc = run[:lanes].copy()
    start = lanes
    while start + 4 * lanes <= whole:  # four groups of lanes a pass: acc is read and written once
        _accumulate_4_rows(_MAX, acc, run[start:start + lanes], run[start + lanes:start + 2 * lanes],
                           run[start + 2 * lanes:start + 3 * lanes], run[start + 3 * lanes:start + 4 * lanes])
        start += 4 * lanes
    for start in range(start, whole, lanes):
        _accumulate_row(_MAX, acc, run[start:start + lanes])
    result = acc[0]
    for r in range(1, lanes):
        result = _maximum(result, acc[r])
    for r in range(whole, run.shape[0]):
        result = _maximum(result, run[r])
    return result


@_kernel(fastmath={"reassoc"})
def _reduce_kernel(op, a, out, reduce, inner):
    """out[o, j] = op over r of a[o, r, j]; a task is one outer slice and a block of columns.

    With inner == 1 each output reduces a contiguous run; otherwise the rows of a column
    block are combined elementwise, so the loads stay contiguous either way.
    """
    col_blocks = (inner + REDUCE_BLOCK_COLS - 1) // REDUCE_BLOCK_COLS
    for task in prange(out.shape[0] // inner * col_blocks):
        o, col_block = task // col_blocks, task % col_blocks
        block = a[o * reduce * inner:(o + 1) * reduce * inner]
        if inner == 1:
            out[o] = _reduce_run(op, block)
        else:
            j0 = col_block * REDUCE_BLOCK_COLS
            j1 = min(j0 + REDUCE_BLOCK_COLS, inner)
            acc = out[o * inner + j0:o * inner + j1]
            first_row = block[j0:j1]
            for j in range(acc.shape[0]):
                acc[j] = first_row[j]
            r = 1
            while r + 4 <= reduce:
                _accumulate_4_rows(op, acc, block[r * inner + j0:r * inner + j1],
                                   block[(r + 1) * inner + j0:(r + 1) * inner + j1],
                                   block[(r + 2) * inner + j0:(r + 2) * inner + j1],
                                   block[(r + 3) * inner + j0:(r + 3) * inner + j1])
                r += 4
            for r in range(r, reduce):
                _accumulate_row(op, acc, block[r * inner + j0:r * inner + j1])


def _reduce(op, a, out, outer, reduce, inner):
    if reduce == 0:  # an empty sum is 0; numpy has no max of nothing either, so 0 is ours
        out.array.fill(0)
        return
    if outer * inner == 0:
        return
    outer_per_call = max(1, CHUNK // (reduce * inner))
    for start, stop in _chunks(outer, outer_per_call):
        _run(_reduce_kernel, (stop - start) * reduce * inner,
             op, a.array[start * reduce * inner:stop * reduce * inner],
             out.array[start * inner:stop * inner], reduce, inner)


def reduce_sum(a, out, outer, reduce, inner):
    check.blocks("reduce_sum", a, out, outer, reduce, inner)
    _reduce(_SUM, a, out, outer, reduce, inner)


def reduce_max(a, out, outer, reduce, inner):
    check.blocks("reduce_max", a, out, outer, reduce, inner)
    _reduce(_MAX, a, out, outer, reduce, inner)


# ---------------------------------------------------------------------------------------
# Matmul as blocks of dot products.
#
# A fast matmul keeps a tile of C in registers while it streams A and B past it. numba has no
# vector types, and a local 2-D accumulator array stays in memory (5 GFLOP/s), so the tile
# here is sixteen scalar sums: C[i:i+4, j:j+4] as dot products of four rows of A with four
# columns of B. With B transposed (its columns made rows) all eight are contiguous runs, and
# the compiler vectorizes the loop over k with sixteen vector accumulators: each value
# loaded feeds four multiply-adds. Around it, cache blocking: a task packs KC-long pieces of
# its rows of A into a buffer that stays in L2 and walks B's transposed rows in groups of
# MATMUL_BLOCK_COLS, which stay in L2 while all the task's rows pass them. The packed rows
# are MATMUL_PAD elements longer than KC: rows a power of two apart in memory would all
# land in the same cache sets and evict each other.


@njit(**_HELPER)
def _round_up(k):
    """k rounded up to a multiple of MATMUL_PAD (whole vectors of float32)."""
    return (k + MATMUL_PAD - 1) // MATMUL_PAD * MATMUL_PAD


@njit(fastmath={"reassoc", "contract"}, **_HELPER)
def _dot(x, y):
    """x . y, vectorized: "reassoc" lets the sum be split into vector lanes."""
    total = x.dtype.type(0)
    for k in range(x.shape[0]):
        total += x[k] * y[k]
    return total


@njit(fastmath={"reassoc", "contract"}, **_HELPER)
def _dot_4x4(a0, a1, a2, a3, b0, b1, b2, b3):
    """The sixteen dot products of rows a0..a3 with rows b0..b3, in one pass over k."""
    s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = a0.dtype.type(0)
    s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = a0.dtype.type(0)
    for k in range(a0.shape[0]):
        x0, x1, x2, x3 = a0[k], a1[k], a2[k], a3[k]
        y0, y1, y2, y3 = b0[k], b1[k], b2[k], b3[k]
        s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3  # noqa: E702
        s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3  # noqa: E702
        s20 += x2 * y0; s21 += x2 * y1; s22 += x2 * y2; s23 += x2 * y3  # noqa: E702
        s30 += x3 * y0; s31 += x3 * y1; s32 += x3 * y2; s33 += x3 * y3  # noqa: E702
    return ((s00, s01, s02, s03), (s10, s11, s12, s13),
            (s20, s21, s22, s23), (s30, s31, s32, s33))


@_kernel()
def _copy_tiles(src, offsets, rows, cols, row_stride, col_stride, dst, ld, first_task, tasks):
    """dst[q, r, c] = src[offsets[q] + r * row_stride + c * col_stride], dst rows ld long.

    The copy of a strided plane that a transpose reads down its columns. A task is one
    square tile: the TRANSPOSE_TILE cache lines it reads and those it writes all stay in L1
    until they have been used whole.
    """
    tiles_r = (rows + TRANSPOSE_TILE - 1) // TRANSPOSE_TILE
    tiles_c = (cols + TRANSPOSE_TILE - 1) // TRANSPOSE_TILE
    for task in prange(tasks):
        plane, tile = (first_task + task) // (tiles_r * tiles_c), (first_task + task) % (tiles_r * tiles_c)
        r0, c0 = tile // tiles_c * TRANSPOSE_TILE, tile % tiles_c * TRANSPOSE_TILE
        base, target = offsets[plane], dst[plane * rows * ld:(plane + 1) * rows * ld]
        for r in range(r0, min(r0 + TRANSPOSE_TILE, rows)):
            for c in range(c0, min(c0 + TRANSPOSE_TILE, cols)):
                target[r * ld + c] = src[base + r * row_stride + c * col_stride]


def _copy_planes(src, offsets, rows, cols, row_stride, col_stride, dst, ld):
    tiles = ((rows + TRANSPOSE_TILE - 1) // TRANSPOSE_TILE) * ((cols + TRANSPOSE_TILE - 1) // TRANSPOSE_TILE)
    tasks_per_call = max(1, CHUNK // (TRANSPOSE_TILE * TRANSPOSE_TILE))
    for start, stop in _chunks(len(offsets) * tiles, tasks_per_call):
        _run(_copy_tiles, (stop - start) * TRANSPOSE_TILE * TRANSPOSE_TILE,
             src, offsets, rows, cols, row_stride, col_stride, dst, ld, start, stop - start)


@_kernel(fastmath={"reassoc", "contract"})  # the helpers inline with these flags
def _matmul_kernel(a, bt, out, m, n, p, ld, block_rows, first_task, tasks):
    """Tasks first_task .. first_task + tasks - 1 of out = a @ b, given bt, b transposed.

    A task is block_rows rows of one matrix of the batch; bt holds each matrix's
    p columns of b as rows of length ld >= n.
    """
    row_blocks = (m + block_rows - 1) // block_rows
    lda = _round_up(min(MATMUL_BLOCK_INNER, n)) + MATMUL_PAD
    for task in prange(tasks):
        t, block = (first_task + task) // row_blocks, (first_task + task) % row_blocks
        a_t, bt_t = a[t * m * n:(t + 1) * m * n], bt[t * p * ld:(t + 1) * p * ld]
        i0 = block * block_rows
        rows = min(block_rows, m - i0)
        c = out[(t * m + i0) * p:(t * m + i0 + rows) * p]  # the task's rows of out
        c[:] = 0
        packed = np.empty(rows * lda, dtype=a.dtype)
        for k0 in range(0, n, MATMUL_BLOCK_INNER):
            # The dot products run over kc rounded up to whole vectors; the extra terms are 0 * 0.
            kc = _round_up(min(MATMUL_BLOCK_INNER, n - k0))
            for i in range(rows):
                piece = a_t[(i0 + i) * n + k0:(i0 + i) * n + min(k0 + kc, n)]
                packed[i * lda:i * lda + piece.shape[0]] = piece
                packed[i * lda + piece.shape[0]:i * lda + kc] = 0
            for j0 in range(0, p, MATMUL_BLOCK_COLS):
                j1 = min(j0 + MATMUL_BLOCK_COLS, p)
                for i in range(0, rows, 4):
                    if i + 4 > rows:  # fewer than four rows left: one dot product each
                        for r in range(i, rows):
                            for j in range(j0, j1):
                                c[r * p + j] += _dot(packed[r * lda:r * lda + kc],
                                                     bt_t[j * ld + k0:j * ld + k0 + kc])
                        break
                    a0 = packed[i * lda:i * lda + kc]
                    a1 = packed[(i + 1) * lda:(i + 1) * lda + kc]
                    a2 = packed[(i + 2) * lda:(i + 2) * lda + kc]
                    a3 = packed[(i + 3) * lda:(i + 3) * lda + kc]
                    for j in range(j0, j1, 4):
                        if j + 4 > j1:  # fewer than four columns left
                            for jj in range(j, j1):
                                b_col = bt_t[jj * ld + k0:jj * ld + k0 + kc]
                                c[i * p + jj] += _dot(a0, b_col)
                                c[(i + 1) * p + jj] += _dot(a1, b_col)
                                c[(i + 2) * p + jj] += _dot(a2, b_col)
                                c[(i + 3) * p + jj] += _dot(a3, b_col)
                            break
                        tile = _dot_4x4(a0, a1, a2, a3,
                                        bt_t[j * ld + k0:j * ld + k0 + kc],
                                        bt_t[(j + 1) * ld + k0:(j + 1) * ld + k0 + kc],
                                        bt_t[(j + 2) * ld + k0:(j + 2) * ld + k0 + kc],
                                        bt_t[(j + 3) * ld + k0:(j + 3) * ld + k0 + kc])
                        for r in range(4):
                            row = c[(i + r) * p + j:(i + r) * p + j + 4]
                            for q in range(4):
                                row[q] += tile[r][q]


def _leading_dimension(n):
    """A row length >= n for packed rows, in whole vectors; padded when a multiple of 256 elements."""
    ld = (n + MATMUL_PAD - 1) // MATMUL_PAD * MATMUL_PAD
    return ld + MATMUL_PAD if ld % 256 == 0 else ld


def matmul(a, b, out, batch, m, n, p):
    check.matmul(a, b, out, batch, m, n, p)
    if batch * m * p == 0:
        return
    ld = _leading_dimension(n)
    bt = Array(batch * p * ld, b.dtype)  # a buffer like an op's output: reused once freed
    bt.array.reshape(batch * p, ld)[:, n:] = 0  # the padding that the dot products read
    # bt[t, j, k] = b[t, k, j]: matrix t of b starts at t * n * p
    _copy_planes(b.array, np.arange(batch, dtype=np.int64) * (n * p), p, n, 1, p, bt.array, ld)
    # Rows split evenly into blocks of at most MATMUL_BLOCK_ROWS (100 rows: 52 and 48, not 64 and 36).
    row_blocks = (m + MATMUL_BLOCK_ROWS - 1) // MATMUL_BLOCK_ROWS
    block_rows = ((m + row_blocks - 1) // row_blocks + 3) // 4 * 4
    tasks = batch * ((m + block_rows - 1) // block_rows)
    work_per_task = max(1, min(m, block_rows) * n * p)
    tasks_per_call = max(2 * get_num_threads(), MATMUL_WORK_PER_CALL // work_per_task)
    for start, stop in _chunks(tasks, tasks_per_call):
        _run(_matmul_kernel, (stop - start) * work_per_task // 4,  # a multiply-add: 1/4 of a copy
             a.array, bt.array, out.array, m, n, p, ld, block_rows, start, stop - start)


def available():
    return True, ""
