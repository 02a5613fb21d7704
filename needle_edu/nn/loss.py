"""Losses: a scalar Tensor that measures how wrong a batch of predictions is."""
from .. import init, ops
from ..course import student_implements
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


class GANLoss(Module):
    """A discriminator's loss: binary cross-entropy of its ``logits`` against one label for the
    whole batch, real (``target_is_real``) or generated, averaged over every element.

    -log sigmoid(l) = softplus(-l) for real, -log(1 - sigmoid(l)) = softplus(l) for generated,
    with softplus(x) = log(1 + e^x) = logsumexp(0, x), exact for logits of any size. The
    generator's *non-saturating* loss is the same module asked to call its samples real.
    (PyTorch: ``BCEWithLogitsLoss`` against a tensor of ones or zeros.)
    """

    @student_implements("a09")
    def forward(self, logits, target_is_real):
        # BEGIN SOLUTION a09
        signed = -logits if target_is_real else logits
        zeros = init.zeros(*signed.shape, device=signed.device, dtype=signed.dtype)
        softplus = ops.logsumexp(ops.stack([zeros, signed], axis=signed.ndim), axes=signed.ndim)
        return softplus.sum() / softplus.size
        # END SOLUTION
