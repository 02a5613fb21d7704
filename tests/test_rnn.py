"""Recurrent layers and Embedding against torch: outputs, final states and the gradients of every
weight, the input and the initial state; float64 tightly on ``numpy`` and ``cpu``, float32 on every
device; with and without an initial state, 1 and 2 layers, batch 1; and the clear errors.
"""
import numpy as np
import pytest
import torch
from test_conv import case, tensor  # noqa: F401  (the device/dtype fixture: float64 on numpy and cpu, float32 on all)

import needle_edu as ndl
from needle_edu import nn

def copy_cell(ours, weight_ih, weight_hh, bias_ih, bias_hh, device, dtype):
    """Give our cell torch's weights: ours is one matrix, [weight_ih; weight_hh] transposed, and one bias, their sum."""
    stacked = np.concatenate([weight_ih.detach().numpy().T, weight_hh.detach().numpy().T])
    ours.weight.data = tensor(stacked, device, dtype, False)
    ours.bias.data = tensor((bias_ih + bias_hh).detach().numpy(), device, dtype, False)


def check_weight_grads(ours, weight_ih, weight_hh, bias_ih, bias_hh, tol):
    n_in = weight_ih.shape[1]
    np.testing.assert_allclose(ours.weight.grad.numpy()[:n_in], weight_ih.grad.numpy().T, **tol)
    np.testing.assert_allclose(ours.weight.grad.numpy()[n_in:], weight_hh.grad.numpy().T, **tol)
    np.testing.assert_allclose(ours.bias.grad.numpy(), bias_ih.grad.numpy(), **tol)
    np.testing.assert_allclose(bias_hh.grad.numpy(), bias_ih.grad.numpy(), rtol=1e-12)  # torch's two biases act alike


def layer_weights(reference, layer):
    return [getattr(reference, f"{name}_l{layer}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


@pytest.mark.parametrize("kind", ["lstm", "rnn-tanh", "rnn-relu"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("batch", [1, 3])
def test_sequence_layer_matches_torch(case, kind, layers, with_state, batch):
    device, dtype, tol = case
    T, inputs, hidden = 5, 4, 3
    rng = np.random.default_rng(layers * 10 + batch)
    torch.manual_seed(layers + batch)
    if kind == "lstm":
        reference = torch.nn.LSTM(inputs, hidden, num_layers=layers).double()
        ours = nn.LSTM(inputs, hidden, num_layers=layers, device=device, dtype=dtype)
    else:
        nonlinearity = kind.split("-")[1]
        reference = torch.nn.RNN(inputs, hidden, num_layers=layers, nonlinearity=nonlinearity).double()
        ours = nn.RNN(inputs, hidden, num_layers=layers, nonlinearity=nonlinearity, device=device, dtype=dtype)
    for layer in range(layers):
        copy_cell(ours.cells[layer], *layer_weights(reference, layer), device, dtype)
    x = rng.standard_normal((T, batch, inputs))
    states = [rng.standard_normal((layers, batch, hidden)) for _ in range(2 if kind == "lstm" else 1)]
    x_t = torch.tensor(x, requires_grad=True)
    states_t = [torch.tensor(s, requires_grad=True) for s in states]
    x_n = tensor(x, device, dtype)
    states_n = [tensor(s, device, dtype) for s in states]
    if kind == "lstm":
        out_t, (h_t, c_t) = reference(x_t, tuple(states_t) if with_state else None)
        out_n, (h_n, c_n) = ours(x_n, tuple(states_n) if with_state else None)
        finals = [(h_n, h_t), (c_n, c_t)]
    else:
        out_t, h_t = reference(x_t, states_t[0] if with_state else None)
        out_n, h_n = ours(x_n, states_n[0] if with_state else None)
        finals = [(h_n, h_t)]
    np.testing.assert_allclose(out_n.numpy(), out_t.detach().numpy(), **tol)
    for found, want in finals:
        assert found.shape == (layers, batch, hidden)
        np.testing.assert_allclose(found.numpy(), want.detach().numpy(), **tol)
    # One scalar that depends on every output: the outputs and the final states, weighted.
    weights = [rng.standard_normal(out_t.shape)] + [rng.standard_normal(w.shape) for _, w in finals]
    loss_t = (out_t * torch.tensor(weights[0])).sum() + sum((w * torch.tensor(g)).sum()
                                                         for (_, w), g in zip(finals, weights[1:]))
    loss_t.backward()
    loss_n = (out_n * tensor(weights[0], device, dtype, False)).sum()
    for (found, _), g in zip(finals, weights[1:]):
        loss_n = loss_n + (found * tensor(g, device, dtype, False)).sum()
    loss_n.backward()
    np.testing.assert_allclose(x_n.grad.numpy(), x_t.grad.numpy(), **tol)
    if with_state:
        for found, want in zip(states_n, states_t):
            np.testing.assert_allclose(found.grad.numpy(), want.grad.numpy(), **tol)
    for layer in range(layers):
        check_weight_grads(ours.cells[layer], *layer_weights(reference, layer), tol)


@pytest.mark.parametrize("with_state", [False, True])
def test_cells_match_torch(case, with_state):
    device, dtype, tol = case
    rng = np.random.default_rng(1)
    batch, inputs, hidden = 2, 5, 4
    x = rng.standard_normal((batch, inputs))
    h, c = rng.standard_normal((batch, hidden)), rng.standard_normal((batch, hidden))
    torch.manual_seed(0)
    for reference, ours in [(torch.nn.LSTMCell(inputs, hidden).double(), nn.LSTMCell(inputs, hidden, device=device, dtype=dtype)),
                            (torch.nn.RNNCell(inputs, hidden).double(), nn.RNNCell(inputs, hidden, device=device, dtype=dtype))]:
        copy_cell(ours, reference.weight_ih, reference.weight_hh, reference.bias_ih, reference.bias_hh, device, dtype)
        lstm = isinstance(ours, nn.LSTMCell)
        x_t, h_t, c_t = (torch.tensor(a, requires_grad=True) for a in (x, h, c))
        x_n, h_n, c_n = (tensor(a, device, dtype) for a in (x, h, c))
        state_t = ((h_t, c_t) if lstm else h_t) if with_state else None
        state_n = ((h_n, c_n) if lstm else h_n) if with_state else None
        found, want = ours(x_n, state_n), reference(x_t, state_t)
        found, want = (found if lstm else (found,)), (want if lstm else (want,))
        g = [rng.standard_normal((batch, hidden)) for _ in found]
        sum((w * torch.tensor(gi)).sum() for w, gi in zip(want, g)).backward()
        total = None
        for f, gi in zip(found, g):
            term = (f * tensor(gi, device, dtype, False)).sum()
            total = term if total is None else total + term
        total.backward()
        for f, w in zip(found, want):
            np.testing.assert_allclose(f.numpy(), w.detach().numpy(), **tol)
        np.testing.assert_allclose(x_n.grad.numpy(), x_t.grad.numpy(), **tol)
        if with_state:
            np.testing.assert_allclose(h_n.grad.numpy(), h_t.grad.numpy(), **tol)
        check_weight_grads(ours, reference.weight_ih, reference.weight_hh, reference.bias_ih, reference.bias_hh, tol)


def test_no_bias_and_parameter_shapes_and_init():
    ndl.init.manual_seed(0)
    lstm = nn.LSTM(10, 400, num_layers=2, bias=False, device="numpy", dtype="float64")
    assert [tuple(p.shape) for p in lstm.parameters()] == [(410, 1600), (800, 1600)]
    values = lstm.cells[1].weight.numpy()
    bound = 1 / np.sqrt(400)
    assert np.abs(values).max() <= bound and np.abs(values).max() > 0.99 * bound  # uniform on +-1/sqrt(hidden)
    out, (h, c) = lstm(tensor(np.ones((3, 2, 10)), "numpy", "float64"))
    assert out.shape == (3, 2, 400) and h.shape == c.shape == (2, 2, 400)
    np.testing.assert_allclose(out.numpy()[-1], h.numpy()[-1])  # the last output is the top layer's final h


def test_embedding_matches_torch():
    rng = np.random.default_rng(2)
    table = rng.standard_normal((7, 3))
    ids = np.array([[0, 6, 2], [2, 2, 5]])
    reference = torch.nn.Embedding(7, 3).double()
    reference.weight.data = torch.tensor(table)
    ours = nn.Embedding(7, 3, device="cpu", dtype="float64")
    ours.weight.data = tensor(table, "cpu", "float64", False)
    found = ours(tensor(ids, "cpu", "float64", False))
    want = reference(torch.tensor(ids))
    np.testing.assert_allclose(found.numpy(), want.detach().numpy(), rtol=1e-15)
    g = rng.standard_normal((2, 3, 3))
    (want * torch.tensor(g)).sum().backward()
    (found * tensor(g, "cpu", "float64", False)).sum().backward()
    np.testing.assert_allclose(ours.weight.grad.numpy(), reference.weight.grad.numpy(), rtol=1e-12, atol=1e-15)
    assert nn.Embedding(4, 2).weight.shape == (4, 2)


def test_bad_input_gets_clear_errors():
    lstm = nn.LSTM(4, 3, num_layers=2, device="numpy")
    x = ndl.Tensor(np.zeros((5, 2, 4), "float32"), device="numpy")
    with pytest.raises(ValueError, match=r"LSTM: expected a sequence \(T, batch, 4\).*\(2, 4\)"):
        lstm(ndl.Tensor(np.zeros((2, 4), "float32"), device="numpy"))
    with pytest.raises(ValueError, match=r"LSTM: expected an initial state \(2, 2, 3\).*\(1, 2, 3\)"):
        state = ndl.Tensor(np.zeros((1, 2, 3), "float32"), device="numpy")
        lstm(x, (state, state))
    with pytest.raises(TypeError, match="LSTM: the initial state is a pair"):
        lstm(x, ndl.Tensor(np.zeros((2, 2, 3), "float32"), device="numpy"))
    with pytest.raises(ValueError, match=r"RNNCell: expected an input \(batch, 4\)"):
        nn.RNNCell(4, 3)(ndl.Tensor(np.zeros((2, 5), "float32")))
    with pytest.raises(ValueError, match=r"LSTMCell: expected a state \(2, 3\)"):
        h = ndl.Tensor(np.zeros((2, 4), "float32"))
        nn.LSTMCell(4, 3)(ndl.Tensor(np.zeros((2, 4), "float32")), (h, h))
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        nn.RNN(4, 3, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"Embedding: ids must be whole numbers in range\(3\)"):
        nn.Embedding(3, 2)(ndl.Tensor(np.array([[0.0, 3.0]])))
