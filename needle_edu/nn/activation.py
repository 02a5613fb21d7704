"""Elementwise nonlinearities as modules, so they can be layers of a Sequential."""
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
