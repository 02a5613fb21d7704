"""Losses: a scalar Tensor that measures how wrong a batch of predictions is."""
from .. import init, ops
from .module import Module


class SoftmaxLoss(Module):
    """Mean softmax cross-entropy of ``logits`` (batch, classes) against integer ``labels`` (batch,).

    Per example it is logsumexp(z) - z_y; z_y is picked out as sum(z * one_hot(y)), which keeps
    the loss made of differentiable ops. (PyTorch calls this loss CrossEntropyLoss.)
    """

    def forward(self, logits, labels):
        batch, classes = logits.shape
        y_one_hot = init.one_hot(classes, labels, device=logits.device, dtype=logits.dtype)
        true_logits = ops.summation(logits * y_one_hot, axes=1)
        return ops.summation(ops.logsumexp(logits, axes=1) - true_logits) / batch
