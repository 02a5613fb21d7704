"""Training loops: one epoch of minibatch training, and evaluation, each returning its metrics.

A progress bar (tqdm) is shown only where someone watches, a terminal or Jupyter, and it writes
to stdout: nbgrader fails a test cell that writes anything at all to stderr.
"""
import sys
import time
import warnings
from dataclasses import dataclass

from .autograd import no_grad

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # tqdm.auto warns (on stderr) in Jupyter without ipywidgets
    from tqdm.auto import tqdm


@dataclass
class Metrics:
    """What one pass over a data set measured: the loss and accuracy averaged over its samples,
    how many samples there were and how long the pass took."""

    loss: float
    accuracy: float
    samples: int
    seconds: float

    @property
    def error(self):
        return 1.0 - self.accuracy

    @property
    def samples_per_second(self):
        return self.samples / self.seconds if self.seconds > 0 else float("inf")


def train_epoch(model, loader, loss_fn, optimizer=None, *, progress=None, desc="train"):
    """One pass over ``loader`` in training mode: for each batch (x, y) the loss of ``model(x)``,
    then ``optimizer.reset_grad()``, ``loss.backward()`` and ``optimizer.step()``.

    Any object with ``reset_grad`` and ``step`` is an optimizer; without one nothing is updated.
    The model is a classifier: logits (batch, classes) against integer labels (batch,).
    ``progress``: True or False to show a bar or not; None shows it in a terminal or Jupyter.
    """
    model.train()
    return _one_pass(model, loader, loss_fn, optimizer, _progress_bar(loader, desc, progress))


def evaluate(model, loader, loss_fn, *, progress=None, desc="evaluate"):
    """The metrics of ``model`` on ``loader`` in eval mode, recording no graph."""
    model.eval()
    with no_grad():
        return _one_pass(model, loader, loss_fn, None, _progress_bar(loader, desc, progress))


def _progress_bar(loader, desc, show):
    if show is None:
        show = sys.stdout.isatty() or "ipykernel.zmqshell" in sys.modules
    return tqdm(loader, desc=desc, file=sys.stdout, disable=not show, leave=False, dynamic_ncols=True)


def _one_pass(model, loader, loss_fn, optimizer, bar):
    total_loss, correct, samples = 0.0, 0, 0
    start = time.perf_counter()
    with bar:
        for x, y in bar:
            logits = model(x)
            loss = loss_fn(logits, y)
            if optimizer is not None:
                optimizer.reset_grad()
                loss.backward()
                optimizer.step()
            batch = y.shape[0]
            total_loss += loss.item() * batch  # the loss is the batch's mean
            correct += int((logits.numpy().argmax(axis=1) == y.numpy()).sum())
            samples += batch
            bar.set_postfix(loss=f"{total_loss / samples:.4f}", accuracy=f"{correct / samples:.3f}",
                            refresh=False)
    if samples == 0:
        raise ValueError("the loader gave no batches (is the dataset smaller than a batch, with drop_last?)")
    return Metrics(total_loss / samples, correct / samples, samples, time.perf_counter() - start)
