"""Embedding: a learned vector for each token id, the first layer of a language model."""
import numpy as np

from .. import init
from .module import Module, Parameter


class Embedding(Module):
    """Row ``i`` of ``weight`` (num_embeddings, embedding_dim) for each token id ``i``.

    ``embedding(x)``: ids of any shape, e.g. (T, N), to vectors (T, N, embedding_dim). Looking up
    a row is a product with a one-hot row, so the gradient reaches exactly the rows used.
    ``weight`` is standard normal, as in PyTorch.
    """

    def __init__(self, num_embeddings, embedding_dim, device=None, dtype="float32"):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = Parameter(init.normal(num_embeddings, embedding_dim, device=device, dtype=dtype))

    def forward(self, x):
        ids = x.numpy() if hasattr(x, "numpy") else np.asarray(x)
        flat = ids.reshape(-1)
        if flat.size and ((flat < 0).any() or (flat >= self.num_embeddings).any() or (flat != np.round(flat)).any()):
            raise ValueError(f"Embedding: ids must be whole numbers in range({self.num_embeddings}), got values "
                             f"from {flat.min()} to {flat.max()} in shape {ids.shape}")
        one_hot = init.one_hot(self.num_embeddings, flat, device=self.weight.device, dtype=self.weight.dtype)
        return (one_hot @ self.weight).reshape(ids.shape + (self.embedding_dim,))

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"
