"""Layers that map or combine: Identity, Linear, Flatten, Sequential, Residual."""
import math

from .. import init
from .module import Module, Parameter


class Identity(Module):
    """Returns its input unchanged (a placeholder where a layer is optional)."""

    def forward(self, x):
        return x


class Linear(Module):
    """y = x @ weight + bias, for x of shape (batch, in_features).

    As in needle, ``weight`` is (in_features, out_features), so the forward pass is ``x @ weight``;
    PyTorch stores the transpose, (out_features, in_features), and computes ``x @ weight.T``.
    Both are Kaiming-uniform for ReLU: weight from fan_in = in_features, bound sqrt(6 / in_features)
    (PyTorch's default bound is 1 / sqrt(in_features)); ``bias``, shaped (1, out_features), from
    fan_in = out_features, as needle does. The bias is broadcast to the batch explicitly.
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype="float32"):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(init.kaiming_uniform(in_features, out_features, device=device, dtype=dtype))
        self.bias = None
        if bias:
            column = init.kaiming_uniform(out_features, 1, device=device, dtype=dtype)
            self.bias = Parameter(column.reshape((1, out_features)))

    def forward(self, x):
        y = x @ self.weight
        return y if self.bias is None else y + self.bias.broadcast_to(y.shape)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """(batch, d1, d2, ...) to (batch, d1 * d2 * ...): one row per example."""

    def forward(self, x):
        return x.reshape((x.shape[0], math.prod(x.shape[1:])))


class Sequential(Module):
    """Apply ``layers`` in order, each to the output of the one before; ``model[i]`` is layer i."""

    def __init__(self, *layers):
        super().__init__()
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def named_children(self):
        """The layers, named by position as in PyTorch: "0", "1", ..."""
        return [(str(i), layer) for i, layer in enumerate(self.layers)]

    def __getitem__(self, index):
        return self.layers[index]

    def __len__(self):
        return len(self.layers)


class Residual(Module):
    """fn(x) + x: a skip connection, so the gradient also flows around ``fn``."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x) + x
