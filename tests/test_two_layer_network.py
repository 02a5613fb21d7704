"""The two-layer network (needle_edu.models.two_layer_network), its hidden-unit figure and the source
notebook of assignment a02.

The library is checked against numpy written here and against finite differences, never against
itself; the notebook is checked as nbgrader will see it and run top to bottom.
"""
import warnings
from pathlib import Path

import numpy as np
import pytest
from assignment_checks import (assert_silent, check_nbgrader_source, counting_calls, printed_accuracy,
                               read_source, run_source)
from matplotlib.figure import Figure

from needle_edu import course
from needle_edu.models import two_layer_network as tln
from needle_edu.viz import plot_hidden_units

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "a02_manual_neural_network" / "a02_manual_neural_network.md"
PIECES = ["two_layer_epoch", "two_layer_forward", "two_layer_gradients"]


# ------------------------------------------------------------------ independent references

def reference_loss(X, y, W1, W2):
    logits = np.where(X @ W1 > 0, X @ W1, 0.0) @ W2
    logits = logits - logits.max(axis=1, keepdims=True)
    return np.mean(np.log(np.exp(logits).sum(axis=1)) - logits[np.arange(len(y)), y])


def reference_gradients(X, y, W1, W2):
    X, W1, W2 = (np.asarray(a, dtype=np.float64) for a in (X, W1, W2))
    active = X @ W1 > 0
    hidden = np.where(active, X @ W1, 0.0)
    logits = hidden @ W2
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    delta = (probabilities - np.eye(W2.shape[1])[y]) / len(y)
    return X.T @ (delta @ W2.T * active), hidden.T @ delta


def reference_epoch(X, y, W1, W2, lr, batch):
    W1, W2 = np.array(W1, dtype=np.float64), np.array(W2, dtype=np.float64)
    for first in range(0, len(y), batch):
        rows = slice(first, first + batch)
        dW1, dW2 = reference_gradients(X[rows], y[rows], W1, W2)
        W1, W2 = W1 - lr * dW1, W2 - lr * dW2
    return W1, W2


def random_network(rng, m, n, d, k):
    """Data (X, y) and weights (W1, W2) of a random problem, in float64."""
    return (rng.standard_normal((m, n)), rng.integers(0, k, size=m),
            rng.standard_normal((n, d)) / 2, rng.standard_normal((d, k)) / 2)


# ------------------------------------------------------------------ the three marked functions

@pytest.mark.parametrize("m, n, d, k", [(1, 3, 2, 2), (9, 5, 7, 4), (40, 784, 32, 10)])
def test_forward_matches_reference_and_leaves_inputs_alone(rng, m, n, d, k):
    X, _, W1, W2 = random_network(rng, m, n, d, k)
    before = [X.copy(), W1.copy(), W2.copy()]
    logits = tln.two_layer_forward(X, W1, W2)
    assert logits.shape == (m, k)
    np.testing.assert_allclose(logits, np.where(X @ W1 > 0, X @ W1, 0) @ W2, rtol=1e-12)
    for array, copied in zip((X, W1, W2), before):
        np.testing.assert_array_equal(array, copied)


def test_forward_of_inactive_units_is_zero_and_float32_stays_float32(rng):
    X = rng.random((4, 6)).astype(np.float32)
    W2 = rng.standard_normal((3, 2)).astype(np.float32)
    logits = tln.two_layer_forward(X, -rng.random((6, 3)).astype(np.float32), W2)
    assert logits.dtype == np.float32
    np.testing.assert_array_equal(logits, np.zeros((4, 2)))


@pytest.mark.parametrize("m, n, d, k", [(1, 4, 3, 2), (10, 6, 5, 3), (50, 784, 16, 10)])
def test_gradients_match_reference_and_leave_inputs_alone(rng, m, n, d, k):
    X, y, W1, W2 = random_network(rng, m, n, d, k)
    before = [X.copy(), W1.copy(), W2.copy()]
    dW1, dW2 = tln.two_layer_gradients(X, y, W1, W2)
    assert dW1.shape == W1.shape and dW2.shape == W2.shape
    for got, want in zip((dW1, dW2), reference_gradients(X, y, W1, W2)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)
    for array, copied in zip((X, W1, W2), before):
        np.testing.assert_array_equal(array, copied)


def test_gradients_match_finite_differences(rng):
    X, y, W1, W2 = random_network(rng, 12, 5, 6, 4)
    weights = [W1, W2]
    eps = 1e-6
    for which, gradient in enumerate(tln.two_layer_gradients(X, y, W1, W2)):
        numerical = np.empty_like(gradient)
        for index in np.ndindex(*gradient.shape):
            plus, minus = [W.copy() for W in weights], [W.copy() for W in weights]
            plus[which][index] += eps
            minus[which][index] -= eps
            difference = reference_loss(X, y, *plus) - reference_loss(X, y, *minus)
            numerical[index] = difference / (2 * eps)
        np.testing.assert_allclose(gradient, numerical, rtol=1e-6, atol=1e-9)


def test_gradients_are_stable_for_large_weights(rng):
    X, y, W1, W2 = random_network(rng, 30, 8, 6, 5)
    with warnings.catch_warnings(), np.errstate(all="raise", under="ignore"):
        warnings.simplefilter("error")
        gradients = tln.two_layer_gradients(X, y, 60 * W1, 60 * W2)
    for got, want in zip(gradients, reference_gradients(X, y, 60 * W1, 60 * W2)):
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_an_inactive_unit_gets_no_gradient(rng):
    X, y, W1, W2 = random_network(rng, 9, 5, 3, 4)
    X = np.abs(X)
    W1[:, 1] = -np.abs(W1[:, 1])  # unit 1 is inactive for every nonnegative input
    dW1, dW2 = tln.two_layer_gradients(X, y, W1, W2)
    assert np.all(dW1[:, 1] == 0) and np.all(dW2[1] == 0)


@pytest.mark.parametrize("m, batch", [(53, 10), (40, 10), (7, 1), (5, 100)])
def test_epoch_updates_both_weights_in_place_including_the_last_partial_batch(rng, m, batch):
    X, y, W1, W2 = random_network(rng, m, 6, 5, 3)
    expected = reference_epoch(X, y, W1, W2, 0.3, batch)
    callers = (W1, W2)
    assert tln.two_layer_epoch(X, y, W1, W2, lr=0.3, batch=batch) is None
    assert callers[0] is W1 and callers[1] is W2
    for got, want in zip((W1, W2), expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_epoch_keeps_float32_weights_float32(rng):
    X = rng.random((30, 20)).astype(np.float32)
    y = rng.integers(0, 10, size=30).astype(np.uint8)
    W1, W2 = tln.init_two_layer_network(20, 8, 10, seed=1)
    expected = reference_epoch(X, y, W1, W2, lr=0.1, batch=8)
    tln.two_layer_epoch(X, y, W1, W2, lr=0.1, batch=8)
    assert W1.dtype == W2.dtype == np.float32
    for got, want in zip((W1, W2), expected):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------ initialization and training

def test_initialization_is_seeded_scaled_and_typed():
    W1, W2 = tln.init_two_layer_network(784, 400, 10, seed=3)
    assert W1.shape == (784, 400) and W2.shape == (400, 10)
    assert W1.dtype == W2.dtype == np.float32
    assert np.isclose(W1.std(), 1 / np.sqrt(400), rtol=0.02)
    assert np.isclose(W2.std(), 1 / np.sqrt(10), rtol=0.1)
    again = tln.init_two_layer_network(784, 400, 10, seed=3)
    np.testing.assert_array_equal(W1, again[0])
    assert not np.array_equal(W1, tln.init_two_layer_network(784, 400, 10, seed=4)[0])


def test_a02_pieces_are_the_three_functions():
    assert course.pieces("a02") == PIECES


def test_training_runs_the_installed_functions():
    """train_two_layer_network looks its pieces up by module-level name, so install() works."""
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((30, 4)), rng.integers(0, 3, size=30)
    with counting_calls(tln, "a02", PIECES) as calls:
        history = tln.train_two_layer_network(X, y, X[:10], y[:10], hidden=5, epochs=2, batch=8)
    assert calls.count("two_layer_epoch") == 2
    assert calls.count("two_layer_gradients") == 2 * 4
    assert calls.count("two_layer_forward") == 2 * 2
    assert len(history.train_loss) == len(history.test_error) == 2
    W1, W2 = history.theta
    assert W1.shape == (4, 5) and W2.shape == (5, 3)


@pytest.mark.slow
def test_training_on_fashion_mnist_reaches_87_percent(fashion_mnist):
    X_train, y_train, X_test, y_test = fashion_mnist
    # The documented configuration: the defaults, 128 hidden units, 15 epochs, lr 0.15, batch 100.
    history = tln.train_two_layer_network(X_train, y_train, X_test, y_test)
    assert len(history.test_error) == 15
    W1, W2 = history.theta
    accuracy = np.mean((np.maximum(X_test @ W1, 0) @ W2).argmax(axis=1) == y_test)
    assert accuracy >= 0.87
    assert np.isclose(1 - history.test_error[-1], accuracy)
    assert history.train_loss[-1] < history.train_loss[0] < np.log(10)


# ------------------------------------------------------------------ figures

def test_hidden_units_are_the_first_columns_of_W1():
    W1 = np.random.default_rng(5).standard_normal((784, 30))
    fig = plot_hidden_units(W1, count=12, ncols=6)
    assert isinstance(fig, Figure)
    shown = [ax for ax in fig.axes if ax.get_images()]
    assert [ax.get_title() for ax in shown] == [f"unit {j}" for j in range(12)]
    for j, ax in enumerate(shown):
        np.testing.assert_array_equal(ax.get_images()[0].get_array(), W1[:, j].reshape(28, 28))
        assert ax.get_images()[0].get_clim() == (-np.abs(W1[:, j]).max(), np.abs(W1[:, j]).max())


def test_hidden_units_given_the_initial_weights_show_what_training_changed():
    rng = np.random.default_rng(6)
    W1, initial = rng.standard_normal((784, 4)), rng.standard_normal((784, 4))
    shown = [ax for ax in plot_hidden_units(W1, initial=initial).axes if ax.get_images()]
    assert len(shown) == 4
    for j, ax in enumerate(shown):
        np.testing.assert_array_equal(ax.get_images()[0].get_array(),
                                      (W1[:, j] - initial[:, j]).reshape(28, 28))


def test_hidden_units_shows_at_most_the_units_there_are():
    fig = plot_hidden_units(np.ones((16, 3)), count=20, image_shape=(4, 4))
    assert len([ax for ax in fig.axes if ax.get_images()]) == 3


def test_hidden_units_write_nothing_to_stderr():
    assert_silent("""
        import io
        import numpy as np
        from needle_edu.viz import plot_hidden_units
        plot_hidden_units(np.zeros((784, 20))).savefig(io.BytesIO())
    """)


# ------------------------------------------------------------------ the source notebook

@pytest.fixture(scope="module")
def notebook():
    return read_source(NOTEBOOK)


def test_notebook_is_a_valid_nbgrader_source(notebook):
    check_nbgrader_source(notebook, PIECES, hidden_cells=3, total=40)
    installs = [cell.source for cell in notebook.cells
                if 'needle_edu.course.install(\n    "a02"' in cell.source]
    assert len(installs) == 1 and all(f"{name}={name}" in installs[0] for name in PIECES)


@pytest.mark.slow
def test_notebook_runs_top_to_bottom_without_stderr(notebook, fashion_mnist, tmp_path):
    printed, images = run_source(notebook, tmp_path)
    accuracy = printed_accuracy(printed)
    assert accuracy >= 0.87
    assert images == 2  # the training curves, the hidden units
