"""Normalization layers: standardize features to mean 0 and variance 1, then scale and shift.

BatchNorm1d averages each feature over the batch; LayerNorm1d averages each example over its
features. Both use the biased variance (divide by n), as needle and PyTorch do when normalizing.
"""
from .. import init, ops
from ..autograd import no_grad
from ..course import student_implements
from .module import Module, Parameter


def _moments(x, axis):
    """The mean and the biased variance of ``x`` over ``axis``, the axis kept with size 1."""
    mean = x.mean(axis, keepdims=True)
    centered = x - mean.broadcast_to(x.shape)
    return mean, (centered * centered).mean(axis, keepdims=True)


def _standardize(x, mean, var, eps):
    """(x - mean) / sqrt(var + eps), ``mean`` and ``var`` broadcast to the shape of x."""
    return (x - mean.broadcast_to(x.shape)) / ops.sqrt(var + eps).broadcast_to(x.shape)


class _Normalization(Module):
    """Shared by the normalization layers: ``dim`` features, each with a learned scale
    ``weight`` (ones at first) and shift ``bias`` (zeros at first)."""

    def __init__(self, dim, eps, device, dtype):
        super().__init__()
        self.dim, self.eps = dim, eps
        self.weight = Parameter(init.ones(dim, device=device, dtype=dtype))
        self.bias = Parameter(init.zeros(dim, device=device, dtype=dtype))

    def check_input(self, x):
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"{type(self).__name__}: expected an input of shape (batch, {self.dim}), "
                             f"got {x.shape}")

    def scale_and_shift(self, x_hat):
        row = (1, self.dim)
        return (self.weight.reshape(row).broadcast_to(x_hat.shape) * x_hat
                + self.bias.reshape(row).broadcast_to(x_hat.shape))

    def extra_repr(self):
        return f"{self.dim}, eps={self.eps}"


class BatchNorm1d(_Normalization):
    """Standardize each feature with its mean and variance over the batch, then scale and shift.

    Training uses the batch's statistics and updates running averages of them, outside the graph:
    running = (1 - momentum) * running + momentum * batch statistic. As in needle, the running
    variance averages the biased batch variance (PyTorch averages the unbiased one, times
    n / (n - 1)). Eval mode uses the running averages, so each output depends on its input alone.
    """

    def __init__(self, dim, eps=1e-5, momentum=0.1, device=None, dtype="float32"):
        super().__init__(dim, eps, device, dtype)
        self.momentum = momentum
        self.running_mean = init.zeros(dim, device=device, dtype=dtype)
        self.running_var = init.ones(dim, device=device, dtype=dtype)

    def forward(self, x):
        self.check_input(x)
        if self.training:
            mean, var = _moments(x, axis=0)
            with no_grad():
                self.running_mean = self._average(self.running_mean, mean)
                self.running_var = self._average(self.running_var, var)
        else:
            mean, var = (stat.reshape((1, self.dim)) for stat in (self.running_mean, self.running_var))
        return self.scale_and_shift(_standardize(x, mean, var, self.eps))

    def _average(self, running, batch_statistic):
        return (1 - self.momentum) * running + self.momentum * batch_statistic.reshape((self.dim,))

    def extra_repr(self):
        return f"{super().extra_repr()}, momentum={self.momentum}"


class BatchNorm2d(BatchNorm1d):
    """BatchNorm for images (N, C, H, W): each channel standardized with its mean and variance
    over the batch and every pixel (N * H * W values), then scaled and shifted."""

    @student_implements("a05")
    def forward(self, x):
        # BEGIN SOLUTION a05
        if x.ndim != 4 or x.shape[1] != self.dim:
            raise ValueError(f"BatchNorm2d: expected images (N, {self.dim}, H, W), got shape {x.shape}")
        per_channel = (1, self.dim, 1, 1)
        if not self.training:
            mu, sigma2 = (stat.reshape(per_channel) for stat in (self.running_mean, self.running_var))
            deviation = x - mu.broadcast_to(x.shape)
        else:
            # Sum over the pixels, then over the batch: each sum runs over adjacent axes, no copies.
            count = x.shape[0] * x.shape[2] * x.shape[3]
            mu = (x.sum((2, 3)).sum(0) / count).reshape(per_channel)
            deviation = x - mu.broadcast_to(x.shape)
            sigma2 = ((deviation * deviation).sum((2, 3)).sum(0) / count).reshape(per_channel)
            with no_grad():
                self.running_mean = self._average(self.running_mean, mu)
                self.running_var = self._average(self.running_var, sigma2)
        # weight * deviation / sqrt(sigma2 + eps) + bias, the per-channel factor made first
        scale = self.weight.reshape(per_channel) / ops.sqrt(sigma2 + self.eps)
        return deviation * scale.broadcast_to(x.shape) + self.bias.reshape(per_channel).broadcast_to(x.shape)
        # END SOLUTION


class LayerNorm1d(_Normalization):
    """Standardize each example with the mean and variance of its own features, then scale and
    shift; the same in training and eval mode."""

    def __init__(self, dim, eps=1e-5, device=None, dtype="float32"):
        super().__init__(dim, eps, device, dtype)

    def forward(self, x):
        self.check_input(x)
        mean, var = _moments(x, axis=1)
        return self.scale_and_shift(_standardize(x, mean, var, self.eps))


class LayerNorm(LayerNorm1d):
    """LayerNorm1d over the last axis of an input of any shape (..., dim): each position of a
    sequence (N, L, dim) is standardized with its own features, as PyTorch's LayerNorm(dim)."""

    def check_input(self, x):
        if x.shape[-1] != self.dim:
            raise ValueError(f"LayerNorm: expected inputs of shape (..., {self.dim}), got {x.shape}")

    def forward(self, x):
        self.check_input(x)
        rows = x.reshape((x.size // self.dim, self.dim))
        mean, var = _moments(rows, axis=1)
        return self.scale_and_shift(_standardize(rows, mean, var, self.eps)).reshape(x.shape)
