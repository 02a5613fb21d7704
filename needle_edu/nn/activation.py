"""Elementwise nonlinearities as modules, so they can be layers of a Sequential."""
import math

from .. import ops
from .module import Module


class ReLU(Module):
    """max(x, 0)."""

    def forward(self, x):
        return ops.relu(x)


class Tanh(Module):
    """tanh(x), in (-1, 1)."""

    def forward(self, x):
        return ops.tanh(x)


class Sigmoid(Module):
    """1 / (1 + exp(-x)), in (0, 1)."""

    def forward(self, x):
        return ops.sigmoid(x)


class LeakyReLU(Module):
    """x for x > 0, ``negative_slope`` * x otherwise: a unit that is never quite off, so some
    gradient always flows (GAN discriminators use it)."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return ops.relu(x) - self.negative_slope * ops.relu(-x)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class GELU(Module):
    """x * Phi(x), Phi the normal distribution function: a smooth ReLU, used in Transformers.
    Computed with the tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as
    PyTorch's GELU(approximate="tanh")."""

    def forward(self, x):
        inner = (x + x * x * x * 0.044715) * math.sqrt(2 / math.pi)
        return x * (ops.tanh(inner) + 1) * 0.5
