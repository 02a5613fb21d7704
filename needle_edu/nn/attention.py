"""Attention: every query position takes an average of the values, weighted by how well its query
matches each key (a soft lookup); multi-head attention runs several such lookups side by side.

Masks are additive, as in PyTorch: 0 where a query may look, -inf where it may not, so the
softmax gives those keys weight exactly 0. A boolean array (True = blocked) is turned into one.
"""
import math

import numpy as np

from .. import init, ops
from ..autograd import Tensor
from ..course import student_implements
from .dropout import Dropout
from .layers import Linear
from .module import Module, Parameter


@student_implements("a08")
def causal_mask(length, device=None, dtype="float32"):
    """The (length, length) additive mask of a decoder: query i may see keys 0..i, not the future."""
    # BEGIN SOLUTION a08
    future = np.triu(np.ones((length, length), dtype=bool), k=1)  # key j > query i
    return Tensor(np.where(future, -np.inf, 0.0), device=device, dtype=dtype, requires_grad=False)
    # END SOLUTION


@student_implements("a08")
def scaled_dot_product_attention(q, k, v, mask=None, dropout=None):
    """softmax(q kᵀ / sqrt(d) + mask) v for q (..., L, d), k (..., S, d) and v (..., S, d_v).

    Returns (output (..., L, d_v), weights (..., L, S)); ``dropout`` (a Dropout module) is applied
    to the weights that multiply v, the weights returned are those before it.
    """
    # BEGIN SOLUTION a08
    scores = (q / math.sqrt(q.shape[-1])) @ ops.transpose(k)  # (..., L, S): one score per query-key pair
    if mask is not None:
        scores = scores + mask.broadcast_to(scores.shape)
    weights = ops.softmax(scores, axis=-1)
    mixed = weights if dropout is None else dropout(weights)
    return mixed @ v, weights
    # END SOLUTION


@student_implements("a08")
def split_heads(x, num_heads):
    """(N, L, D) to (N, num_heads, L, D // num_heads): head h gets features h*D/H .. (h+1)*D/H - 1."""
    # BEGIN SOLUTION a08
    batch, length, dim = x.shape
    return x.reshape((batch, length, num_heads, dim // num_heads)).permute((0, 2, 1, 3))
    # END SOLUTION


@student_implements("a08")
def merge_heads(x):
    """(N, H, L, d) back to (N, L, H * d): the inverse of split_heads."""
    # BEGIN SOLUTION a08
    batch, heads, length, head_dim = x.shape
    return x.permute((0, 2, 1, 3)).reshape((batch, length, heads * head_dim))
    # END SOLUTION


def per_token(layer, x):
    """``layer`` (a Linear, ...) applied to each position of x (N, L, D): one matrix product over
    all N * L tokens, so the weight gradient is one product too."""
    rows = layer(x.reshape((x.shape[0] * x.shape[1], x.shape[2])))
    return rows.reshape(x.shape[:2] + (rows.shape[-1],))


def as_additive_mask(mask, shape, name, like):
    """``mask`` as an additive Tensor of ``shape`` on ``like``'s device and dtype (None stays None);
    a boolean array (True = blocked) becomes -inf/0. ValueError naming ``name`` on a wrong shape."""
    if mask is None:
        return None
    if tuple(mask.shape) != tuple(shape):
        raise ValueError(f"MultiHeadAttention: {name} must have shape {tuple(shape)}, got {tuple(mask.shape)}")
    if isinstance(mask, Tensor):
        if (mask.device, mask.dtype) != (like.device, like.dtype):
            mask = Tensor(mask, device=like.device, dtype=like.dtype, requires_grad=False)
        return mask
    mask = np.asarray(mask)
    if mask.dtype == bool:
        mask = np.where(mask, -np.inf, 0.0)
    return Tensor(mask, device=like.device, dtype=like.dtype, requires_grad=False)


class MultiHeadAttention(Module):
    """Attention with ``num_heads`` heads, each on its own D / H features, as PyTorch's
    nn.MultiheadAttention(batch_first=True): inputs (N, L, D), projections q, k, v and out.

    ``forward(query, key=None, value=None, attn_mask=None, key_padding_mask=None, is_causal=False)``
    returns (output (N, L, D), weights (N, H, L, S)). Without key and value it is self-attention.
    ``attn_mask`` is (L, S), ``key_padding_mask`` (N, S) (True or -inf at padding);
    ``is_causal`` adds the causal mask. ``dropout`` drops attention weights while training.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, device=None, dtype="float32"):
        super().__init__()
        if num_heads < 1 or embed_dim % num_heads:
            raise ValueError(f"MultiHeadAttention: embed_dim {embed_dim} is not divisible by num_heads "
                             f"{num_heads}; each head gets embed_dim // num_heads features")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (
            Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype) for _ in range(4))
        for projection in (self.q_proj, self.k_proj, self.v_proj, self.out_proj):
            # Xavier-uniform weights and zero biases, as PyTorch's MultiheadAttention: Linear's
            # Kaiming start, meant for ReLU, makes the first attention weights needlessly peaked.
            projection.weight = Parameter(init.xavier_uniform(embed_dim, embed_dim, device=device, dtype=dtype))
            if bias:
                projection.bias = Parameter(init.zeros(1, embed_dim, device=device, dtype=dtype))
        self.dropout = Dropout(dropout)

    def mask(self, query, key, attn_mask=None, key_padding_mask=None, is_causal=False):
        """One additive mask that broadcasts to the weights (N, H, L, S), or None; checks the shapes."""
        for name, x in (("query", query), ("key", key)):
            if x.ndim != 3 or x.shape[-1] != self.embed_dim:
                raise ValueError(f"MultiHeadAttention: {name} must be (batch, length, {self.embed_dim}), "
                                 f"got shape {x.shape}")
        (batch, length, _), source = query.shape, key.shape[1]
        if key.shape[0] != batch:
            raise ValueError(f"MultiHeadAttention: query {query.shape} and key {key.shape} differ in batch size")
        mask = as_additive_mask(attn_mask, (length, source), "attn_mask", query)
        if is_causal:
            if length != source:
                raise ValueError(f"MultiHeadAttention: is_causal needs as many queries as keys, got "
                                 f"{length} and {source}")
            causal = causal_mask(length, device=query.device, dtype=query.dtype)
            mask = causal if mask is None else mask + causal
        padding = as_additive_mask(key_padding_mask, (batch, source), "key_padding_mask", query)
        if padding is None:
            return mask
        padding = padding.reshape((batch, 1, 1, source))  # the same keys hidden from every head and query
        if mask is None:
            return padding
        both = (batch, 1, length, source)
        return padding.broadcast_to(both) + mask.broadcast_to(both)

    def forward(self, query, key=None, value=None, attn_mask=None, key_padding_mask=None, is_causal=False):
        key = query if key is None else key
        value = key if value is None else value
        if value.shape != key.shape:
            raise ValueError(f"MultiHeadAttention: key {key.shape} and value {value.shape} differ in shape")
        mask = self.mask(query, key, attn_mask, key_padding_mask, is_causal)
        return self.attend(query, key, value, mask)

    @student_implements("a08")
    def attend(self, query, key, value, mask=None):
        """The heads' attention: project, split into heads, attend, merge the heads, project out.
        ``mask`` is additive and broadcasts to (N, H, L, S). Returns (output, weights)."""
        # BEGIN SOLUTION a08
        q, k, v = (split_heads(per_token(projection, x), self.num_heads)
                   for projection, x in ((self.q_proj, query), (self.k_proj, key), (self.v_proj, value)))
        heads, weights = scaled_dot_product_attention(q, k, v, mask, self.dropout)
        return per_token(self.out_proj, merge_heads(heads)), weights
        # END SOLUTION

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout.p}"
