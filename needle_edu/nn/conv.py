"""Convolution layers. They take and return images NCHW, as PyTorch does; inside they work NHWC,
where the channels of a pixel sit side by side and im2col's patches are rows of one matrix."""
import math

from .. import init, ops
from ..course import student_implements
from .module import Module, Parameter

NCHW_TO_NHWC, NHWC_TO_NCHW = (0, 2, 3, 1), (0, 3, 1, 2)


def check_image(layer, x, channels):
    """Raise a ValueError naming ``layer`` unless ``x`` is (N, channels, H, W)."""
    if x.ndim != 4 or x.shape[1] != channels:
        raise ValueError(f"{layer}: expected images (N, {channels}, H, W), got shape {x.shape}")


def conv_parameters(fan_in, shape, bias, device, dtype):
    """A convolution's ``weight`` of ``shape``, Kaiming-uniform for ``fan_in``, and its bias of
    ``shape[3]`` values uniform on +-1 / sqrt(fan_in) (or None), as Parameters."""
    weight = Parameter(init.kaiming_uniform(fan_in, shape[3], shape=shape, device=device, dtype=dtype))
    if not bias:
        return weight, None
    bound = 1 / math.sqrt(fan_in)
    return weight, Parameter(init.uniform(shape[3], low=-bound, high=bound, device=device, dtype=dtype))


def add_bias_nchw(y, bias):
    """NHWC ``y`` plus ``bias`` (or nothing, for None) on every pixel, returned NCHW."""
    if bias is not None:
        y = y + bias.reshape((1, 1, 1, bias.shape[0])).broadcast_to(y.shape)
    return y.permute(NHWC_TO_NCHW)


def _kernel_size(layer, kernel_size):
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1:
        raise TypeError(f"{layer}: kernel_size must be a positive int (square kernels), "
                        f"got {kernel_size!r}")
    return kernel_size


class Conv(Module):
    """A 2-D convolution layer: images (N, in_channels, H, W) to (N, out_channels, H', W').

    ``weight`` is (K, K, in_channels, out_channels), Kaiming-uniform with fan_in = K * K *
    in_channels; ``bias`` (out_channels,) is uniform on +-1 / sqrt(fan_in), as in PyTorch. The
    padding is K // 2 ("same" for odd K at stride 1) unless given.
    """

    @student_implements("a05")
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, bias=True, padding=None,
                 device=None, dtype="float32"):
        super().__init__()
        # BEGIN SOLUTION a05
        k = _kernel_size("Conv", kernel_size)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, k
        self.stride = stride
        self.padding = k // 2 if padding is None else padding
        self.weight, self.bias = conv_parameters(k * k * in_channels, (k, k, in_channels, out_channels), bias,
                                                 device, dtype)
        # END SOLUTION

    @student_implements("a05")
    def forward(self, x):
        # BEGIN SOLUTION a05
        check_image("Conv", x, self.in_channels)
        y = ops.conv(x.permute(NCHW_TO_NHWC), self.weight, stride=self.stride, padding=self.padding)
        return add_bias_nchw(y, self.bias)
        # END SOLUTION

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}")


class ConvTranspose(Module):
    """The adjoint of a convolution (PyTorch's ConvTranspose2d): it spreads each input pixel
    over a K x K patch of an output ``stride`` times larger, for generators and decoders.

    Output size (H - 1) * stride - 2 * padding + K + output_padding. ``weight`` is
    (K, K, in_channels, out_channels): PyTorch's (in_channels, out_channels, K, K) permuted.
    It is the input gradient of a convolution: dilate the input by the stride, pad it by
    K - 1 - padding, and convolve with the flipped kernel.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 bias=True, device=None, dtype="float32"):
        super().__init__()
        k = _kernel_size("ConvTranspose", kernel_size)
        if not 0 <= padding <= k - 1 or not 0 <= output_padding < stride:
            raise ValueError(f"ConvTranspose: need 0 <= padding <= kernel_size - 1 and "
                             f"0 <= output_padding < stride, got padding={padding}, "
                             f"output_padding={output_padding}, kernel_size={k}, stride={stride}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding, self.output_padding = k, stride, padding, output_padding
        # fan_in as PyTorch counts it for a transposed convolution: K * K * out_channels
        self.weight, self.bias = conv_parameters(k * k * out_channels, (k, k, in_channels, out_channels), bias,
                                                 device, dtype)

    def forward(self, x):
        check_image("ConvTranspose", x, self.in_channels)
        k, s = self.kernel_size, self.stride
        h, w = ((d - 1) * s - 2 * self.padding + k + self.output_padding for d in x.shape[2:])
        spread = x.permute(NCHW_TO_NHWC)
        if s > 1:
            spread = ops.dilate(spread, (1, 2), s - 1)
        full = ops.conv(spread, ops.flip(self.weight, (0, 1)), padding=k - 1 - self.padding)
        return add_bias_nchw(full[:, :h, :w, :], self.bias)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, output_padding={self.output_padding}")
