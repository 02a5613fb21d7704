"""Conversions: the same values on another device or in another dtype.

The gradient makes the trip back, so a graph may span devices and precisions.
"""
from ..autograd import TensorOp
from ..backend_ndarray import device as lookup_device
from ..backend_ndarray.ndarray import dtype_name


class ToDevice(TensorOp):
    """A copy on ``device``. The gradient is copied back to the input's device."""

    def __init__(self, device):
        self.device = lookup_device(device)

    def compute(self, a):
        return a.to(self.device)

    def gradient(self, out_grad, node):
        return to_device(out_grad, node.inputs[0].device)


def to_device(a, device):
    return ToDevice(device)(a)


class AsType(TensorOp):
    """The values converted to ``dtype``. The gradient is converted back to the input's dtype."""

    def __init__(self, dtype):
        self.dtype = dtype_name(dtype, self.name)

    def compute(self, a):
        return a.astype(self.dtype)

    def gradient(self, out_grad, node):
        return astype(out_grad, node.inputs[0].dtype)


def astype(a, dtype):
    return AsType(dtype)(a)
