"""Adagrad: each coordinate's step divided by the root of the sum of all its squared gradients."""
from .. import ops
from .optimizer import Optimizer


class Adagrad(Optimizer):
    """s <- s + g^2, then theta <- theta - lr * g / (sqrt(s) + eps).

    The sum only grows, so steps only shrink: good for sparse features, too cautious for long
    training (RMSProp replaces the sum by a running average). As ``torch.optim.Adagrad``.
    """

    HYPERPARAMETERS = ("lr", "eps", "weight_decay")

    def __init__(self, params, lr=0.01, eps=1e-10, weight_decay=0.0):
        super().__init__(params, lr=lr, eps=eps, weight_decay=weight_decay)
        self.check_setting("lr")
        self.check_setting("eps")
        self.check_setting("weight_decay")

    def update(self, param, grad, state):
        decayed = grad + self.weight_decay * param if self.weight_decay else grad
        total = state["s"] = self.buffer(state, "s", param) + decayed * decayed
        return param - self.lr * decayed / (ops.sqrt(total) + self.eps)
