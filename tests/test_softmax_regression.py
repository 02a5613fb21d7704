"""Softmax regression (needle_edu.models.softmax_regression), its figures (needle_edu.viz) and the source
notebook of assignment a01.

The library is checked against numpy written here, never against itself; the notebook is checked
as nbgrader will see it (valid metadata, hidden tests present) and run top to bottom.
"""
import warnings
from pathlib import Path

import numpy as np
import pytest
from assignment_checks import (assert_silent, check_nbgrader_source, counting_calls, printed_accuracy,
                               read_source, run_source)
from matplotlib.figure import Figure

from needle_edu import course
from needle_edu.models import softmax_regression as sr
from needle_edu.data import FASHION_MNIST_CLASSES
from needle_edu.viz import plot_training_curves, plot_weight_images

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "a01_softmax_regression" / "a01_softmax_regression.md"
PIECES = ["softmax_loss", "softmax_regression_epoch", "softmax_regression_gradient"]


# ------------------------------------------------------------------ independent references

def reference_loss(Z, y):
    Z = np.asarray(Z, dtype=np.float64)
    log_probabilities = Z - Z.max(axis=1, keepdims=True)
    log_probabilities -= np.log(np.exp(log_probabilities).sum(axis=1, keepdims=True))
    return -np.mean(log_probabilities[np.arange(len(y)), y])


def reference_gradient(X, y, theta):
    Z = np.asarray(X, dtype=np.float64) @ theta
    probabilities = np.exp(Z - Z.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return X.T @ (probabilities - np.eye(theta.shape[1])[y]) / len(y)


def reference_epoch(X, y, theta, lr, batch):
    theta = np.array(theta, dtype=np.float64)
    for first in range(0, len(y), batch):
        rows = slice(first, first + batch)
        theta -= lr * reference_gradient(X[rows], y[rows], theta)
    return theta


def random_problem(rng, m, n, k):
    return rng.standard_normal((m, n)), rng.integers(0, k, size=m), rng.standard_normal((n, k))


# ------------------------------------------------------------------ the three marked functions

@pytest.mark.parametrize("m, k", [(1, 2), (5, 3), (64, 10)])
def test_softmax_loss_matches_reference(rng, m, k):
    Z, y = 4 * rng.standard_normal((m, k)), rng.integers(0, k, size=m)
    assert np.ndim(sr.softmax_loss(Z, y)) == 0
    np.testing.assert_allclose(sr.softmax_loss(Z, y), reference_loss(Z, y), rtol=1e-12)


def test_softmax_loss_hand_computed_values():
    assert np.isclose(sr.softmax_loss(np.zeros((3, 4)), np.array([0, 1, 3])), np.log(4))
    Z = np.log(np.array([[1.0, 3.0]]))
    assert np.isclose(sr.softmax_loss(Z, np.array([1])), -np.log(0.75))


def test_softmax_loss_is_stable_for_large_logits(rng):
    Z = 3000 * rng.standard_normal((20, 10)) + 1e5
    y = rng.integers(0, 10, size=20).astype(np.uint8)
    with warnings.catch_warnings(), np.errstate(all="raise", under="ignore"):
        warnings.simplefilter("error")
        value = sr.softmax_loss(Z, y)
    np.testing.assert_allclose(value, reference_loss(Z, y), rtol=1e-12)


@pytest.mark.parametrize("m, n, k", [(1, 3, 2), (10, 5, 4), (50, 784, 10)])
def test_gradient_matches_reference_and_leaves_inputs_alone(rng, m, n, k):
    X, y, theta = random_problem(rng, m, n, k)
    X_before, theta_before = X.copy(), theta.copy()
    gradient = sr.softmax_regression_gradient(X, y, theta)
    assert gradient.shape == theta.shape
    np.testing.assert_allclose(gradient, reference_gradient(X, y, theta), rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(theta, theta_before)


def test_gradient_matches_finite_differences(rng):
    X, y, theta = random_problem(rng, 12, 6, 4)
    eps = 1e-6
    numerical = np.empty_like(theta)
    for index in np.ndindex(*theta.shape):
        step = np.zeros_like(theta)
        step[index] = eps
        numerical[index] = (reference_loss(X @ (theta + step), y)
                            - reference_loss(X @ (theta - step), y)) / (2 * eps)
    np.testing.assert_allclose(sr.softmax_regression_gradient(X, y, theta), numerical,
                               rtol=1e-6, atol=1e-9)


def test_gradient_is_stable_for_large_weights(rng):
    X, y, theta = random_problem(rng, 30, 8, 5)
    with warnings.catch_warnings(), np.errstate(all="raise", under="ignore"):
        warnings.simplefilter("error")
        gradient = sr.softmax_regression_gradient(X, y, 500 * theta)
    np.testing.assert_allclose(gradient, reference_gradient(X, y, 500 * theta),
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("m, batch", [(53, 10), (40, 10), (7, 1), (5, 100)])
def test_epoch_updates_theta_in_place_including_the_last_partial_batch(rng, m, batch):
    X, y, theta = random_problem(rng, m, 6, 3)
    expected = reference_epoch(X, y, theta, 0.3, batch)
    caller_theta = theta
    assert sr.softmax_regression_epoch(X, y, theta, lr=0.3, batch=batch) is None
    assert theta is caller_theta
    np.testing.assert_allclose(theta, expected, rtol=1e-10, atol=1e-12)


def test_epoch_keeps_a_float32_theta_float32(rng):
    X = rng.random((30, 20)).astype(np.float32)
    y = rng.integers(0, 10, size=30).astype(np.uint8)
    theta = np.zeros((20, 10), dtype=np.float32)
    sr.softmax_regression_epoch(X, y, theta, lr=0.1, batch=8)
    assert theta.dtype == np.float32
    expected = reference_epoch(X, y, np.zeros((20, 10)), lr=0.1, batch=8)
    np.testing.assert_allclose(theta, expected, rtol=1e-4, atol=1e-6)


def test_error_rate():
    Z = np.array([[0.0, 1.0], [2.0, 1.0], [0.0, 5.0], [3.0, 0.0]])
    assert sr.error_rate(Z, np.array([1, 0, 0, 1])) == 0.5


# ------------------------------------------------------------------ install() and training

def test_a01_pieces_are_the_three_functions():
    assert course.pieces("a01") == PIECES


def test_training_runs_the_installed_functions():
    """train_softmax_regression looks its pieces up by module-level name, so install() works."""
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((30, 4)), rng.integers(0, 3, size=30)
    with counting_calls(sr, "a01", PIECES) as calls:
        history = sr.train_softmax_regression(X, y, X[:10], y[:10], epochs=2, lr=0.1, batch=8)
    assert calls.count("softmax_regression_epoch") == 2
    assert calls.count("softmax_regression_gradient") == 2 * 4
    assert calls.count("softmax_loss") == 2 * 2
    assert len(history.train_loss) == len(history.test_error) == 2
    assert history.theta.shape == (4, 3)


def test_training_on_fashion_mnist_reaches_83_percent(fashion_mnist):
    X_train, y_train, X_test, y_test = fashion_mnist
    # The documented configuration: the defaults, 10 epochs, lr 0.1, batches of 100.
    history = sr.train_softmax_regression(X_train, y_train, X_test, y_test)
    assert len(history.test_error) == 10
    accuracy = np.mean((X_test @ history.theta).argmax(axis=1) == y_test)
    assert accuracy >= 0.83
    assert np.isclose(1 - history.test_error[-1], accuracy)
    assert history.train_loss[-1] < history.train_loss[0] < np.log(10)


# ------------------------------------------------------------------ figures

def small_history(epochs=4):
    rng = np.random.default_rng(5)
    history = sr.History(theta=rng.standard_normal((784, 10)))
    for series in (history.train_loss, history.train_error, history.test_loss, history.test_error):
        series.extend(rng.random(epochs))
    return history


@pytest.mark.parametrize("as_dict", [False, True])
def test_training_curves_show_train_and_test_per_epoch(as_dict):
    history = small_history()
    fig = plot_training_curves(vars(history) if as_dict else history, title="curves")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    for ax, name in zip(fig.axes, ("loss", "error")):
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert set(lines) == {"train", "test"}
        for split, line in lines.items():
            np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3, 4])
            np.testing.assert_array_equal(line.get_ydata(), getattr(history, f"{split}_{name}"))


def test_weight_images_are_the_ten_columns_with_class_names():
    theta = small_history().theta
    fig = plot_weight_images(theta, FASHION_MNIST_CLASSES)
    assert isinstance(fig, Figure)
    shown = [ax for ax in fig.axes if ax.get_images()]
    assert len(shown) == 10
    assert [ax.get_title() for ax in shown] == list(FASHION_MNIST_CLASSES)
    for j, ax in enumerate(shown):
        np.testing.assert_array_equal(ax.get_images()[0].get_array(), theta[:, j].reshape(28, 28))


def test_viz_writes_nothing_to_stderr():
    assert_silent("""
        import io
        import numpy as np
        from needle_edu.viz import plot_training_curves, plot_weight_images
        names = ("train_loss", "test_loss", "train_error", "test_error")
        plot_training_curves({name: [0.5, 0.4] for name in names}).savefig(io.BytesIO())
        plot_weight_images(np.zeros((784, 10)), list("abcdefghij")).savefig(io.BytesIO())
    """)


# ------------------------------------------------------------------ the source notebook

@pytest.fixture(scope="module")
def notebook():
    return read_source(NOTEBOOK)


def test_notebook_is_a_valid_nbgrader_source(notebook):
    check_nbgrader_source(notebook, PIECES, hidden_cells=3, total=40)


@pytest.mark.slow
def test_notebook_runs_top_to_bottom_without_stderr(notebook, fashion_mnist, tmp_path):
    printed, images = run_source(notebook, tmp_path)
    accuracy = printed_accuracy(printed)
    assert accuracy >= 0.83
    assert images == 3  # the data samples, the training curves, the weight images
