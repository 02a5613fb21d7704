"""Gradient clipping by global norm: one large gradient cannot throw the parameters far away."""
import math

from ..autograd import no_grad


def clip_grad_norm(params, max_norm):
    """Scale all gradients by max_norm / norm when their joint norm exceeds ``max_norm``.

    The norm is sqrt(sum of every squared gradient entry), over all parameters together, so the
    direction of the whole update is kept. Returns that norm, measured before clipping.
    As ``torch.nn.utils.clip_grad_norm_``: the factor is max_norm / (norm + 1e-6).
    """
    if not max_norm > 0:
        raise ValueError(f"clip_grad_norm: max_norm must be > 0, got {max_norm!r}")
    grads = [p for p in params if p.grad is not None]
    with no_grad():
        norm = math.sqrt(sum(float((p.grad.data ** 2).sum().item()) for p in grads))
        factor = max_norm / (norm + 1e-6)
        if factor < 1:
            for p in grads:
                p.grad = p.grad.data * factor
    return norm
