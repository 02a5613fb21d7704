"""Dropout: a regularizer that zeroes random entries while training."""
from .. import init
from .module import Module


class Dropout(Module):
    """In training, zero each entry with probability ``p`` and scale the kept ones by 1 / (1 - p)
    ("inverted" dropout), so every entry keeps its expected value; in eval mode, the identity.

    The mask comes from ``needle_edu.init``'s generator: ``init.manual_seed`` repeats it.
    """

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        scale = 1 / (1 - self.p) if self.p < 1 else 0.0
        keep = init.randb(*x.shape, p=1 - self.p, device=x.device, dtype=x.dtype)
        return x * (keep * scale)

    def extra_repr(self):
        return f"p={self.p}"
