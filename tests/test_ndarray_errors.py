"""Bad input gets a clear exception naming the op, the shapes and dtypes, before any kernel runs."""
import numpy as np
import pytest

import needle_edu as ndl


def array(device, shape, dtype="float32"):
    return ndl.NDArray(np.ones(shape, dtype), device=device)


def test_shape_mismatch_names_op_and_shapes(device):
    with pytest.raises(ValueError, match=r"ewise_add: shapes \(2, 3\) and \(3,\) differ.*broadcast_to"):
        array(device, (2, 3)) + array(device, (3,))
    with pytest.raises(ValueError, match=r"ewise_maximum: shapes \(2, 3\) and \(3, 2\) differ"):
        array(device, (2, 3)).maximum(array(device, (3, 2)))
    with pytest.raises(ValueError, match=r"ewise_sub: shapes \(2, 3\) and \(3,\) differ.*broadcast_to"):
        array(device, (2, 3)) - array(device, (3,))


def test_dtype_mismatch_is_a_type_error(device):
    with pytest.raises(TypeError, match=r"ewise_mul: dtypes differ \(float32 with shape \(2,\) and float64"):
        array(device, (2,)) * array(device, (2,), "float64")
    with pytest.raises(TypeError, match=r"ewise_sub: dtypes differ \(float32 with shape \(2,\) and float64"):
        array(device, (2,)) - array(device, (2,), "float64")
    with pytest.raises(TypeError, match="matmul: dtypes differ"):
        array(device, (2, 2)) @ array(device, (2, 2), "float64")


def test_unsupported_operands_and_dtypes(device):
    with pytest.raises(TypeError, match="ewise_add: expected an NDArray or a number, got ndarray"):
        array(device, (2,)) + np.ones(2)
    with pytest.raises(TypeError, match="ewise_sub: expected an NDArray or a number, got ndarray"):
        array(device, (2,)) - np.ones(2)
    with pytest.raises(TypeError, match="dtype int64 is not supported"):
        ndl.NDArray(np.ones(2), device=device, dtype="int64")
    with pytest.raises(TypeError, match="cannot make an array from numpy dtype <U1"):
        ndl.NDArray(np.array(["a"]), device=device)


def test_device_mismatch(device):
    other = "numpy" if device.name != "numpy" else "cpu"
    if not ndl.device(other).enabled():
        pytest.skip(f"needs a second device; {other}: {ndl.device(other).reason}")
    with pytest.raises(ValueError, match=r"ewise_add: arrays are on different devices"):
        array(device, (2,)) + array(other, (2,))


def test_bad_axes(device):
    x = array(device, (2, 3))
    with pytest.raises(ValueError, match="sum: axis 2 is out of range for an array of 2 dimensions"):
        x.sum(axis=2)
    with pytest.raises(ValueError, match="max: axis -3 is out of range"):
        x.max(axis=-3)
    with pytest.raises(ValueError, match=r"sum: repeated axis in \(0, -2\)"):
        x.sum(axis=(0, -2))
    with pytest.raises(TypeError, match="sum: axis must be an int or a tuple of ints, got float"):
        x.sum(axis=1.0)
    with pytest.raises(ValueError, match=r"permute: axes \(0, 0\) are not a permutation|permute: repeated axis"):
        x.permute((0, 0))
    with pytest.raises(ValueError, match="flip: axis 5 is out of range"):
        x.flip(5)


def test_index_errors(device):
    x = array(device, (2, 3))
    with pytest.raises(IndexError, match=r"getitem: index 3 is out of range for axis 1 of size 3 \(shape \(2, 3\)\)"):
        x[0, 3]
    with pytest.raises(IndexError, match=r"getitem: index -3 is out of range for axis 0"):
        x[-3]
    with pytest.raises(IndexError, match=r"too many indices \(3\) for an array of shape \(2, 3\)"):
        x[0, 0, 0]
    with pytest.raises(TypeError, match="index of type list is not supported"):
        x[[0, 1]]
    with pytest.raises(IndexError, match="single ellipsis"):
        x[..., ...]
    with pytest.raises(IndexError):
        x[5] = 1.0


def test_view_errors(device):
    x = array(device, (2, 3))
    with pytest.raises(ValueError, match=r"reshape: cannot reshape array of shape \(2, 3\) \(size 6\) into \(4, 2\)"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match="only one dimension may be -1"):
        x.reshape(-1, -1)
    with pytest.raises(ValueError, match=r"broadcast_to: cannot broadcast shape \(2, 3\) to \(2, 4\)"):
        x.broadcast_to((2, 4))
    with pytest.raises(ValueError, match=r"broadcast_to: cannot broadcast shape \(2, 3\) to \(3,\)"):
        x.broadcast_to((3,))
    with pytest.raises(ValueError, match=r"setitem: cannot assign shape \(2,\) to a view of shape \(3,\)|cannot be broadcast"):
        x[0] = array(device, (2,))


def test_matmul_errors(device):
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) do not align \(3 != 4\)"):
        array(device, (2, 3)) @ array(device, (4, 5))
    with pytest.raises(ValueError, match=r"matmul: both operands need at least 2 dimensions, got shapes \(3,\)"):
        array(device, (3,)) @ array(device, (3, 2))
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 1, 1\) and \(3, 1, 1\) cannot be broadcast"):
        array(device, (2, 1, 1)) @ array(device, (3, 1, 1))
    with pytest.raises(TypeError, match="matmul: expected an NDArray, got float"):
        array(device, (2, 2)) @ 2.0


def test_truth_value_and_float(device):
    with pytest.raises(ValueError, match=r"truth value of an NDArray of shape \(2,\) is ambiguous"):
        bool(array(device, (2,)) == array(device, (2,)))
    assert bool(array(device, (1,)) == 1.0)
    with pytest.raises(TypeError, match="only size-1"):
        float(array(device, (2,)))


def test_unknown_and_unavailable_devices():
    with pytest.raises(ValueError, match="unknown device 'tpu'; known devices: numpy, cpu, numba, cuda, numba_cuda"):
        ndl.device("tpu")
    unavailable = [d for d in ndl.all_devices() if not d.enabled()]
    for d in unavailable:
        assert d.reason, f"{d.name} is unavailable without a reason"
        with pytest.raises(ndl.DeviceUnavailableError, match=f"device '{d.name}' is unavailable: "):
            ndl.NDArray([1.0], device=d)


def test_kernel_modules_check_sizes_themselves(device):
    """Students may call kernels directly: a wrong size is an exception, never a crash."""
    module = device.module
    small, big = module.Array(3, "float32"), module.Array(5, "float32")
    with pytest.raises((ValueError, TypeError)):
        module.ewise_add(small, big, big)
    with pytest.raises((ValueError, TypeError)):
        module.compact(small, big, (5,), (1,), 0)
    with pytest.raises((ValueError, TypeError)):
        module.matmul(small, small, big, 1, 2, 2, 2)
    with pytest.raises((ValueError, TypeError)):
        module.ewise_add(small, module.Array(3, "float64"), small)
    with pytest.raises((ValueError, TypeError)):
        module.ewise_sub(small, big, big)
    with pytest.raises((ValueError, TypeError)):
        module.scalar_sub(small, 1.0, big)
