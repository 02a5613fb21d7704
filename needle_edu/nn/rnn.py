"""Recurrent layers in the TNC layout: a sequence is (T, N, features), time first.

A cell maps one time step's input and the previous state to the next state. A layer runs its
cell along the sequence (``ops.split`` over time, ``ops.stack`` of the outputs) and stacks layers:
each layer's outputs are the next one's inputs. Autograd then differentiates through time (BPTT).
A cell keeps one ``weight`` (input_size + hidden_size, gates * hidden_size) and one ``bias``: a step
multiplies the input and the state side by side, ``concat([x, h]) @ weight``, one matrix product for
all gates. PyTorch keeps the two blocks apart, ``weight_ih`` and ``weight_hh`` (transposed, as in
``Linear``), and two biases whose sum is ours; ``weight[:input_size]`` is ``weight_ih.T``. All are
uniform on +-1/sqrt(hidden_size), as in PyTorch.
"""
import math

from .. import init, ops
from ..course import student_implements
from .module import Module, Parameter

NONLINEARITIES = {"tanh": ops.tanh, "relu": ops.relu}


def _uniform(shape, hidden_size, device, dtype):
    bound = 1 / math.sqrt(hidden_size)
    return Parameter(init.uniform(shape=shape, low=-bound, high=bound, device=device, dtype=dtype))


class _Cell(Module):
    """The parameters of a cell with ``gates`` blocks of hidden_size outputs (1 for an RNN, 4 for an LSTM)."""

    def __init__(self, input_size, hidden_size, gates, bias, device, dtype):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        width = gates * hidden_size
        self.weight = _uniform((input_size + hidden_size, width), hidden_size, device, dtype)
        self.bias = _uniform((width,), hidden_size, device, dtype) if bias else None

    def check_step(self, x, states):
        """A ValueError naming the cell unless x is (N, input_size) and each state (N, hidden_size)."""
        name = type(self).__name__
        if x.ndim != 2 or x.shape[1] != self.input_size:
            raise ValueError(f"{name}: expected an input (batch, {self.input_size}), got shape {x.shape}")
        for state in states:
            if state is not None and state.shape != (x.shape[0], self.hidden_size):
                raise ValueError(f"{name}: expected a state ({x.shape[0]}, {self.hidden_size}) for an input "
                                 f"of shape {x.shape}, got shape {state.shape}")
            if state is not None and (state.dtype, state.device) != (x.dtype, x.device):
                raise TypeError(f"{name}: the state is {state.dtype} on {state.device.name}, the input "
                                f"{x.dtype} on {x.device.name}")

    def zeros(self, x):
        """A zero state for the batch of ``x``."""
        return init.zeros(x.shape[0], self.hidden_size, device=x.device, dtype=x.dtype)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias is not None}"


class RNNCell(_Cell):
    """An Elman RNN step: h' = f(concat([x, h]) @ weight + bias), f tanh or relu.

    ``cell(x, h=None)``: x (N, input_size), h (N, hidden_size), zeros when None; returns h'.
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype="float32"):
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, 1, bias, device, dtype)
        self.nonlinearity = nonlinearity

    @student_implements("a07")
    def forward(self, x, h=None):
        self.check_step(x, [h])
        # BEGIN SOLUTION a07
        if h is None:
            h = self.zeros(x)
        z = ops.concat([x, h], axis=1) @ self.weight
        if self.bias is not None:
            z = z + self.bias.reshape((1, self.hidden_size)).broadcast_to(z.shape)
        return NONLINEARITIES[self.nonlinearity](z)
        # END SOLUTION

    def extra_repr(self):
        return f"{super().extra_repr()}, nonlinearity={self.nonlinearity!r}"


class LSTMCell(_Cell):
    """A long short-term memory step: state (h, c), four gates from one product per input.

    gates = concat([x, h]) @ weight + bias, cut into i, f, g, o (PyTorch's order);
    c' = sigmoid(f) * c + sigmoid(i) * tanh(g) and h' = sigmoid(o) * tanh(c').
    ``cell(x, state=None)``: state (h, c), zeros when None; returns (h', c').
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype="float32"):
        super().__init__(input_size, hidden_size, 4, bias, device, dtype)

    @student_implements("a07")
    def forward(self, x, state=None):
        h, c = (None, None) if state is None else state
        self.check_step(x, [h, c])
        # BEGIN SOLUTION a07
        h = self.zeros(x) if h is None else h
        c = self.zeros(x) if c is None else c
        batch, hidden = h.shape
        gates = ops.concat([x, h], axis=1) @ self.weight
        if self.bias is not None:
            gates = gates + self.bias.reshape((1, 4 * hidden)).broadcast_to(gates.shape)
        i, f, g, o = ops.split(gates.reshape((batch, 4, hidden)), axis=1)
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        return ops.sigmoid(o) * ops.tanh(c), c
        # END SOLUTION


@student_implements("a07")
def run_layers(cells, X, states):
    """Run stacked ``cells`` along the sequence X (T, N, input): layer l starts from ``states[l]``
    (None: zeros) and its outputs h_1..h_T are the inputs of layer l+1.

    Returns the last layer's outputs stacked (T, N, hidden) and each layer's final state, a list.
    A cell's state is what it returns: h for an RNNCell, (h, c) for an LSTMCell, whose output is h.
    """
    # BEGIN SOLUTION a07
    inputs = ops.split(X, axis=0)
    finals = []
    for cell, state in zip(cells, states):
        outputs = []
        for x in inputs:  # one time step after another
            state = cell(x, state)
            outputs.append(state[0] if isinstance(state, tuple) else state)
        finals.append(state)
        inputs = outputs
    return ops.stack(outputs, axis=0), finals
    # END SOLUTION


class _Recurrent(Module):
    """Shared by RNN and LSTM: ``num_layers`` cells, the first from input_size, the others from hidden_size."""

    def __init__(self, make_cell, input_size, hidden_size, num_layers):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"{type(self).__name__}: num_layers must be >= 1, got {num_layers}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.cells = [make_cell(input_size if layer == 0 else hidden_size) for layer in range(num_layers)]

    def check_sequence(self, X, states):
        """A ValueError naming the layer unless X is (T, N, input_size) and each state (layers, N, hidden)."""
        name = type(self).__name__
        if X.ndim != 3 or X.shape[2] != self.input_size or X.shape[0] == 0:
            raise ValueError(f"{name}: expected a sequence (T, batch, {self.input_size}) with T >= 1 (time "
                             f"first), got shape {X.shape}")
        want = (self.num_layers, X.shape[1], self.hidden_size)
        for state in states:
            if state is not None and state.shape != want:
                raise ValueError(f"{name}: expected an initial state {want} (layers, batch, hidden) for an "
                                 f"input of shape {X.shape}, got shape {state.shape}")

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"


class RNN(_Recurrent):
    """A stack of ``num_layers`` RNNCells run along a sequence.

    ``rnn(X, h0=None)``: X (T, N, input_size), h0 (num_layers, N, hidden_size), zeros when None.
    Returns (output, h_n): the last layer's h at every step (T, N, hidden_size) and every
    layer's last h (num_layers, N, hidden_size).
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, nonlinearity="tanh", device=None,
                 dtype="float32"):
        super().__init__(lambda n_in: RNNCell(n_in, hidden_size, bias, nonlinearity, device, dtype),
                         input_size, hidden_size, num_layers)

    def forward(self, X, h0=None):
        self.check_sequence(X, [h0])
        states = [None] * self.num_layers if h0 is None else list(ops.split(h0, axis=0))
        output, finals = run_layers(self.cells, X, states)
        return output, ops.stack(finals, axis=0)


class LSTM(_Recurrent):
    """A stack of ``num_layers`` LSTMCells run along a sequence.

    ``lstm(X, state=None)``: X (T, N, input_size), state (h0, c0), each (num_layers, N,
    hidden_size), zeros when None. Returns (output, (h_n, c_n)): the last layer's h at every step
    (T, N, hidden_size) and every layer's last h and c (num_layers, N, hidden_size).
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, device=None, dtype="float32"):
        super().__init__(lambda n_in: LSTMCell(n_in, hidden_size, bias, device, dtype),
                         input_size, hidden_size, num_layers)

    def forward(self, X, state=None):
        if state is not None and (not isinstance(state, (tuple, list)) or len(state) != 2):
            raise TypeError("LSTM: the initial state is a pair (h0, c0) of tensors (num_layers, batch, hidden)")
        h0, c0 = (None, None) if state is None else state
        self.check_sequence(X, [h0, c0])
        states = [None] * self.num_layers if state is None else list(zip(ops.split(h0, 0), ops.split(c0, 0)))
        output, finals = run_layers(self.cells, X, states)
        return output, (ops.stack([h for h, _ in finals], axis=0), ops.stack([c for _, c in finals], axis=0))
