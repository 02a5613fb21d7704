"""Learning-rate schedules: call ``scheduler.step()`` once per epoch (or per batch) after training.

Each schedule is a function of the count of ``step()`` calls, t, times the optimizer's initial
learning rate, as in ``torch.optim.lr_scheduler``.
"""
import math


class LRScheduler:
    """Sets ``optimizer.lr = base_lr * factor(t)``; a subclass writes ``factor``."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.t = 0
        self.optimizer.lr = self.base_lr * self.factor(0)

    def factor(self, t):
        raise NotImplementedError

    def step(self):
        self.t += 1
        self.optimizer.lr = self.base_lr * self.factor(self.t)

    def get_last_lr(self):
        return self.optimizer.lr

    def state_dict(self):
        return {"base_lr": self.base_lr, "t": self.t}

    def load_state_dict(self, state):
        self.base_lr, self.t = state["base_lr"], state["t"]
        self.optimizer.lr = self.base_lr * self.factor(self.t)


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` steps."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def factor(self, t):
        return self.gamma ** (t // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """From the initial rate down to ``eta_min`` along half a cosine over ``T_max`` steps, then
    ``eta_min`` (torch's version climbs back along the cosine after T_max)."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer)

    def factor(self, t):
        ratio = self.eta_min / self.base_lr if self.base_lr else 0.0
        return ratio + (1 - ratio) * (1 + math.cos(math.pi * min(t, self.T_max) / self.T_max)) / 2


class LinearLR(LRScheduler):
    """Linear warmup: the factor goes from ``start_factor`` to ``end_factor`` in ``total_iters``
    steps, then stays (small steps first, while Adam's averages and the weights settle)."""

    def __init__(self, optimizer, start_factor=1 / 3, end_factor=1.0, total_iters=5):
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1 or total_iters < 1:
            raise ValueError(f"LinearLR: need 0 < start_factor <= 1, 0 <= end_factor <= 1 and "
                             f"total_iters >= 1; got {start_factor}, {end_factor}, {total_iters}")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer)

    def factor(self, t):
        fraction = min(t, self.total_iters) / self.total_iters
        return self.start_factor + (self.end_factor - self.start_factor) * fraction
