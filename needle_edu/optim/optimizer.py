"""The optimizer base class: parameters, per-parameter state, the step count, and checkpoints.

A step visits every parameter that has a gradient and asks ``update(param, grad, state)`` for
its new value; ``state`` is that parameter's own dict of buffers (its momentum, say), kept
between steps. Gradients are read and parameters replaced under ``no_grad``, outside the graph.
"""
import math
import numbers

import numpy as np

from ..autograd import Tensor, no_grad


class Optimizer:
    """Base of every optimizer. A subclass lists its settings in ``HYPERPARAMETERS`` (kept as
    attributes, e.g. ``self.lr``) and writes ``update``."""

    HYPERPARAMETERS = ("lr",)

    def __init__(self, params, **hyperparameters):
        self.params = list(params)
        name = type(self).__name__
        if not self.params:
            raise ValueError(f"{name}: got an empty list of parameters")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: parameter {i} is a {type(p).__name__}, not a Tensor")
        if len({id(p) for p in self.params}) != len(self.params):
            raise ValueError(f"{name}: a parameter appears twice in the list")
        for key, value in hyperparameters.items():
            setattr(self, key, value)
        self.state = [{} for _ in self.params]
        self.steps = 0

    def check_setting(self, key, low=0.0, high=math.inf, high_included=True):
        """Raise ValueError unless the setting ``key`` is a number in [low, high] (or [low, high))."""
        value = getattr(self, key)
        inside = (isinstance(value, numbers.Real) and not isinstance(value, bool) and low <= value
                  and (value <= high if high_included else value < high))
        if not inside:
            bound = f"{high}]" if high_included else f"{high})"
            raise ValueError(f"{type(self).__name__}: {key} must be a number in [{low}, {bound}, got {value!r}")

    def zero_grad(self):
        """Forget every parameter's gradient (``backward`` adds to ``.grad``; a new batch starts at none)."""
        for p in self.params:
            p.grad = None

    reset_grad = zero_grad  # needle's name for the same thing

    def step(self):
        """Update every parameter that has a gradient, once."""
        self.steps += 1
        with no_grad():
            for i, (p, state) in enumerate(zip(self.params, self.state)):
                if p.grad is None:
                    continue
                new = self.update(p.data, p.grad.data, state)
                if not isinstance(new, Tensor) or new.shape != p.shape:
                    got = new.shape if isinstance(new, Tensor) else type(new).__name__
                    raise ValueError(f"{type(self).__name__}.update returned {got} for parameter {i} "
                                     f"of shape {p.shape}: it must return the new parameter, a Tensor "
                                     f"of the same shape")
                p.data = new.astype(p.dtype)

    def update(self, param, grad, state):
        """The new value of ``param`` (a Tensor without graph) given its gradient ``grad``."""
        raise NotImplementedError(f"{type(self).__name__} does not define update")

    @staticmethod
    def buffer(state, name, like):
        """``state[name]``, first made as zeros shaped like the Tensor ``like``."""
        if name not in state:
            state[name] = Tensor(np.zeros(like.shape), device=like.device, dtype=like.dtype,
                                 requires_grad=False)
        return state[name]

    # ------------------------------------------------------------------ checkpoints
    def hyperparameters(self):
        return {key: getattr(self, key) for key in self.HYPERPARAMETERS}

    def state_dict(self):
        """Settings, step count and buffers, as plain numbers and numpy arrays (copies)."""
        return {"hyperparameters": self.hyperparameters(), "steps": self.steps,
                "state": [{key: value.numpy().copy() for key, value in state.items()}
                          for state in self.state]}

    def load_state_dict(self, state_dict):
        """Continue from ``state_dict`` (made by ``state_dict()`` of an optimizer of the same kind)."""
        name = type(self).__name__
        states = state_dict["state"]
        if len(states) != len(self.params):
            raise ValueError(f"{name}.load_state_dict: {len(states)} parameter states "
                             f"for {len(self.params)} parameters")
        unknown = set(state_dict["hyperparameters"]) - set(self.HYPERPARAMETERS)
        if unknown:
            raise ValueError(f"{name}.load_state_dict: unknown settings {sorted(unknown)}")
        loaded = []
        for i, (p, state) in enumerate(zip(self.params, states)):
            for key, array in state.items():
                if np.shape(array) != p.shape:
                    raise ValueError(f"{name}.load_state_dict: buffer {key!r} of parameter {i} has "
                                     f"shape {np.shape(array)}, the parameter {p.shape}")
            loaded.append({key: Tensor(np.asarray(array), device=p.device, dtype=p.dtype,
                                       requires_grad=False) for key, array in state.items()})
        for key, value in state_dict["hyperparameters"].items():
            setattr(self, key, value)
        self.state, self.steps = loaded, int(state_dict["steps"])

    def __repr__(self):
        settings = ", ".join(f"{k}={v}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({len(self.params)} parameters, {settings})"
