"""A decoder-only Transformer language model: token embedding plus positional encoding, a causal
Transformer stack, and a linear layer to next-token logits.

It speaks the interface of a07's ``LanguageModel`` (token ids (T, B) in, logits (T * B, vocab)
and a state out), so ``language_model.train``, ``evaluate`` and ``generate`` run it unchanged.
Its state is no hidden vector but the last tokens it saw: the next call attends to them as
context, up to ``max_len`` positions in all (a sliding window when generating token by token).
"""
import numpy as np

from .. import nn
from ..autograd import Tensor, no_grad
from ..nn.transformer import LearnedPositionalEncoding, PositionalEncoding, Transformer

POSITIONAL = {"sinusoidal": PositionalEncoding, "learned": LearnedPositionalEncoding}


class TransformerLM(nn.Module):
    """Token ids (T, B) to next-token logits (T * B, vocab_size); ``model(x, state=None)`` returns
    ``(logits, state)``, the state being the last ``max_len - 1`` tokens, (T', B), as context."""

    def __init__(self, vocab_size, d_model=128, num_heads=4, num_layers=2, dim_feedforward=None, max_len=128,
                 dropout=0.0, activation="relu", positional="sinusoidal", device=None, dtype="float32"):
        super().__init__()
        if positional not in POSITIONAL:
            raise ValueError(f"TransformerLM: positional must be one of {sorted(POSITIONAL)}, got {positional!r}")
        self.vocab_size, self.d_model, self.max_len = vocab_size, d_model, max_len
        self.embedding = nn.Embedding(vocab_size, d_model, device=device, dtype=dtype)
        self.positional = POSITIONAL[positional](d_model, max_len, dropout=dropout, device=device, dtype=dtype)
        self.transformer = Transformer(d_model, num_heads, num_layers, dim_feedforward, dropout, activation,
                                       device=device, dtype=dtype)
        self.linear = nn.Linear(d_model, vocab_size, device=device, dtype=dtype)

    def with_context(self, x, state):
        """The ids the model attends over: the state's tokens, then x's, the last ``max_len`` of them."""
        if x.ndim != 2 or x.shape[0] > self.max_len:
            raise ValueError(f"TransformerLM: expected token ids (T <= {self.max_len}, batch), got shape {x.shape}")
        if state is None:
            return x
        ids = np.concatenate([state.numpy(), x.numpy()])[-self.max_len:]
        return Tensor(ids, device=x.device, dtype=x.dtype, requires_grad=False)

    def hidden(self, ids):
        """The final layer's output (B, T, d_model) for ids (T, B)."""
        return self.transformer(self.positional(self.embedding(ids).permute((1, 0, 2))))  # (B, T, d_model)

    def forward(self, x, state=None):
        ids = self.with_context(x, state)
        steps = x.shape[0]
        out = self.hidden(ids)[:, ids.shape[0] - steps:]  # the positions of x only
        batch = out.shape[0]
        logits = self.linear(out.permute((1, 0, 2)).reshape((steps * batch, self.d_model)))
        new_state = Tensor(ids.numpy()[-(self.max_len - 1):], device=x.device, dtype=x.dtype, requires_grad=False)
        return logits, new_state

    def attention_weights(self, ids):
        """Every layer's attention weights (B, H, T, T), numpy, for ids (T, B), in eval mode."""
        was_training = self.training
        self.eval()
        with no_grad():
            embedded = self.positional(self.embedding(ids).permute((1, 0, 2)))
        weights = self.transformer.attention_weights(embedded)
        self.train(was_training)
        return weights
