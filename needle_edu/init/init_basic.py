"""Tensors of constants and of random numbers: ``rand(2, 3, device="cpu")`` and the like.

Every random number comes from one generator, ``default_generator``, drawn by numpy in float64
and then converted, so ``manual_seed(s)`` repeats a run exactly, on every device and dtype.
Shapes are given as needle does, ``rand(2, 3)``, or as a tuple, ``rand((2, 3))``.
"""
import numpy as np

from ..autograd import Tensor, _one_tuple
from ..backend_ndarray import NDArray, full

default_generator = np.random.default_rng()


def manual_seed(seed):
    """Restart ``default_generator`` from ``seed``, as ``torch.manual_seed`` does; returns it."""
    default_generator.bit_generator.state = np.random.default_rng(seed).bit_generator.state
    return default_generator


def _tensor(values, device, dtype, requires_grad):
    return Tensor(values, device=device, dtype=dtype, requires_grad=requires_grad)


def rand(*shape, low=0.0, high=1.0, device=None, dtype="float32", requires_grad=False):
    """Uniform random numbers in [low, high)."""
    values = default_generator.uniform(low, high, size=_one_tuple(shape))
    return _tensor(values, device, dtype, requires_grad)


def randn(*shape, mean=0.0, std=1.0, device=None, dtype="float32", requires_grad=False):
    """Normal random numbers with mean ``mean`` and standard deviation ``std``."""
    values = default_generator.normal(mean, std, size=_one_tuple(shape))
    return _tensor(values, device, dtype, requires_grad)


def randb(*shape, p=0.5, device=None, dtype="float32", requires_grad=False):
    """Bernoulli random numbers: 1 with probability ``p``, else 0 (a random mask, as numbers:
    needle's is bool, but an NDArray holds floats)."""
    values = default_generator.random(size=_one_tuple(shape)) < p
    return _tensor(values, device, dtype, requires_grad)


def constant(*shape, c=1.0, device=None, dtype="float32", requires_grad=False):
    """Every entry equal to ``c``."""
    return Tensor(full(_one_tuple(shape), c, device=device, dtype=dtype), requires_grad=requires_grad)


def ones(*shape, device=None, dtype="float32", requires_grad=False):
    return constant(*shape, c=1.0, device=device, dtype=dtype, requires_grad=requires_grad)


def zeros(*shape, device=None, dtype="float32", requires_grad=False):
    return constant(*shape, c=0.0, device=device, dtype=dtype, requires_grad=requires_grad)


def one_hot(n, labels, device=None, dtype="float32", requires_grad=False):
    """Row i is all zeros but a 1 in column ``labels[i]``: shape (len(labels), n).

    ``labels`` (whole numbers in range(n)) may be a list, a numpy array, an NDArray or a Tensor.
    """
    if isinstance(labels, (Tensor, NDArray)):
        labels = labels.numpy()
    labels = np.asarray(labels)
    whole = labels.astype(np.int64)
    if labels.ndim != 1 or np.any(whole != labels) or np.any((whole < 0) | (whole >= n)):
        raise ValueError(f"one_hot: labels must be a 1-D array of whole numbers in range({n}), "
                         f"got shape {labels.shape} with values {np.unique(labels)[:10]}")
    return _tensor(np.eye(n)[whole], device, dtype, requires_grad)
