"""A two-layer ReLU network in plain numpy, with its gradients worked out by hand.

Notebook a02 asks students to write ``two_layer_forward``, ``two_layer_gradients`` and
``two_layer_epoch``; ``init_two_layer_network`` and ``train_two_layer_network`` are given and
call those three by their module-level names, so after ``needle_edu.course.install("a02", ...)``
the training loop runs the student's code. The loss, the error rate and the ``History`` are a01's.

Shapes: m examples with n features each, d hidden units, k classes. ``X`` is (m, n), ``y`` holds
integer labels in ``range(k)``, shaped (m,), ``W1`` is (n, d), ``W2`` is (d, k) and the logits
``ReLU(X @ W1) @ W2`` are (m, k).
"""
import numpy as np

from ..course import student_implements
from .softmax_regression import History, error_rate, softmax_loss


@student_implements("a02")
def two_layer_forward(X, W1, W2):
    """Logits ``ReLU(X @ W1) @ W2`` (m, k) of the two-layer network for the rows of ``X``.

    ReLU, ``max(x, 0)`` taken entry by entry, is what makes the network more than linear.
    """
    # BEGIN SOLUTION a02
    return np.maximum(X @ W1, 0) @ W2
    # END SOLUTION


@student_implements("a02")
def two_layer_gradients(X, y, W1, W2):
    """Gradients ``(dW1, dW2)`` of the average softmax loss of the network's logits and ``y``.

    With H = ReLU(X W1) and G2 = (softmax(H W2) - I_y) / m: ``dW2 = H.T @ G2`` and
    ``dW1 = X.T @ ((G2 @ W2.T) * (X W1 > 0))``, shaped like ``W1`` and ``W2``.
    """
    # BEGIN SOLUTION a02
    pre_activation = X @ W1
    hidden = np.maximum(pre_activation, 0)
    logits = hidden @ W2
    G2 = np.exp(logits - logits.max(axis=1, keepdims=True))
    G2 /= G2.sum(axis=1, keepdims=True)
    G2[np.arange(len(y)), y] -= 1
    G2 /= len(y)
    G1 = (G2 @ W2.T) * (pre_activation > 0)
    return X.T @ G1, hidden.T @ G2
    # END SOLUTION


@student_implements("a02")
def two_layer_epoch(X, y, W1, W2, lr=0.1, batch=100):
    """One epoch of minibatch SGD on the two-layer network, updating ``W1`` and ``W2`` in place.

    The examples are taken in order, ``batch`` at a time, the last smaller batch included; each
    step computes both gradients first, then moves both matrices by ``-lr`` times them.
    """
    # BEGIN SOLUTION a02
    for first in range(0, len(y), batch):
        rows = slice(first, first + batch)
        dW1, dW2 = two_layer_gradients(X[rows], y[rows], W1, W2)
        W1 -= lr * dW1
        W2 -= lr * dW2
    # END SOLUTION


def init_two_layer_network(n, hidden, k, seed=0, dtype=np.float32):
    """Random ``W1`` (n, hidden) and ``W2`` (hidden, k): standard normal entries, scaled.

    ``W1`` is divided by sqrt(hidden) and ``W2`` by sqrt(k); the same ``seed`` gives the same net.
    """
    rng = np.random.default_rng(seed)
    W1 = rng.standard_normal((n, hidden)) / np.sqrt(hidden)
    W2 = rng.standard_normal((hidden, k)) / np.sqrt(k)
    return W1.astype(dtype), W2.astype(dtype)


def train_two_layer_network(X_train, y_train, X_test, y_test, hidden=128, epochs=15, lr=0.15,
                            batch=100, seed=0):
    """Train a two-layer ReLU network with ``epochs`` epochs of minibatch SGD.

    The weights start from ``init_two_layer_network(..., seed=seed)`` in the float type of
    ``X_train`` (at least float32). Returns a01's ``History``: the loss and error rate on both sets
    after each epoch, and ``theta``, which holds all the parameters, here the pair ``(W1, W2)``.
    """
    W1, W2 = init_two_layer_network(X_train.shape[1], hidden, int(y_train.max()) + 1, seed=seed,
                                    dtype=np.result_type(X_train.dtype, np.float32))
    history = History(theta=(W1, W2))
    for _ in range(epochs):
        two_layer_epoch(X_train, y_train, W1, W2, lr=lr, batch=batch)
        for X, y, losses, errors in ((X_train, y_train, history.train_loss, history.train_error),
                                     (X_test, y_test, history.test_loss, history.test_error)):
            Z = two_layer_forward(X, W1, W2)
            losses.append(float(softmax_loss(Z, y)))
            errors.append(error_rate(Z, y))
    return history
