"""The ``numba`` device: the flat kernel protocol as ``@njit(parallel=True)`` loops.

Every kernel is an explicit loop that numba compiles to machine code and spreads over
the CPU cores with ``prange``; buffers are plain numpy arrays, as in ``backend_numpy``
(whose docstring is the protocol). Two practical matters shape the Python side:

- numba's compiled loops cannot see Ctrl-C, so large work is handed to the kernels in
  chunks of about ``CHUNK`` elements and a KeyboardInterrupt lands between two chunks;
- compiling costs about a second per kernel and dtype, so compiled kernels are
  cached on disk when (and only when) numba has a writable cache directory.
"""
import math
import os
import tempfile

import numpy as np
from numba import get_num_threads, njit, prange, set_num_threads

from . import kernel_checks as check
from .backend_numpy import BINARY_OPS, UNARY_OPS, Array  # noqa: F401  (buffers are numpy arrays)

CHUNK = 1 << 22  # elements of work per kernel call, so that Ctrl-C is seen often enough
PARALLEL_MIN_WORK = 1 << 15  # below this many elements (or multiply-adds) one thread runs it
STRIDED_BLOCK = 4096  # elements of a strided copy one thread takes at a time
ELEMENTWISE_BLOCK = 4096  # elements of an elementwise op one thread takes at a time
REDUCE_BLOCK_COLS = 1024  # columns of the inner axis one reduction task takes
MAX_LANES = 64  # running maxima side by side in a max over a contiguous run
MATMUL_BLOCK_ROWS = 64  # rows of ``out`` one thread computes at a time
MATMUL_BLOCK_INNER = 64  # rows of the block of ``b`` that stays in cache
MATMUL_BLOCK_COLS = 1024  # its columns (and those of the slice of ``out`` it updates)
MATMUL_WORK_PER_CALL = 1 << 26  # multiply-adds per kernel call, so that Ctrl-C is seen


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
_KERNEL = dict(parallel=True, error_model="numpy", cache=_CACHE)
_HELPER = dict(inline="always", error_model="numpy", cache=_CACHE)  # inlined into kernels


def _chunks(total, chunk=CHUNK):
    """``(start, stop)`` pieces covering ``range(total)``: one piece when ``total`` is small."""
    return [(start, min(start + chunk, total)) for start in range(0, total, chunk)]


def _run(kernel, work, *args):
    """Calls ``kernel(*args)`` on all cores, or on one when ``work`` is too small to share.

    Waking the other threads costs microseconds, and on a busy machine, where they wait
    for a free core, milliseconds: far more than a small kernel takes on its own.
    """
    if work >= PARALLEL_MIN_WORK:
        return kernel(*args)
    threads = get_num_threads()
    set_num_threads(1)
    try:
        return kernel(*args)
    finally:
        set_num_threads(threads)


def _as_int64(values):
    return np.asarray(values, dtype=np.int64).reshape(-1)


# ---------------------------------------------------------------------------------------
# Strided views: compact, setitem and to_numpy walk one in row-major order.


@njit(**_KERNEL)
def _strided_copy(view, flat, flat_step, shape, strides, offset, start, stop, into_view):
    """Copies between the strided ``view`` and compact ``flat`` for flat indices [start, stop).

    Each thread takes a block of flat indices, converts the first into a multi-index by
    div/mod, then steps through the block like an odometer, carrying into outer dims.
    """
    ndim = shape.shape[0]
    for block in prange((stop - start + STRIDED_BLOCK - 1) // STRIDED_BLOCK):
        begin = start + block * STRIDED_BLOCK
        end = min(begin + STRIDED_BLOCK, stop)
        index = np.empty(ndim, dtype=np.int64)
        position = offset
        rest = begin
        for d in range(ndim - 1, -1, -1):
            index[d] = rest % shape[d]
            rest //= shape[d]
            position += index[d] * strides[d]
        for i in range(begin, end):
            if into_view:
                view[position] = flat[i * flat_step]
            else:
                flat[i] = view[position]
            d = ndim - 1
            while d >= 0:
                index[d] += 1
                position += strides[d]
                if index[d] < shape[d]:
                    break
                position -= shape[d] * strides[d]
                index[d] = 0
                d -= 1


def _copy_strided(view, flat, flat_step, shape, strides, offset, into_view):
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


def compact(a, out, shape, strides, offset):
    check.compact(a, out, shape, strides, offset)
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
            out[i] = a[i] * b[i]
    elif op == 2:
        for i in range(n):
            out[i] = a[i] / b[i]
    elif op == 3:
        for i in range(n):
            out[i] = a[i] ** b[i]
    elif op == 4:
        for i in range(n):
            out[i] = _maximum(a[i], b[i])
    elif op == 5:  # a comparison's True / False is stored as 1.0 / 0.0
        for i in range(n):
            out[i] = a[i] == b[i]
    elif op == 6:
        for i in range(n):
            out[i] = a[i] != b[i]
    elif op == 7:
        for i in range(n):
            out[i] = a[i] < b[i]
    elif op == 8:
        for i in range(n):
            out[i] = a[i] <= b[i]
    elif op == 9:
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


@njit(**_KERNEL)
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


@njit(**_KERNEL)
def _unary_kernel(op, a, out):
    n = out.shape[0]
    for block in prange((n + ELEMENTWISE_BLOCK - 1) // ELEMENTWISE_BLOCK):
        start = block * ELEMENTWISE_BLOCK
        stop = min(start + ELEMENTWISE_BLOCK, n)
        _unary_block(op, a[start:stop], out[start:stop])


def _binary_kernels(op):
    name = BINARY_OPS[op]

    def ewise(a, b, out):
        check.elementwise(f"ewise_{name}", out, a, b)
        for start, stop in _chunks(out.size):
            _run(_binary_kernel, stop - start,
                 op, a.array[start:stop], b.array[start:stop], False, out.array[start:stop])

    def scalar(a, val, out):
        check.elementwise(f"scalar_{name}", out, a)
        b = np.full(min(out.size, ELEMENTWISE_BLOCK), val, dtype=a.array.dtype)
        for start, stop in _chunks(out.size):
            _run(_binary_kernel, stop - start,
                 op, a.array[start:stop], b, True, out.array[start:stop])

    return ewise, scalar


def _unary_kernels(op):
    name = UNARY_OPS[op]

    def ewise(a, out):
        check.elementwise(f"ewise_{name}", out, a)
        for start, stop in _chunks(out.size):
            _run(_unary_kernel, stop - start, op, a.array[start:stop], out.array[start:stop])

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
    for start in range(lanes, whole, lanes):
        _accumulate_row(_MAX, acc, run[start:start + lanes])
    result = acc[0]
    for r in range(1, lanes):
        result = _maximum(result, acc[r])
    for r in range(whole, run.shape[0]):
        result = _maximum(result, run[r])
    return result


@njit(fastmath={"reassoc"}, **_KERNEL)
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
            for r in range(1, reduce):
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
# Matmul: cache blocking, and an inner loop over a row slice that the compiler vectorizes.
# (A 2-D local accumulator tile does not vectorize in numba; row slices of ``out`` do.)


@njit(**_KERNEL)
def _matmul_kernel(a, b, out, m, n, p, first_task, tasks):
    """Tasks first_task .. first_task + tasks - 1 of out = a @ b, spread over the threads.

    A task is one block of rows of one matrix of the batch. For each block of ``b``
    (inner x cols), copied once into a contiguous buffer that stays in cache, every row
    adds ``a[i, k] * b[k, cols]`` to ``out[i, cols]``: a loop over contiguous memory that
    compiles to SIMD instructions.
    """
    blocks_per_matrix = (m + MATMUL_BLOCK_ROWS - 1) // MATMUL_BLOCK_ROWS
    for task in prange(tasks):
        t = (first_task + task) // blocks_per_matrix
        block = (first_task + task) % blocks_per_matrix
        a_t = a[t * m * n:(t + 1) * m * n]
        b_t = b[t * n * p:(t + 1) * n * p]
        out_t = out[t * m * p:(t + 1) * m * p]
        i0 = block * MATMUL_BLOCK_ROWS
        i1 = min(i0 + MATMUL_BLOCK_ROWS, m)
        out_t[i0 * p:i1 * p] = 0
        b_block = np.empty(min(MATMUL_BLOCK_INNER, n) * min(MATMUL_BLOCK_COLS, p), dtype=b.dtype)
        for j0 in range(0, p, MATMUL_BLOCK_COLS):
            width = min(MATMUL_BLOCK_COLS, p - j0)
            for k0 in range(0, n, MATMUL_BLOCK_INNER):
                depth = min(MATMUL_BLOCK_INNER, n - k0)
                # Loops run from 0 over slices: numba sees no negative index and vectorizes.
                for k in range(depth):
                    b_row = b_t[(k0 + k) * p + j0:(k0 + k) * p + j0 + width]
                    b_block_row = b_block[k * width:(k + 1) * width]
                    for j in range(width):
                        b_block_row[j] = b_row[j]
                for i in range(i0, i1):
                    out_slice = out_t[i * p + j0:i * p + j0 + width]
                    for k in range(depth):
                        a_ik = a_t[i * n + k0 + k]
                        b_block_row = b_block[k * width:(k + 1) * width]
                        for j in range(width):
                            out_slice[j] += a_ik * b_block_row[j]


def matmul(a, b, out, batch, m, n, p):
    check.matmul(a, b, out, batch, m, n, p)
    tasks = batch * ((m + MATMUL_BLOCK_ROWS - 1) // MATMUL_BLOCK_ROWS)
    work_per_task = max(1, min(m, MATMUL_BLOCK_ROWS) * n * p)
    tasks_per_call = max(2 * get_num_threads(), MATMUL_WORK_PER_CALL // work_per_task)
    for start, stop in _chunks(tasks, tasks_per_call):
        _run(_matmul_kernel, (stop - start) * work_per_task,
             a.array, b.array, out.array, m, n, p, start, stop - start)


def available():
    return True, ""
