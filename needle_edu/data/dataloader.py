"""DataLoader: a dataset served as minibatches of Tensors, one epoch per ``for`` loop."""
import numpy as np

from .. import init
from ..autograd import Tensor


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size`` samples, as tuples of Tensors.

    Each epoch (each ``for batch in loader``) visits every sample exactly once: in order, or with
    ``shuffle`` in a new random order every epoch. The last, smaller batch is dropped with
    ``drop_last``. Orders come from ``seed`` (an int or a numpy Generator), or by default from
    ``needle_edu.init``'s generator, so ``init.manual_seed`` repeats them too. The batches are
    made on ``device``; ``dtype=None`` keeps float64 data float64 and makes the rest float32.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None,
                 device=None, dtype=None):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        self.dataset, self.batch_size = dataset, batch_size
        self.shuffle, self.drop_last = shuffle, drop_last
        self.generator = init.default_generator if seed is None else np.random.default_rng(seed)
        self.device, self.dtype = device, dtype

    def __len__(self):
        """The number of batches in an epoch."""
        full, rest = divmod(len(self.dataset), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self):
        size = len(self.dataset)
        order = self.generator.permutation(size) if self.shuffle else np.arange(size)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            indices = order[start:start + self.batch_size]
            yield self.collate([self.dataset[int(i)] for i in indices])

    def collate(self, samples):
        """One batch from a list of samples: a Tensor per field, stacking the samples' entries."""
        samples = [s if isinstance(s, tuple) else (s,) for s in samples]
        return tuple(Tensor(np.stack(field), device=self.device, dtype=self.dtype, requires_grad=False)
                     for field in zip(*samples))
