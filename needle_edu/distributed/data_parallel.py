"""``DataParallel``: one replica of the model per rank, its gradients averaged over the ranks."""
import numpy as np

from ..autograd import Tensor
from ..nn.module import Module
from .communicator import as_buffer, world


def shard(array, rank, size):
    """Rank ``rank``'s contiguous slice of ``array`` (split along axis 0 into ``size`` parts)."""
    if len(array) % size:
        raise ValueError(f"shard: a batch of {len(array)} cannot be split evenly among {size} ranks")
    part = len(array) // size
    return array[rank * part:(rank + 1) * part]


class DataParallel(Module):
    """Wrap ``module`` so that its replicas on every rank stay identical.

    At construction every rank takes rank 0's parameters; after ``loss.backward()`` call
    ``average_gradients()`` before ``optimizer.step()``. With the loss a mean over each rank's
    equal slice of the batch, the averaged gradient is the gradient of the whole batch.
    All gradients travel in one buffer, in one allreduce (as PyTorch's DDP does with buckets).
    """

    def __init__(self, module, communicator=None):
        super().__init__()
        self.module = module
        self.communicator = communicator or world()
        self._synchronize_parameters()

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def _synchronize_parameters(self):
        params = self.module.parameters()
        buffer = self.communicator.broadcast(as_buffer([p.numpy() for p in params], _dtype(params)))
        for p, value in zip(params, _pieces(buffer, params)):
            p.data = value

    def average_gradients(self):
        """Replace each parameter's ``grad`` by its average over the ranks (zeros for a missing one)."""
        params = self.module.parameters()
        grads = [np.zeros(p.shape) if p.grad is None else p.grad.numpy() for p in params]
        buffer = self.communicator.allreduce_sum(as_buffer(grads, _dtype(params)))
        for p, value in zip(params, _pieces(buffer / self.communicator.size, params)):
            p.grad = value


def _dtype(params):
    dtypes = {p.dtype for p in params}
    if len(dtypes) > 1:
        raise TypeError(f"DataParallel: the parameters have several dtypes {sorted(dtypes)}")
    return next(iter(dtypes), "float32")


def _pieces(buffer, params):
    """The flat ``buffer`` cut back into one Tensor per parameter, shaped and placed like it."""
    start = 0
    for p in params:
        yield Tensor(buffer[start:start + p.size].reshape(p.shape), device=p.device, dtype=p.dtype,
                     requires_grad=False)
        start += p.size
