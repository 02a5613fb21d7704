"""Initial weights scaled to a layer's size, so signals keep their scale through deep networks.

A weight of shape (fan_in, fan_out) maps fan_in inputs to fan_out outputs. Xavier (Glorot)
keeps the variance of activations and of gradients: Var(w) = gain^2 * 2 / (fan_in + fan_out).
Kaiming (He) keeps the variance of activations through ReLUs: Var(w) = gain^2 / fan_in, with
gain^2 = 2 for ReLU, which zeroes half of its inputs. A uniform on [-a, a] has variance a^2 / 3.
``shape=`` gives another shape with the same fans (a convolution kernel (k, k, c_in, c_out) has
fan_in = k * k * c_in).
"""
import math

from ..course import student_implements
from .init_basic import normal, uniform

GAINS = {"linear": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0)}


def calculate_gain(nonlinearity):
    """The gain recommended for ``nonlinearity`` (PyTorch's values): linear, sigmoid, tanh, relu."""
    if nonlinearity not in GAINS:
        raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}; "
                         f"known: {', '.join(GAINS)}")
    return GAINS[nonlinearity]


def _fans(name, fan_in, fan_out):
    for label, fan in (("fan_in", fan_in), ("fan_out", fan_out)):
        if isinstance(fan, bool) or not isinstance(fan, int) or fan < 1:
            raise ValueError(f"{name}: {label} must be a whole number >= 1, got {fan!r}")


@student_implements("a04")
def xavier_uniform(fan_in, fan_out, gain=1.0, *, shape=None, **kwargs):
    """Uniform on [-a, a], a = gain * sqrt(6 / (fan_in + fan_out)); shape (fan_in, fan_out) by default."""
    _fans("xavier_uniform", fan_in, fan_out)
    # BEGIN SOLUTION a04
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform(shape=shape or (fan_in, fan_out), low=-a, high=a, **kwargs)
    # END SOLUTION


@student_implements("a04")
def xavier_normal(fan_in, fan_out, gain=1.0, *, shape=None, **kwargs):
    """Normal with std = gain * sqrt(2 / (fan_in + fan_out))."""
    _fans("xavier_normal", fan_in, fan_out)
    # BEGIN SOLUTION a04
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return normal(shape=shape or (fan_in, fan_out), std=std, **kwargs)
    # END SOLUTION


@student_implements("a04")
def kaiming_uniform(fan_in, fan_out, nonlinearity="relu", *, shape=None, **kwargs):
    """Uniform on [-b, b], b = gain * sqrt(3 / fan_in): sqrt(6 / fan_in) for ReLU."""
    _fans("kaiming_uniform", fan_in, fan_out)
    # BEGIN SOLUTION a04
    bound = calculate_gain(nonlinearity) * math.sqrt(3.0 / fan_in)
    return uniform(shape=shape or (fan_in, fan_out), low=-bound, high=bound, **kwargs)
    # END SOLUTION


@student_implements("a04")
def kaiming_normal(fan_in, fan_out, nonlinearity="relu", *, shape=None, **kwargs):
    """Normal with std = gain / sqrt(fan_in): sqrt(2 / fan_in) for ReLU."""
    _fans("kaiming_normal", fan_in, fan_out)
    # BEGIN SOLUTION a04
    std = calculate_gain(nonlinearity) / math.sqrt(fan_in)
    return normal(shape=shape or (fan_in, fan_out), std=std, **kwargs)
    # END SOLUTION
