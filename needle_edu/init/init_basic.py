"""Tensors of constants and of random numbers: ``uniform(2, 3, device="cpu")`` and the like.

Every random number comes from one generator, ``default_generator``, drawn by numpy in float64
and then converted, so ``manual_seed(s)`` repeats a run exactly, on every device and dtype.
A shape is given as needle does, ``uniform(2, 3)``, as a tuple, ``uniform((2, 3))``, or by
keyword, ``uniform(shape=(2, 3))``.
"""
import numpy as np

from ..autograd import Tensor
from ..backend_ndarray import NDArray, full

default_generator = np.random.default_rng()


def manual_seed(seed):
    """Restart ``default_generator`` from ``seed``, as ``torch.manual_seed`` does; returns it."""
    default_generator.bit_generator.state = np.random.default_rng(seed).bit_generator.state
    return default_generator


def resolve_shape(name, dims, shape):
    """The shape given as ``f(2, 3)``, ``f((2, 3))`` or ``f(shape=(2, 3))``: exactly one way."""
    if shape is not None and dims:
        raise TypeError(f"{name}: give the shape either as arguments or as shape=, not both")
    if shape is None:
        shape = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise ValueError(f"{name}: a shape is whole numbers >= 0, got {shape}")
    return tuple(int(n) for n in shape)


def _tensor(values, device, dtype, requires_grad):
    return Tensor(values, device=device, dtype=dtype, requires_grad=requires_grad)


def uniform(*dims, shape=None, low=0.0, high=1.0, device=None, dtype="float32", requires_grad=False):
    """Uniform random numbers in [low, high) (``torch.rand`` when low=0, high=1)."""
    values = default_generator.uniform(low, high, size=resolve_shape("uniform", dims, shape))
    return _tensor(values, device, dtype, requires_grad)


def normal(*dims, shape=None, mean=0.0, std=1.0, device=None, dtype="float32", requires_grad=False):
    """Normal random numbers with mean ``mean`` and standard deviation ``std`` (``torch.randn``
    when mean=0, std=1)."""
    values = default_generator.normal(mean, std, size=resolve_shape("normal", dims, shape))
    return _tensor(values, device, dtype, requires_grad)


def randb(*dims, shape=None, p=0.5, device=None, dtype="float32", requires_grad=False):
    """Bernoulli random numbers: 1 with probability ``p``, else 0 (a random mask, as numbers:
    needle's is bool, but an NDArray holds floats)."""
    values = default_generator.random(size=resolve_shape("randb", dims, shape)) < p
    return _tensor(values, device, dtype, requires_grad)


def constant(*dims, shape=None, c=1.0, device=None, dtype="float32", requires_grad=False):
    """Every entry equal to ``c``."""
    return Tensor(full(resolve_shape("constant", dims, shape), c, device=device, dtype=dtype),
                  requires_grad=requires_grad)


def ones(*dims, shape=None, device=None, dtype="float32", requires_grad=False):
    return constant(*dims, shape=shape, c=1.0, device=device, dtype=dtype, requires_grad=requires_grad)


def zeros(*dims, shape=None, device=None, dtype="float32", requires_grad=False):
    return constant(*dims, shape=shape, c=0.0, device=device, dtype=dtype, requires_grad=requires_grad)


def one_hot(n, labels, device=None, dtype="float32", requires_grad=False):
    """Row i is all zeros but a 1 in column ``labels[i]``: shape (len(labels), n).

    ``labels`` (whole numbers in range(n)) may be a list, a numpy array, an NDArray or a Tensor.
    """
    if isinstance(labels, (Tensor, NDArray)):
        labels = labels.numpy()
    labels = np.asarray(labels)
    whole = labels.astype(np.int64)
    if labels.ndim != 1 or (whole != labels).any() or ((whole < 0) | (whole >= n)).any():
        raise ValueError(f"one_hot: labels must be a 1-D array of whole numbers in range({n}), "
                         f"got shape {labels.shape} with values {np.unique(labels)[:10]}")
    # Row i compares labels[i] with each column number: True in its own column only. (No n x n
    # identity matrix to index, and the booleans become ``dtype`` in the one copy to the device.)
    return _tensor(whole[:, None] == np.arange(n), device, dtype, requires_grad)
