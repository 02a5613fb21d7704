"""Convolution and pooling on images stored NHWC: (batch, height, width, channels).

A convolution is one matrix product: every K x K x C_in patch of the (padded) input becomes a row
of a matrix (im2col), multiplied by the weights flattened to (K * K * C_in, C_out).
"""
import numbers

from ..autograd import Tensor, TensorOp, is_grad_enabled
from ..backend_ndarray import zeros
from ..course import student_implements
from .ops_shape import flip, pad


def _positive_int(op, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise TypeError(f"{op}: {name} must be a positive int, got {value!r}")
    return int(value)


def _padding_pair(value):
    """``padding`` as (rows, columns): an int pads both the same."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or any(isinstance(p, bool) or not isinstance(p, numbers.Integral) or p < 0
                             for p in pair):
        raise TypeError(f"Conv: padding must be a non-negative int or a pair of them, got {value!r}")
    return tuple(int(p) for p in pair)


def _out_size(size, kernel, stride, dilation):
    """How many windows of ``kernel`` taps, ``dilation`` apart, fit in ``size`` at ``stride``."""
    return (size - dilation * (kernel - 1) - 1) // stride + 1


def pad_hw(a, padding):
    """NDArray ``a`` (N, H, W, C), compact, with ``padding`` = (rows, columns) of zeros around its image."""
    ph, pw = padding
    if ph == pw == 0:
        return a.compact()  # im2col then reads whole pixels (C contiguous values) at a time
    batch, height, width, channels = a.shape
    out = zeros((batch, height + 2 * ph, width + 2 * pw, channels), device=a.device, dtype=a.dtype)
    out[:, ph:ph + height, pw:pw + width, :] = a
    return out


@student_implements("a05")
def im2col(a, kernel_shape, stride=1, dilation=1):
    """The patches of NDArray ``a`` (N, H, W, C) as a view (N, H_out, W_out, KH, KW, C), no copy.

    ``kernel_shape`` is (KH, KW). Patch (n, i, j) starts at row ``i * stride``, column
    ``j * stride``; its taps are ``dilation`` apart. Made with ``as_strided``: it shares a's buffer.
    """
    # BEGIN SOLUTION a05
    n, h, w, c = a.shape
    kh, kw = kernel_shape
    sn, sh, sw, sc = a.strides
    shape = (n, _out_size(h, kh, stride, dilation), _out_size(w, kw, stride, dilation), kh, kw, c)
    strides = (sn, sh * stride, sw * stride, sh * dilation, sw * dilation, sc)
    return a.as_strided(shape, strides)
    # END SOLUTION


class Conv(TensorOp):
    """2-D convolution of ``a`` (N, H, W, C_in) with weights ``b`` (KH, KW, C_in, C_out).

    ``padding`` zeros surround the image; windows step ``stride`` pixels; a window's taps are
    ``dilation`` pixels apart. The output is (N, H_out, W_out, C_out) with
    H_out = (H + 2 padding - dilation (KH - 1) - 1) // stride + 1.
    """

    def __init__(self, stride=1, padding=0, dilation=1):
        self.stride = _positive_int("Conv", "stride", stride)
        self.dilation = _positive_int("Conv", "dilation", dilation)
        self.padding = _padding_pair(padding)
        self.keep_rows, self.saved_rows = False, None

    def check_inputs(self, a, b):
        if a.ndim != 4 or b.ndim != 4:
            raise ValueError(f"{self.name}: expected an input (N, H, W, C_in) and weights "
                             f"(K, K, C_in, C_out), got shapes {a.shape} and {b.shape}")
        if a.shape[3] != b.shape[2]:
            raise ValueError(f"{self.name}: the input has {a.shape[3]} channels (shape {a.shape}) "
                             f"but the weights expect {b.shape[2]} (shape {b.shape})")
        for axis in (1, 2):
            span = self.dilation * (b.shape[axis - 1] - 1) + 1
            padded = a.shape[axis] + 2 * self.padding[axis - 1]
            if padded < span or b.shape[axis - 1] == 0:
                raise ValueError(f"{self.name}: weights of shape {b.shape} (dilation {self.dilation}) "
                                 f"do not fit in the input of shape {a.shape} padded by {self.padding}")

    def __call__(self, a, b):
        # An input that needs no gradient (a network's images): the weights' gradient reuses its
        # patches, kept from the forward pass as torch's save_for_backward would, not recomputed.
        self.keep_rows = is_grad_enabled() and not a.requires_grad and b.requires_grad
        self.saved_rows = None
        return super().__call__(a, b)

    def compute(self, a, b):
        kh, kw, c_in, c_out = b.shape
        patches = im2col(pad_hw(a, self.padding), (kh, kw), self.stride, self.dilation)
        n, h_out, w_out = patches.shape[:3]
        rows = patches.compact().reshape((n * h_out * w_out, kh * kw * c_in))
        if self.keep_rows:
            self.saved_rows = rows
        return (rows @ b.reshape((kh * kw * c_in, c_out))).reshape((n, h_out, w_out, c_out))

    @student_implements("a05")
    def gradient(self, out_grad, node):
        """The input's gradient is the output gradient convolved with the flipped, transposed
        kernel (for stride > 1 the same sums, computed by col2im without the dilation's zeros); the
        weights' is the input convolved with the output gradient, computed as patches^T @ out_grad."""
        # BEGIN SOLUTION a05
        image, kernel = node.inputs
        kh, kw = kernel.shape[:2]
        s, d, (ph, pw) = self.stride, self.dilation, self.padding
        grad_image = grad_kernel = None
        if image.requires_grad and s > 1:
            # Dilating out_grad would make most of the convolution's products zeros. Instead the
            # matmul view: each patch's gradient is a row of out_grad times the kernel transposed,
            # and col2im adds each patch back where it came from.
            n, h_out, w_out, c_out = out_grad.shape
            rows = out_grad.reshape((n * h_out * w_out, c_out)) @ kernel.reshape((kh * kw * image.shape[3], c_out)).transpose()
            height, width = image.shape[1] + 2 * ph, image.shape[2] + 2 * pw
            patches = rows.reshape((n, h_out, w_out, kh, kw, image.shape[3]))
            padded = AddWindows((n, height, width, image.shape[3]), (kh, kw), s, d)(patches)
            grad_image = padded[:, ph:height - ph, pw:width - pw, :]
        elif image.requires_grad:
            turned = flip(kernel, (0, 1)).permute((0, 1, 3, 2))
            # Pad by the kernel's span less the forward padding; where that is negative, the
            # forward padding's own rows and columns are cut off the result instead.
            extra = (d * (kh - 1) - ph, d * (kw - 1) - pw)
            full = conv(out_grad, turned, padding=tuple(max(e, 0) for e in extra), dilation=d)
            top, left = (max(-e, 0) for e in extra)
            grad_image = full[:, top:top + image.shape[1], left:left + image.shape[2], :]
        if kernel.requires_grad:
            # The matmul view: the forward pass is rows @ weights, so the weights' gradient is
            # rows transposed @ out_grad, the rows being the patches of the padded input.
            if self.saved_rows is not None and not image.requires_grad:
                rows = Tensor.make_const(self.saved_rows)
            else:
                padded = pad(image, ((0, 0), (ph, ph), (pw, pw), (0, 0))) if ph or pw else image
                patches = Windows((kh, kw), s, dilation=d)(padded)
                windows = patches.shape[0] * patches.shape[1] * patches.shape[2]
                rows = patches.reshape((windows, kh * kw * image.shape[3]))
            grad_kernel = (rows.transpose() @ out_grad.reshape((rows.shape[0], kernel.shape[3]))).reshape(kernel.shape)
        return grad_image, grad_kernel
        # END SOLUTION


def conv(a, b, stride=1, padding=0, dilation=1):
    return Conv(stride, padding, dilation)(a, b)


class Windows(TensorOp):
    """The K x K windows of ``a`` (N, H, W, C) at ``stride``: (N, H_out, W_out, K, K, C), a copy.

    Pooling reduces its window axes (3, 4). The gradient adds each window's gradient back where
    the window came from (col2im), so overlapping windows add up. ``kernel_size`` may be a pair
    (KH, KW), and taps may be ``dilation`` apart: the gradient of col2im is this op.
    """

    def __init__(self, kernel_size, stride=None, op="Windows", dilation=1):
        if isinstance(kernel_size, tuple):
            self.kernel_shape = tuple(_positive_int(op, "kernel_size", k) for k in kernel_size)
        else:
            self.kernel_shape = (_positive_int(op, "kernel_size", kernel_size),) * 2
        self.stride = self.kernel_shape[0] if stride is None else _positive_int(op, "stride", stride)
        self.dilation = _positive_int(op, "dilation", dilation)
        self.op = op

    @property
    def name(self):
        return self.op

    def check_inputs(self, a):
        if a.ndim != 4:
            raise ValueError(f"{self.name}: expected an input (N, H, W, C), got shape {a.shape}")
        kh, kw = self.kernel_shape
        if a.shape[1] < self.dilation * (kh - 1) + 1 or a.shape[2] < self.dilation * (kw - 1) + 1:
            raise ValueError(f"{self.name}: a {kh}x{kw} window does not fit in an input of shape {a.shape}")

    def compute(self, a):
        return im2col(a, self.kernel_shape, self.stride, self.dilation).compact()

    def gradient(self, out_grad, node):
        return AddWindows(node.inputs[0].shape, self.kernel_shape, self.stride, self.dilation)(out_grad)


class AddWindows(TensorOp):
    """The adjoint of im2col (col2im): the values of patches (N, H_out, W_out, KH, KW, C) added
    into an image of ``shape`` where each patch came from, at ``stride``, taps ``dilation`` apart."""

    def __init__(self, shape, kernel_shape, stride, dilation=1):
        self.shape, self.kernel_shape, self.stride, self.dilation = tuple(shape), kernel_shape, stride, dilation

    def compute(self, cols):
        if self.dilation > 1:
            return self._add_each_tap(cols)
        return self._add_tap_blocks(cols)

    def _add_tap_blocks(self, cols):
        """Image row y = s * q + r (r < s): tap i of window m lands at q = m + i // s, r = i % s.
        So the taps i in [s b, s b + s) of every window fill disjoint rows (one r each) of the
        block of windows shifted by b: one add per s x s block of taps, not one per tap."""
        n, h_out, w_out, kh, kw, c = cols.shape
        s = self.stride
        blocks = (-(-kh // s), -(-kw // s))
        # the image, rounded up to whole multiples of s, seen as (N, H/s, s, W/s, s, C)
        rows, columns = (s * max(-(-size // s), out + b - 1)
                         for size, out, b in ((self.shape[1], h_out, blocks[0]), (self.shape[2], w_out, blocks[1])))
        out = zeros((n, rows, columns, c), device=cols.device, dtype=cols.dtype)
        grid = out.reshape((n, rows // s, s, columns // s, s, c))
        for bi in range(blocks[0]):
            for bj in range(blocks[1]):
                taps_i, taps_j = min(s, kh - s * bi), min(s, kw - s * bj)
                block = cols[:, :, :, s * bi:s * bi + taps_i, s * bj:s * bj + taps_j, :].permute((0, 1, 3, 2, 4, 5))
                where = (slice(None), slice(bi, bi + h_out), slice(0, taps_i),
                         slice(bj, bj + w_out), slice(0, taps_j), slice(None))
                grid[where] = grid[where] + block if bi or bj else block
        if (rows, columns) == self.shape[1:3]:
            return out
        return out[:, :self.shape[1], :self.shape[2], :].compact()

    def _add_each_tap(self, cols):
        """Taps ``dilation`` apart: one strided add per tap."""
        out = zeros(self.shape, device=cols.device, dtype=cols.dtype)
        _, h_out, w_out, kh, kw = cols.shape[:5]
        s, d = self.stride, self.dilation
        overlapping = s < d * (max(kh, kw) - 1) + 1  # else every pixel gets at most one value
        for i in range(kh):
            for j in range(kw):
                rows = slice(d * i, d * i + s * (h_out - 1) + 1, s)
                columns = slice(d * j, d * j + s * (w_out - 1) + 1, s)
                tap = cols[:, :, :, i, j, :]
                out[:, rows, columns, :] = out[:, rows, columns, :] + tap if overlapping else tap
        return out

    def gradient(self, out_grad, node):
        return Windows(self.kernel_shape, self.stride, dilation=self.dilation)(out_grad)


def max_pool2d(a, kernel_size, stride=None):
    """The largest value of each K x K window (NHWC); ``stride`` defaults to ``kernel_size``."""
    return Windows(kernel_size, stride, "max_pool2d")(a).max((3, 4))


def avg_pool2d(a, kernel_size, stride=None):
    """The mean of each K x K window (NHWC); ``stride`` defaults to ``kernel_size``."""
    return Windows(kernel_size, stride, "avg_pool2d")(a).mean((3, 4))
