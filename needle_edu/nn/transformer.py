"""The Transformer: positional encodings, the pre-norm Transformer layer, and a decoder-only stack.

Attention alone ignores order (permuting the tokens permutes its outputs), so each position
adds a vector that says where it is: fixed sines and cosines, or a learned table.
"""
import numpy as np

from .. import init
from ..autograd import Tensor, no_grad
from ..course import student_implements
from .activation import GELU, ReLU
from .attention import MultiHeadAttention, causal_mask
from .dropout import Dropout
from .layers import Linear, Sequential
from .module import Module, Parameter
from .normalization import LayerNorm

ACTIVATIONS = {"relu": ReLU, "gelu": GELU}


@student_implements("a08")
def sinusoidal_encoding(length, dim):
    """(length, dim) numpy array: PE[p, 2i] = sin(p / 10000^(2i / dim)), PE[p, 2i + 1] = cos(same)."""
    # BEGIN SOLUTION a08
    angles = np.arange(length)[:, None] / 10000 ** (np.arange(0, dim, 2) / dim)[None, :]
    table = np.zeros((length, dim))
    table[:, 0::2] = np.sin(angles)
    table[:, 1::2] = np.cos(angles[:, :dim // 2])
    return table
    # END SOLUTION


def check_length(name, x, max_len):
    if x.ndim != 3 or x.shape[1] > max_len:
        raise ValueError(f"{name}: expected (batch, length <= {max_len}, dim), got shape {x.shape}")


class PositionalEncoding(Module):
    """Adds the sinusoidal encoding of each position to x (N, L, dim), then dropout; nothing to learn.
    Nearby positions get similar vectors, and a fixed offset is a rotation of each sine/cosine pair."""

    def __init__(self, dim, max_len=512, dropout=0.0, device=None, dtype="float32"):
        super().__init__()
        self.dim, self.max_len, self.device, self.dtype = dim, max_len, device, dtype
        self.dropout = Dropout(dropout)
        self._table = None  # made at the first call, so that an installed sinusoidal_encoding is used

    def table(self):
        if self._table is None:
            self._table = Tensor(sinusoidal_encoding(self.max_len, self.dim), device=self.device,
                                 dtype=self.dtype, requires_grad=False)
        return self._table

    def forward(self, x):
        check_length("PositionalEncoding", x, self.max_len)
        positions = self.table()[:x.shape[1]].reshape((1, x.shape[1], self.dim))
        return self.dropout(x + positions.broadcast_to(x.shape))

    def extra_repr(self):
        return f"{self.dim}, max_len={self.max_len}"


class LearnedPositionalEncoding(Module):
    """Adds a learned vector per position (a (max_len, dim) Parameter, N(0, 0.02) at first) to x (N, L, dim)."""

    def __init__(self, dim, max_len=512, dropout=0.0, device=None, dtype="float32"):
        super().__init__()
        self.dim, self.max_len = dim, max_len
        self.weight = Parameter(init.normal(max_len, dim, std=0.02, device=device, dtype=dtype))
        self.dropout = Dropout(dropout)

    def forward(self, x):
        check_length("LearnedPositionalEncoding", x, self.max_len)
        positions = self.weight[:x.shape[1]].reshape((1, x.shape[1], self.dim))
        return self.dropout(x + positions.broadcast_to(x.shape))

    def extra_repr(self):
        return f"{self.dim}, max_len={self.max_len}"


class TransformerLayer(Module):
    """One pre-norm Transformer layer on x (N, L, d_model):
    x + attention(norm1(x)), then x + feed_forward(norm2(x)), with dropout on each branch.

    The feed-forward network, Linear(d_model, dim_feedforward), ReLU or GELU, Linear back, acts
    on each position alone; attention is the only place where positions meet. As PyTorch's
    nn.TransformerEncoderLayer(batch_first=True, norm_first=True).
    """

    def __init__(self, d_model, num_heads, dim_feedforward=None, dropout=0.0, activation="relu",
                 device=None, dtype="float32"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"TransformerLayer: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        dim_feedforward = dim_feedforward or 4 * d_model
        self.d_model = d_model
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout, device=device, dtype=dtype)
        self.norm1 = LayerNorm(d_model, device=device, dtype=dtype)
        self.norm2 = LayerNorm(d_model, device=device, dtype=dtype)
        self.feed_forward = Sequential(Linear(d_model, dim_feedforward, device=device, dtype=dtype),
                                       ACTIVATIONS[activation](), Dropout(dropout),
                                       Linear(dim_feedforward, d_model, device=device, dtype=dtype))
        self.dropout1, self.dropout2 = Dropout(dropout), Dropout(dropout)

    def forward(self, x, attn_mask=None, key_padding_mask=None, is_causal=False):
        mask = self.self_attn.mask(x, x, attn_mask, key_padding_mask, is_causal)
        return self.block(x, mask)

    @student_implements("a08")
    def block(self, x, mask=None):
        """The layer on x (N, L, d_model) with an additive ``mask`` for self-attention."""
        # BEGIN SOLUTION a08
        normed = self.norm1(x)
        attended, _ = self.self_attn.attend(normed, normed, normed, mask)
        x = x + self.dropout1(attended)
        batch, length, dim = x.shape
        tokens = self.norm2(x).reshape((batch * length, dim))  # the feed-forward sees each position alone
        return x + self.dropout2(self.feed_forward(tokens).reshape((batch, length, dim)))
        # END SOLUTION


class Transformer(Module):
    """A decoder-only stack: ``num_layers`` TransformerLayers whose self-attention is causal
    (position i sees 0..i), then a final LayerNorm, on x (N, L, d_model)."""

    def __init__(self, d_model, num_heads, num_layers, dim_feedforward=None, dropout=0.0, activation="relu",
                 device=None, dtype="float32"):
        super().__init__()
        self.layers = [TransformerLayer(d_model, num_heads, dim_feedforward, dropout, activation, device, dtype)
                       for _ in range(num_layers)]
        self.norm = LayerNorm(d_model, device=device, dtype=dtype)

    def forward(self, x, key_padding_mask=None):
        mask = self.layers[0].self_attn.mask(x, x, key_padding_mask=key_padding_mask, is_causal=True)
        for layer in self.layers:
            x = layer.block(x, mask)
        return self.norm(x)

    def attention_weights(self, x):
        """The weights (N, H, L, L) of every layer's heads for x (N, L, d_model), as numpy arrays,
        computed without a graph (in eval mode, the weights the model uses to predict)."""
        found = []
        with no_grad():
            mask = causal_mask(x.shape[1], device=x.device, dtype=x.dtype)
            for layer in self.layers:
                normed = layer.norm1(x)
                found.append(layer.self_attn.attend(normed, normed, normed, mask)[1].numpy())
                x = layer.block(x, mask)
        return found
