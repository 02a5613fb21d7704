"""Stochastic gradient descent, with momentum (plain, unbiased or Nesterov) and weight decay."""
from ..course import student_implements
from .optimizer import Optimizer


class SGD(Optimizer):
    """theta <- theta - lr * u, where u is the gradient g, or with ``momentum`` b its running
    average u <- b u + (1 - b) g.

    This is the course's exponential-average form. PyTorch's SGD keeps the sum u' <- b u' + g
    (u' starts at g) instead, so u = (1 - b) u' at every step: ``SGD(lr=a, momentum=b)`` here
    moves exactly as ``torch.optim.SGD(lr=a * (1 - b), momentum=b)`` does, also with
    ``nesterov=True``. Options:

    - ``weight_decay`` w adds w * theta to the gradient: the gradient of an L2 penalty w/2 |theta|^2;
    - ``unbiased`` divides u by 1 - b^t at step t, undoing the average's start at zero;
    - ``nesterov`` steps along b u + (1 - b) g, the momentum evaluated one step ahead.
    """

    HYPERPARAMETERS = ("lr", "momentum", "weight_decay", "nesterov", "unbiased")

    def __init__(self, params, lr=0.01, momentum=0.0, weight_decay=0.0, nesterov=False, unbiased=False):
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                         nesterov=bool(nesterov), unbiased=bool(unbiased))
        self.check_setting("lr")
        self.check_setting("momentum", high=1.0, high_included=False)
        self.check_setting("weight_decay")
        if nesterov and momentum == 0:
            raise ValueError("SGD: nesterov=True needs a momentum > 0")

    @student_implements("a04")
    def update(self, param, grad, state):
        """The new parameter: one SGD step with this optimizer's momentum and weight decay."""
        # BEGIN SOLUTION a04
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        if not self.momentum:
            return param - self.lr * grad
        b = self.momentum
        u = state["u"] = b * self.buffer(state, "u", param) + (1 - b) * grad
        direction = b * u + (1 - b) * grad if self.nesterov else u
        if self.unbiased:
            direction = direction / (1 - b ** self.steps)
        return param - self.lr * direction
        # END SOLUTION
