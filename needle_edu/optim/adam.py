"""Adam (momentum and RMSProp together, bias-corrected) and AdamW (with decoupled weight decay)."""
from .. import ops
from ..course import student_implements
from .optimizer import Optimizer


class Adam(Optimizer):
    """m <- b1 m + (1 - b1) g and v <- b2 v + (1 - b2) g^2; with ``bias_correction``
    m^ = m / (1 - b1^t), v^ = v / (1 - b2^t); then theta <- theta - lr * m^ / (sqrt(v^) + eps).

    ``weight_decay`` w adds w * theta to the gradient (an L2 penalty), as ``torch.optim.Adam``
    does; the adaptive division then shrinks that decay too, which is why AdamW exists.
    """

    HYPERPARAMETERS = ("lr", "beta1", "beta2", "eps", "weight_decay", "bias_correction")
    decoupled_weight_decay = False

    def __init__(self, params, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                 bias_correction=True):
        super().__init__(params, lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                         bias_correction=bool(bias_correction))
        self.check_setting("lr")
        self.check_setting("beta1", high=1.0, high_included=False)
        self.check_setting("beta2", high=1.0, high_included=False)
        self.check_setting("eps")
        self.check_setting("weight_decay")

    @student_implements("a04")
    def update(self, param, grad, state):
        """The new parameter: one Adam step (AdamW when ``self.decoupled_weight_decay``)."""
        # BEGIN SOLUTION a04
        if self.decoupled_weight_decay:
            param = param * (1 - self.lr * self.weight_decay)
        elif self.weight_decay:
            grad = grad + self.weight_decay * param
        m = state["m"] = self.beta1 * self.buffer(state, "m", param) + (1 - self.beta1) * grad
        v = state["v"] = self.beta2 * self.buffer(state, "v", param) + (1 - self.beta2) * grad ** 2
        if self.bias_correction:
            m = m / (1 - self.beta1 ** self.steps)
            v = v / (1 - self.beta2 ** self.steps)
        return param - self.lr * m / (ops.sqrt(v) + self.eps)
        # END SOLUTION


class AdamW(Adam):
    """Adam with decoupled weight decay: theta <- theta (1 - lr w) before the Adam step, so
    every weight decays at the same rate, whatever its gradient history (``torch.optim.AdamW``)."""

    decoupled_weight_decay = True

    def __init__(self, params, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01,
                 bias_correction=True):
        super().__init__(params, lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                         bias_correction=bias_correction)
