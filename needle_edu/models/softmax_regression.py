"""Softmax regression in plain numpy: a linear hypothesis, the softmax cross-entropy loss, and
minibatch stochastic gradient descent.

Notebook a01 asks students to write ``softmax_loss``, ``softmax_regression_gradient`` and
``softmax_regression_epoch``; ``train_softmax_regression`` and ``error_rate`` are given and call
those three by their module-level names, so after ``needle_edu.course.install("a01", ...)`` the
training loop runs the student's code.

Shapes: m examples with n features each, k classes. ``X`` is (m, n), ``y`` holds integer labels
in ``range(k)``, shaped (m,), ``theta`` is (n, k) and the logits ``Z = X @ theta`` are (m, k).
"""
from dataclasses import dataclass, field

import numpy as np

from ..course import student_implements


@student_implements("a01")
def softmax_loss(Z, y):
    """Average softmax cross-entropy of logits ``Z`` (m, k) against integer labels ``y`` (m,).

    Each row contributes ``log(sum_j exp(z_j)) - z_y``; subtracting the row's largest logit
    first leaves the value unchanged and keeps ``exp`` from overflowing.
    """
    # BEGIN SOLUTION a01
    Z = Z - Z.max(axis=1, keepdims=True)
    log_sum_exp = np.log(np.exp(Z).sum(axis=1))
    return np.mean(log_sum_exp - Z[np.arange(len(y)), y])
    # END SOLUTION


@student_implements("a01")
def softmax_regression_gradient(X, y, theta):
    """Gradient with respect to ``theta`` of the average softmax loss of ``X @ theta`` and ``y``.

    With S the row-wise softmax of ``X @ theta`` and I_y the one-hot labels, it is
    ``X.T @ (S - I_y) / m``, shaped like ``theta`` (n, k).
    """
    # BEGIN SOLUTION a01
    Z = X @ theta
    S = np.exp(Z - Z.max(axis=1, keepdims=True))
    S /= S.sum(axis=1, keepdims=True)
    S[np.arange(len(y)), y] -= 1
    return X.T @ S / len(y)
    # END SOLUTION


@student_implements("a01")
def softmax_regression_epoch(X, y, theta, lr=0.1, batch=100):
    """One epoch of minibatch SGD on softmax regression, updating ``theta`` in place.

    The examples are taken in order, ``batch`` at a time; a last, smaller batch is used too.
    Each step moves ``theta`` by ``-lr`` times the gradient of that batch's average loss.
    """
    # BEGIN SOLUTION a01
    for start in range(0, len(y), batch):
        X_batch, y_batch = X[start:start + batch], y[start:start + batch]
        theta -= lr * softmax_regression_gradient(X_batch, y_batch, theta)
    # END SOLUTION


def error_rate(Z, y):
    """Fraction of rows of logits ``Z`` whose largest entry is not at the label ``y``."""
    return float(np.mean(Z.argmax(axis=1) != y))


@dataclass
class History:
    """What ``train_softmax_regression`` records: one entry per epoch, and the final ``theta``."""

    train_loss: list = field(default_factory=list)
    train_error: list = field(default_factory=list)
    test_loss: list = field(default_factory=list)
    test_error: list = field(default_factory=list)
    theta: np.ndarray = None


def train_softmax_regression(X_train, y_train, X_test, y_test, epochs=10, lr=0.1, batch=100):
    """Train softmax regression from ``theta = 0`` with ``epochs`` epochs of minibatch SGD.

    After each epoch the loss and error rate on both sets are recorded; returns a ``History``.
    On Fashion-MNIST the defaults reach about 84% test accuracy.
    """
    theta = np.zeros((X_train.shape[1], int(y_train.max()) + 1),
                     dtype=np.result_type(X_train.dtype, np.float32))
    history = History(theta=theta)
    for _ in range(epochs):
        softmax_regression_epoch(X_train, y_train, theta, lr=lr, batch=batch)
        for X, y, losses, errors in ((X_train, y_train, history.train_loss, history.train_error),
                                     (X_test, y_test, history.test_loss, history.test_error)):
            Z = X @ theta
            losses.append(float(softmax_loss(Z, y)))
            errors.append(error_rate(Z, y))
    return history
