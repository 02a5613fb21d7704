"""A recurrent language model: embedding, RNN or LSTM, and a linear layer to next-token logits;
its training by truncated backpropagation through time, its evaluation, and text generation.

Training walks down the (T, B) columns of ``needle_edu.data.text.batchify`` window by window
(``get_batch``). The hidden state carries over from one window to the next, so the model sees
the text as one long stream, but it is detached between windows: gradients stop at the window's
start (truncated BPTT), else every step would backpropagate through the whole text so far.
"""
import math
import time

import numpy as np

from .. import nn
from ..autograd import Tensor, no_grad
from ..course import student_implements
from ..data.text import get_batch
from ..nn.embedding import Embedding
from ..nn.rnn import LSTM, RNN
from ..optim.clip import clip_grad_norm

SEQUENCE_MODELS = {"lstm": LSTM, "rnn": RNN}


class LanguageModel(nn.Module):
    """Token ids (T, B) to next-token logits (T * B, vocab_size), and the recurrent state.

    ``model(x, state=None)`` returns ``(logits, state)``; pass the state to the next call to
    continue the text. ``seq_model`` is "lstm" or "rnn".
    """

    def __init__(self, vocab_size, embedding_size, hidden_size, num_layers=1, seq_model="lstm", device=None,
                 dtype="float32"):
        super().__init__()
        if seq_model not in SEQUENCE_MODELS:
            raise ValueError(f"LanguageModel: seq_model must be 'lstm' or 'rnn', got {seq_model!r}")
        self.vocab_size, self.hidden_size = vocab_size, hidden_size
        self.embedding = Embedding(vocab_size, embedding_size, device=device, dtype=dtype)
        self.seq_model = SEQUENCE_MODELS[seq_model](embedding_size, hidden_size, num_layers, device=device, dtype=dtype)
        self.linear = nn.Linear(hidden_size, vocab_size, device=device, dtype=dtype)

    def forward(self, x, state=None):
        output, state = self.seq_model(self.embedding(x), state)
        steps, batch, hidden = output.shape
        return self.linear(output.reshape((steps * batch, hidden))), state


def detach_state(state):
    """The state with its values kept and its graph cut: a tensor, or a tuple of them, detached."""
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


@student_implements("a07")
def train_epoch(model, batches, bptt, optimizer, clip=None, device=None, dtype="float32", max_windows=None):
    """One pass down ``batches`` (T, B) in windows of ``bptt`` steps: forward from the previous
    window's state, softmax loss, backward, gradients clipped to norm ``clip`` (when given), an
    optimizer step; the state detached between windows. Stops after ``max_windows`` windows when
    given. Returns the mean loss per token (nats)."""
    model.train()
    loss_fn = nn.SoftmaxLoss()
    # BEGIN SOLUTION a07
    state, total, tokens = None, 0.0, 0
    for window, i in enumerate(range(0, len(batches) - 1, bptt)):
        if max_windows is not None and window >= max_windows:
            break
        x, y = get_batch(batches, i, bptt, device=device, dtype=dtype)
        logits, state = model(x, detach_state(state))
        loss = loss_fn(logits, y)  # the mean over the window's L * B targets
        optimizer.zero_grad()  # this window's gradients only
        loss.backward()
        if clip is not None:
            clip_grad_norm(model.parameters(), clip)  # one joint norm for all weights
        optimizer.step()  # with the clipped gradients
        total += loss.item() * y.shape[0]
        tokens += y.shape[0]
    return total / tokens
    # END SOLUTION


def evaluate(model, batches, bptt, device=None, dtype="float32"):
    """The mean loss per token (nats) of ``model`` on ``batches`` (T, B), without gradients; its
    exponential is the perplexity."""
    model.eval()
    loss_fn = nn.SoftmaxLoss()
    state, loss_sum, count = None, 0.0, 0
    with no_grad():
        for start in range(0, len(batches) - 1, bptt):
            inputs, targets = get_batch(batches, start, bptt, device=device, dtype=dtype)
            logits, state = model(inputs, state)
            loss_sum += loss_fn(logits, targets).item() * targets.shape[0]
            count += targets.shape[0]
    return loss_sum / count


def perplexity(loss):
    """exp(mean loss per token): the number of equally likely tokens the model hesitates between."""
    return math.exp(loss)


def train(model, corpus, batch_size, bptt, optimizer, windows=None, seconds=None, clip=None, valid_tokens=None,
          windows_per_round=50, device=None, dtype="float32", log=print):
    """Train on ``corpus.train`` in rounds of ``windows_per_round`` windows, each round continuing
    down the text (and around again), until ``windows`` windows are done or ``seconds`` of training
    have passed; after each round, evaluate on the first ``valid_tokens`` of ``corpus.valid``.
    Returns the history: a dict of lists per round (seconds of training so far, windows, train
    and valid perplexity). Evaluation time is not training time."""
    if windows is None and seconds is None:
        raise ValueError("train: give windows=, seconds= or both, else it never stops")
    train_batches = _batchify(corpus.train, batch_size)
    valid = corpus.valid if valid_tokens is None else corpus.valid[:valid_tokens]
    valid_batches = _batchify(valid, batch_size)
    history = {"seconds": [], "windows": [], "train_perplexity": [], "valid_perplexity": []}
    spent, done, row = 0.0, 0, 0
    while (seconds is None or spent < seconds) and (windows is None or done < windows):
        count = windows_per_round if windows is None else min(windows_per_round, windows - done)
        start = time.perf_counter()
        chunk = train_batches[row:row + count * bptt + 1]
        loss = train_epoch(model, chunk, bptt, optimizer, clip=clip, device=device, dtype=dtype)
        spent += time.perf_counter() - start
        done += count
        row = row + count * bptt if row + (count + 1) * bptt + 1 < len(train_batches) else 0
        valid_loss = evaluate(model, valid_batches, bptt, device=device, dtype=dtype)
        for key, value in (("seconds", spent), ("windows", done), ("train_perplexity", perplexity(loss)),
                           ("valid_perplexity", perplexity(valid_loss))):
            history[key].append(value)
        if log:
            log(f"{done:5d} windows, {spent:5.0f} s: train perplexity {perplexity(loss):6.2f}, "
                f"valid {perplexity(valid_loss):6.2f}")
    return history


def _batchify(data, batch_size):
    from ..data import text  # looked up when called: a07 installs its own batchify
    return text.batchify(data, batch_size)


def generate(model, corpus, prompt, length, temperature=1.0, seed=None, device=None, dtype="float32"):
    """``prompt`` continued by ``length`` tokens sampled from the model: each from the softmax of
    the logits divided by ``temperature`` (small: the likeliest tokens; large: closer to uniform).
    ``prompt`` is text (characters) or a list of words, as the corpus is tokenized."""
    if temperature <= 0:
        raise ValueError(f"generate: temperature must be > 0, got {temperature}")
    rng = np.random.default_rng(seed)
    tokens = list(prompt) if corpus.level == "char" else (prompt.split() if isinstance(prompt, str) else list(prompt))
    ids = list(corpus.dictionary.encode(tokens))
    if not ids:
        raise ValueError("generate: the prompt must hold at least one token")
    model.eval()
    state, out = None, []
    with no_grad():
        x = ids
        for _ in range(length):
            logits, state = model(Tensor(np.array(x, dtype=np.float32).reshape(-1, 1), device=device, dtype=dtype,
                                         requires_grad=False), state)
            last = logits.numpy()[-1].astype(np.float64) / temperature
            p = np.exp(last - last.max())
            x = [int(rng.choice(len(p), p=p / p.sum()))]
            out.append(x[0])
    return corpus.decode(ids + out)
