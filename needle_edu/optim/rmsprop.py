"""RMSProp: each coordinate's step divided by a running root-mean-square of its gradients."""
from .. import ops
from ..course import student_implements
from .optimizer import Optimizer


class RMSProp(Optimizer):
    """s <- a s + (1 - a) g^2, then theta <- theta - lr * g / (sqrt(s) + eps).

    Coordinates with large gradients take smaller steps, flat ones larger: a per-coordinate
    learning rate. Same definition as ``torch.optim.RMSprop`` (without its momentum or centering).
    """

    HYPERPARAMETERS = ("lr", "alpha", "eps", "weight_decay")

    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay)
        self.check_setting("lr")
        self.check_setting("alpha", high=1.0, high_included=False)
        self.check_setting("eps")
        self.check_setting("weight_decay")

    @student_implements("a04")
    def update(self, param, grad, state):
        """The new parameter: one RMSProp step."""
        # BEGIN SOLUTION a04
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        s = state["s"] = self.alpha * self.buffer(state, "s", param) + (1 - self.alpha) * grad ** 2
        return param - self.lr * grad / (ops.sqrt(s) + self.eps)
        # END SOLUTION
