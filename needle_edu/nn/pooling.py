"""Pooling layers: summarize each K x K window of every channel by its maximum or its mean.

They take images NCHW, as PyTorch does, and pool NHWC inside (ops.max_pool2d, ops.avg_pool2d).
"""
from .. import ops
from .conv import NCHW_TO_NHWC, NHWC_TO_NCHW
from .module import Module


def _check_images(layer, x):
    if x.ndim != 4:
        raise ValueError(f"{layer}: expected images (N, C, H, W), got shape {x.shape}")


class _Pool2d(Module):
    pool = None

    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, kernel_size if stride is None else stride

    def forward(self, x):
        _check_images(type(self).__name__, x)
        return type(self).pool(x.permute(NCHW_TO_NHWC), self.kernel_size, self.stride).permute(NHWC_TO_NCHW)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class MaxPool2d(_Pool2d):
    """The maximum of each window (``stride`` defaults to ``kernel_size``: windows side by side)."""

    pool = staticmethod(ops.max_pool2d)


class AvgPool2d(_Pool2d):
    """The mean of each window (``stride`` defaults to ``kernel_size``: windows side by side)."""

    pool = staticmethod(ops.avg_pool2d)


class GlobalAvgPool2d(Module):
    """The mean of each channel over the whole image: (N, C, H, W) to (N, C).

    PyTorch writes it ``AdaptiveAvgPool2d(1)`` followed by a flatten.
    """

    def forward(self, x):
        _check_images("GlobalAvgPool2d", x)
        return x.mean((2, 3))
