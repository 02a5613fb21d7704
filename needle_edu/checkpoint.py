"""Gradient checkpointing: keep a block's input instead of its activations, recompute them in backward.

``checkpoint(fn, *inputs)`` runs ``fn`` without recording a graph and returns its output as a
single node; its gradient runs ``fn`` again, this time recording, and differentiates that. Memory
then grows with the number of blocks instead of the number of layers, for one extra forward pass:
``checkpoint_sequential(layers, segments, x)`` with about sqrt(N) segments of N layers keeps about
2 sqrt(N) activations alive instead of N. ``nn.Checkpoint(module)`` is the same as a layer.

(``needle_edu.checkpoint`` is this function; the module is ``sys.modules["needle_edu.checkpoint"]``.)
"""
import contextlib
import math

from . import autograd, init
from .autograd import Tensor, TensorOp, no_grad
from .nn.layers import Sequential
from .nn.module import Module, Parameter


@contextlib.contextmanager
def _recording():
    """Record the graph even inside ``no_grad`` (``backward`` runs under it)."""
    previous, autograd._grad_enabled = autograd._grad_enabled, True
    try:
        yield
    finally:
        autograd._grad_enabled = previous


@contextlib.contextmanager
def _random_state(state):
    """Replay ``init``'s generator from ``state`` (so Dropout draws the same masks), then resume it."""
    bits = init.default_generator.bit_generator
    now, bits.state = bits.state, state
    try:
        yield
    finally:
        bits.state = now


def _buffers(modules):
    """The non-parameter tensors modules keep (BatchNorm's running statistics), to restore later."""
    return [(m, name, value) for m in modules for name, value in vars(m).items()
            if isinstance(value, Tensor) and not isinstance(value, Parameter)]


class CheckpointOp(TensorOp):
    """The op of one checkpointed call: ``fn(*inputs)``, whose parameters are its extra inputs."""

    def __init__(self, fn, n_inputs):
        self.fn, self.n_inputs = fn, n_inputs
        self.modules = fn.modules() if isinstance(fn, Module) else []
        self.rng_state = init.default_generator.bit_generator.state

    def compute(self, *arrays):
        """The forward pass, recording nothing: only the inputs stay for backward."""
        with no_grad():
            out = self.fn(*(Tensor.make_const(a) for a in arrays[:self.n_inputs]))
        if not isinstance(out, Tensor):
            raise TypeError(f"checkpoint: the function must return one Tensor, got {type(out).__name__}")
        return out.cached_data

    def gradient(self, out_grad, node):
        """Run ``fn`` again from the saved inputs, recording this time, and differentiate that
        graph; it is freed as soon as the gradients are out."""
        if autograd.is_grad_enabled():  # grad(..., create_graph=True) is asking for a graph
            raise RuntimeError("checkpoint: gradients through a checkpoint cannot be differentiated "
                               "again (create_graph=True); compute them without checkpointing")
        inputs = [Tensor.make_const(x.cached_data, requires_grad=x.requires_grad)
                  for x in node.inputs[:self.n_inputs]]
        params = list(node.inputs[self.n_inputs:])
        kept = _buffers(self.modules)
        with _recording(), _random_state(self.rng_state):
            out = self.fn(*inputs)
        for module, name, value in kept:  # the recomputation must not update running statistics twice
            setattr(module, name, value)
        wanted = [x for x in inputs + params if x.requires_grad]
        found = dict(zip(wanted, autograd.grad(out, wanted, out_grad.detach())))
        return tuple(found.get(x) for x in inputs + params)


def checkpoint(fn, *inputs, parameters=None):
    """``fn(*inputs)``, keeping only the inputs for backward, which recomputes the rest.

    ``fn`` is a Module or a function of Tensors returning one Tensor; the Parameters it uses
    must reach the graph too: a Module's are found, a plain function's are passed as
    ``parameters``. The gradients are the same as without checkpointing, not their graph:
    they cannot be differentiated again.
    """
    for x in inputs:
        if not isinstance(x, Tensor):
            raise TypeError(f"checkpoint: inputs must be Tensors, got {type(x).__name__}")
    if parameters is None:
        parameters = fn.parameters() if isinstance(fn, Module) else []
    return CheckpointOp(fn, len(inputs))(*inputs, *parameters)


def checkpoint_sequential(layers, segments, x):
    """Run ``layers`` (a list or Sequential) on ``x`` as ``segments`` checkpointed blocks of
    about equal length; the last block is not checkpointed, as backward needs it at once."""
    layers = list(layers)
    if not 1 <= segments <= max(len(layers), 1):
        raise ValueError(f"checkpoint_sequential: segments must be in [1, {len(layers)}] for "
                         f"{len(layers)} layers, got {segments}")
    size = math.ceil(len(layers) / segments)
    blocks = [Sequential(*layers[i:i + size]) for i in range(0, len(layers), size)]
    for block in blocks[:-1]:
        x = checkpoint(block, x)
    return blocks[-1](x)


class Checkpoint(Module):
    """A layer that checkpoints ``module``: ``Checkpoint(block)(x)`` is ``block(x)`` with its
    activations recomputed in backward instead of stored."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, *inputs):
        return checkpoint(self.module, *inputs)
