"""Optimizers: they turn each parameter's gradient into an update of the parameter.

``Optimizer`` keeps the parameters, their per-parameter state (momentum, running averages) and
the step count; each optimizer writes only ``update``, the rule for one parameter.
``lr_scheduler`` changes an optimizer's learning rate as training goes on.
"""
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .clip import clip_grad_norm
from .lr_scheduler import CosineAnnealingLR, LinearLR, LRScheduler, StepLR
from .optimizer import Optimizer
from .rmsprop import RMSProp
from .sgd import SGD

__all__ = ["Adagrad", "Adam", "AdamW", "CosineAnnealingLR", "LRScheduler", "LinearLR", "Optimizer",
           "RMSProp", "SGD", "StepLR", "clip_grad_norm"]
