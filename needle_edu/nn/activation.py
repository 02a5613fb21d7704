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
