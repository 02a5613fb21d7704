"""Each device's flat kernels, called directly, against numpy on the same inputs.

This is the contract of ``backend_numpy``'s docstring; ``test_ndarray_conformance.py``
checks the same devices one layer up, through ``NDArray``.
"""
import numpy as np
import pytest
from conftest import is_slow, tolerance

from needle_edu.backend_ndarray import backend_numpy as reference


def buffer(mod, values, dtype):
    values = np.ascontiguousarray(values, dtype=dtype).reshape(-1)
    out = mod.Array(values.size, dtype)
    mod.from_numpy(values, out)
    return out


def read(mod, a):
    return mod.to_numpy(a, (a.size,), (1,), 0)


def strided_case(rng, slow):
    """A base buffer and a strided view of it: some strides zero, some negative."""
    shape = (3, 2, 4) if slow else (5, 3, 7)
    base = rng.standard_normal(200 if not slow else 60)
    strides = (8, 0, -1) if slow else (30, 0, -2)
    offset = 20 if not slow else 10
    return base, shape, strides, offset


def numpy_view(base, shape, strides, offset):
    return np.lib.stride_tricks.as_strided(
        base[offset:], shape, tuple(s * base.itemsize for s in strides))


def test_buffer_roundtrip_and_fill(device, dtype, rng):
    mod = device.module
    values = rng.standard_normal(37).astype(dtype)
    a = buffer(mod, values, dtype)
    assert a.size == 37 and a.dtype == dtype
    np.testing.assert_array_equal(read(mod, a), values)
    mod.fill(a, 2.5)
    np.testing.assert_array_equal(read(mod, a), np.full(37, 2.5, dtype))
    empty = mod.Array(0, dtype)
    assert read(mod, empty).shape == (0,)


def test_to_numpy_strided(device, dtype, rng):
    mod = device.module
    base, shape, strides, offset = strided_case(rng, is_slow(device))
    base = base.astype(dtype)
    got = mod.to_numpy(buffer(mod, base, dtype), shape, strides, offset)
    np.testing.assert_array_equal(got, numpy_view(base, shape, strides, offset))


def test_compact(device, dtype, rng):
    mod = device.module
    base, shape, strides, offset = strided_case(rng, is_slow(device))
    base = base.astype(dtype)
    out = mod.Array(int(np.prod(shape)), dtype)
    mod.compact(buffer(mod, base, dtype), out, shape, strides, offset)
    np.testing.assert_array_equal(read(mod, out), numpy_view(base, shape, strides, offset).reshape(-1))


# Broadcasts: the last stride 0 (one element repeated along each row), large enough for threads too.
@pytest.mark.parametrize("shape, strides", [((2, 3), (1, 0)), ((3, 4, 5, 6), (0, 1, 0, 0)),
                                            ((8, 16, 28, 28), (0, 1, 0, 0)), ((5, 7), (0, 0))])
def test_compact_of_broadcasts(device, dtype, rng, shape, strides):
    if is_slow(device) and np.prod(shape) > 5000:
        pytest.skip("numba_cuda on the simulator: large buffers take minutes")
    mod = device.module
    base = rng.standard_normal(16).astype(dtype)
    out = mod.Array(int(np.prod(shape)), dtype)
    mod.compact(buffer(mod, base, dtype), out, shape, strides, 0)
    np.testing.assert_array_equal(read(mod, out), numpy_view(base, shape, strides, 0).reshape(-1))


# Transposes of the last two dimensions (the cpu device copies those in register blocks where
# both sides are whole blocks): NHWC <-> NCHW, and matrices with and without ragged edges; output
# rows a multiple of 2 KiB apart (the cpu device then copies them a few output rows at a time).
@pytest.mark.parametrize("size, shape, strides", [
    (2 * 784 * 16, (2, 16, 28, 28), (12544, 1, 448, 16)), (2 * 784 * 16, (2, 28, 28, 16), (12544, 28, 1, 784)),
    (64 * 36, (64, 36), (1, 64)), (40 * 44, (44, 40), (1, 44)), (35, (5, 7), (1, 5)), (96 * 70, (70, 96), (1, 70)),
    (512 * 147, (147, 512), (1, 147)), (3 * 1024 * 37, (3, 37, 1024), (37 * 1024, 1, 37))])
def test_compact_of_transposes(device, dtype, rng, size, shape, strides):
    if is_slow(device) and size > 5000:
        pytest.skip("numba_cuda on the simulator: large buffers take minutes")
    mod = device.module
    base = rng.standard_normal(size).astype(dtype)
    out = mod.Array(int(np.prod(shape)), dtype)
    mod.compact(buffer(mod, base, dtype), out, shape, strides, 0)
    np.testing.assert_array_equal(read(mod, out), numpy_view(base, shape, strides, 0).reshape(-1))


def test_setitem(device, dtype, rng):
    mod = device.module
    shape, strides, offset = (3, 4), (-10, 2), 25
    base = rng.standard_normal(40).astype(dtype)
    values = rng.standard_normal(12).astype(dtype)
    out = buffer(mod, base, dtype)
    mod.ewise_setitem(buffer(mod, values, dtype), out, shape, strides, offset)
    expected = base.copy()
    numpy_view(expected, shape, strides, offset)[...] = values.reshape(shape)
    np.testing.assert_array_equal(read(mod, out), expected)
    mod.scalar_setitem(12, -7.0, out, shape, strides, offset)
    numpy_view(expected, shape, strides, offset)[...] = -7.0
    np.testing.assert_array_equal(read(mod, out), expected)


@pytest.mark.parametrize("op", reference.BINARY_OPS)
def test_binary(device, dtype, op, rng):
    mod = device.module
    n = 50 if is_slow(device) else 1001
    a = rng.uniform(0.5, 2.0, n).astype(dtype)
    b = rng.uniform(0.5, 2.0, n).astype(dtype)
    b[::3] = a[::3]  # equal elements, so comparisons see ties
    scalar = 1.25
    expected = getattr(reference, f"ewise_{op}")
    ref_out, out = reference.Array(n, dtype), mod.Array(n, dtype)
    expected(buffer(reference, a, dtype), buffer(reference, b, dtype), ref_out)
    getattr(mod, f"ewise_{op}")(buffer(mod, a, dtype), buffer(mod, b, dtype), out)
    np.testing.assert_allclose(read(mod, out), ref_out.array, **tolerance(dtype))
    getattr(reference, f"scalar_{op}")(buffer(reference, a, dtype), scalar, ref_out)
    getattr(mod, f"scalar_{op}")(buffer(mod, a, dtype), scalar, out)
    np.testing.assert_allclose(read(mod, out), ref_out.array, **tolerance(dtype))


@pytest.mark.parametrize("op", reference.UNARY_OPS)
def test_unary(device, dtype, op, rng):
    mod = device.module
    n = 50 if is_slow(device) else 1001
    a = rng.uniform(0.1, 3.0, n).astype(dtype)
    ref_out, out = reference.Array(n, dtype), mod.Array(n, dtype)
    getattr(reference, f"ewise_{op}")(buffer(reference, a, dtype), ref_out)
    getattr(mod, f"ewise_{op}")(buffer(mod, a, dtype), out)
    np.testing.assert_allclose(read(mod, out), ref_out.array, **tolerance(dtype))


# The simulator runs its blocks in threads, outside the test's np.errstate.
@pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")
def test_exp_over_the_whole_range(device, dtype):
    """exp overflows to inf, underflows through denormals to 0, and keeps NaN, like numpy.

    (The ``cpu`` and ``numba`` devices compute float32 exp with their own polynomial.)
    """
    mod = device.module
    x = np.concatenate([np.linspace(-120, 120, 50 if is_slow(device) else 24001),
                        [np.nan, np.inf, -np.inf, 0.0, -0.0, 88.72, 88.73, -87.3, -103.9, -104.0,
                         709.7, 709.8, -745.0]]).astype(dtype)
    out = mod.Array(x.size, dtype)
    with np.errstate(over="ignore"):  # numpy warns of the inf
        mod.ewise_exp(buffer(mod, x, dtype), out)
        expected = np.exp(x)
    info = np.finfo(dtype)  # within 4 units in the last place; a denormal in its last bit
    np.testing.assert_allclose(read(mod, out), expected, rtol=4 * info.eps, atol=info.smallest_subnormal)


@pytest.mark.parametrize("op", ["reduce_sum", "reduce_max"])
@pytest.mark.parametrize("dims", [(1, 7, 1), (3, 5, 1), (1, 4, 6), (2, 3, 5), (4, 1, 3), (2, 33, 3)])
def test_reduce(device, dtype, op, dims, rng):
    mod = device.module
    outer, reduce, inner = dims
    a = rng.standard_normal(outer * reduce * inner).astype(dtype)
    out = mod.Array(outer * inner, dtype)
    getattr(mod, op)(buffer(mod, a, dtype), out, outer, reduce, inner)
    block = a.reshape(outer, reduce, inner)
    expected = block.sum(axis=1) if op == "reduce_sum" else block.max(axis=1)
    np.testing.assert_allclose(read(mod, out), expected.reshape(-1), **tolerance(dtype))


# (1, 9, 256, 5) and (2, 67, 1031, 133) cross every block of the tiled kernels with ragged
# edges, and pad rows whose length is a multiple of 256 (numba packs them longer, against
# cache-set conflicts). (1, 100, 784, 100), an MLP's product, is shared by threads, reads A in
# place and ends in a narrow sliver of B on the cpu device; rows 4 KiB apart, as in
# (1, 31, 1024, 20) (and (1, 31, 512, 12) in float64), are read in place half a tile at a
# time, the last row packed.
@pytest.mark.parametrize("dims", [(1, 1, 1, 1), (1, 5, 3, 7), (3, 4, 6, 5), (2, 17, 33, 9), (1, 64, 64, 64),
                                  (1, 9, 256, 5), (2, 67, 1031, 133), (1, 100, 784, 100),
                                  (1, 31, 1024, 20), (1, 31, 512, 12)])
def test_matmul(device, dtype, dims, rng):
    mod = device.module
    batch, m, n, p = dims
    if is_slow(device) and m * n * p > 5000:
        pytest.skip("numba_cuda on the simulator: large matmuls take minutes")
    a = rng.standard_normal((batch, m, n)).astype(dtype)
    b = rng.standard_normal((batch, n, p)).astype(dtype)
    out = mod.Array(batch * m * p, dtype)
    mod.matmul(buffer(mod, a, dtype), buffer(mod, b, dtype), out, batch, m, n, p)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == "float32" else tolerance(dtype)
    np.testing.assert_allclose(read(mod, out), (a @ b).reshape(-1), **tol)


@pytest.mark.parametrize("size", [1 << 10, 1 << 17])
def test_kernels_on_one_thread_and_on_all(device, dtype, size, rng):
    """Small work runs on one thread (numba even calls a separate serial build), large work on
    all of them: both sides of that line give numpy's answers."""
    if is_slow(device) and size > 1 << 10:
        pytest.skip("numba_cuda on the simulator: large buffers take minutes")
    mod = device.module
    a, b = rng.standard_normal(size).astype(dtype), rng.standard_normal(size).astype(dtype)
    out = mod.Array(size, dtype)
    mod.ewise_sub(buffer(mod, a, dtype), buffer(mod, b, dtype), out)
    np.testing.assert_array_equal(read(mod, out), a - b)
    rows, cols = size // 64, 64
    sums = mod.Array(rows, dtype)
    mod.reduce_sum(buffer(mod, a, dtype), sums, rows, cols, 1)
    np.testing.assert_allclose(read(mod, sums), a.reshape(rows, cols).sum(axis=1), **tolerance(dtype))
    transposed = mod.Array(size, dtype)
    mod.compact(buffer(mod, a, dtype), transposed, (cols, rows), (1, cols), 0)
    np.testing.assert_array_equal(read(mod, transposed), a.reshape(rows, cols).T.reshape(-1))


def check_freed_buffer_cache(mod, address_of, drop_a_view=False):
    """A freed buffer of 64 KiB or more is handed out again for the same size (no fresh pages to
    fault in) and never while a numpy view of it lives (``drop_a_view``); small buffers are left
    to malloc, the cache stays bounded, and release_cached_buffers empties it. Returns the reused
    buffer, still alive."""
    mod.release_cached_buffers()
    first = mod.Array(1 << 18, "float32")  # 1 MiB
    address = address_of(first)
    del first
    assert mod.cached_buffer_bytes() == 1 << 20
    again = mod.Array(1 << 18, "float32")
    assert address_of(again) == address and again.dtype == "float32" and mod.cached_buffer_bytes() == 0
    if drop_a_view:
        held = mod.Array(1 << 18, "float32")
        view = np.asarray(held.array)[1:]
        del held
        assert mod.cached_buffer_bytes() == 0  # the view still reads it
        del view
    small = mod.Array(1000, "float32")
    del small
    assert mod.cached_buffer_bytes() == 0  # small buffers are left to malloc
    many = [mod.Array(1 << 24, "float32") for _ in range(5)]  # 5 x 64 MiB, more than the cache keeps
    del many
    assert 0 < mod.cached_buffer_bytes() <= 256 << 20
    mod.release_cached_buffers()
    assert mod.cached_buffer_bytes() == 0
    return again


def test_the_cpu_device_reuses_freed_large_buffers():
    from needle_edu.backend_ndarray import cpu
    if not cpu().enabled():
        pytest.skip("the cpu device is not built here")
    mod = cpu().module
    again = check_freed_buffer_cache(mod, lambda a: np.asarray(a).ctypes.data)
    mod.fill(again, 2.0)  # the reused buffer is the live array's own
    assert np.asarray(again).min() == np.asarray(again).max() == 2.0


def test_the_numba_device_reuses_freed_large_buffers_nobody_else_holds():
    """numba's buffers are numpy arrays, which a view can still hold after the Array is gone."""
    from needle_edu.backend_ndarray import backend_numba as mod
    check_freed_buffer_cache(mod, lambda a: a.array.ctypes.data, drop_a_view=True)
