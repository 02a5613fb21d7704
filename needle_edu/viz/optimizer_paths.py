"""Optimizers on 2-D loss surfaces: the path each one takes, drawn over the surface's contours.

A ``Surface`` is a function f(x, y) written with arithmetic only, so the same expression
evaluates a numpy grid (for the contours) and Tensors (for autograd and the optimizers).
"""
import math
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
from matplotlib.figure import Figure

from .. import optim
from ..autograd import Tensor
from ..nn import Parameter


@dataclass(frozen=True)
class Surface:
    """A loss surface: f(x, y), where paths start, the box to draw and its minima."""

    name: str
    function: Callable
    start: tuple
    xlim: tuple
    ylim: tuple
    minima: tuple = ()

    def __call__(self, x, y):
        return self.function(x, y)


SURFACES = {
    # Curvature 1 along x and 20 along y: a learning rate stable along y crawls along x.
    "quadratic": Surface("ill-conditioned quadratic  (x² + 20y²)/2", lambda x, y: 0.5 * (x ** 2 + 20 * y ** 2),
                         start=(-4.5, 1.2), xlim=(-5, 5), ylim=(-1.6, 1.6), minima=((0.0, 0.0),)),
    # A curved, flat-bottomed valley: easy to enter, slow to follow to its end at (1, 1).
    "rosenbrock": Surface("Rosenbrock  (1 - x)² + 100(y - x²)²",
                          lambda x, y: (1 - x) ** 2 + 100 * (y - x ** 2) ** 2,
                          start=(-1.5, 2.0), xlim=(-2, 2), ylim=(-1, 3), minima=((1.0, 1.0),)),
    # A saddle at the origin between two minima at (0, ±1): gradients vanish near the saddle.
    "saddle": Surface("saddle  x²/2 - y²/2 + y⁴/4", lambda x, y: 0.5 * x ** 2 - 0.5 * y ** 2 + 0.25 * y ** 4,
                      start=(2.0, 1e-3), xlim=(-2.5, 2.5), ylim=(-1.6, 1.6), minima=((0.0, 1.0), (0.0, -1.0))),
}


# The optimizers compared on every surface: name -> function (params, lr) -> optimizer.
OPTIMIZERS = {
    "GD": lambda params, lr: optim.SGD(params, lr=lr),
    "momentum": lambda params, lr: optim.SGD(params, lr=lr, momentum=0.9),
    "unbiased momentum": lambda params, lr: optim.SGD(params, lr=lr, momentum=0.9, unbiased=True),
    "Nesterov": lambda params, lr: optim.SGD(params, lr=lr, momentum=0.9, nesterov=True),
    "RMSProp": lambda params, lr: optim.RMSProp(params, lr=lr),
    "Adam": lambda params, lr: optim.Adam(params, lr=lr),
}
# Per surface: steps, and the learning rate of the SGD family, of RMSProp and of Adam.
SETTINGS = {"quadratic": (60, 0.05, 0.1, 0.3), "rosenbrock": (500, 1e-3, 0.01, 0.05),
            "saddle": (80, 0.05, 0.05, 0.1)}


def compare_optimizers(surface_key, optimizers=None):
    """``{name: path}`` for each of ``optimizers`` (default ``OPTIMIZERS``) on ``SURFACES[surface_key]``,
    with the steps and learning rates of ``SETTINGS``."""
    steps, sgd_lr, rmsprop_lr, adam_lr = SETTINGS[surface_key]
    rates = {"RMSProp": rmsprop_lr, "Adam": adam_lr}
    return {name: optimizer_path(SURFACES[surface_key], lambda params: make(params, rates.get(name, sgd_lr)), steps)
            for name, make in (optimizers or OPTIMIZERS).items()}


def optimizer_path(surface, make_optimizer, steps):
    """The points (steps + 1, 2) visited by ``make_optimizer([x, y])`` minimizing ``surface``.

    The path stops early where it diverges (a coordinate beyond 1e6 or not finite).
    """
    x, y = (Parameter(Tensor([c], device="numpy", dtype="float64")) for c in surface.start)
    optimizer = make_optimizer([x, y])
    points = [surface.start]
    for _ in range(steps):
        loss = surface(x, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        point = (x.item(), y.item())
        if not all(math.isfinite(c) and abs(c) < 1e6 for c in point):
            break
        points.append(point)
    return np.array(points)


def _draw_surface(ax, surface, levels=30):
    xs = np.linspace(*surface.xlim, 300)
    ys = np.linspace(*surface.ylim, 300)
    X, Y = np.meshgrid(xs, ys)
    Z = surface(X, Y)
    shifted = np.log1p(Z - Z.min())  # log levels: the contours show the flat valleys too
    ax.contour(X, Y, shifted, levels=levels, cmap="Greys", linewidths=0.6, alpha=0.8)
    for point in surface.minima:
        ax.plot(*point, marker="*", markersize=12, color="black", linestyle="none")
    ax.plot(*surface.start, marker="o", color="black", markersize=5)
    ax.set_xlim(*surface.xlim)
    ax.set_ylim(*surface.ylim)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(surface.name, fontsize=10)


def plot_optimizer_paths(surface, paths, ax=None):
    """One line per optimizer (``paths``: name -> points) over the contours of ``surface``."""
    fig = None
    if ax is None:
        fig = Figure(figsize=(6.5, 4.5), layout="constrained")
        ax = fig.subplots()
    _draw_surface(ax, surface)
    for name, points in paths.items():
        ax.plot(points[:, 0], points[:, 1], marker=".", markersize=3, linewidth=1.2, label=name)
    ax.legend(fontsize=8, loc="best")
    return fig if fig is not None else ax.figure


def animate_optimizer_paths(surface, paths, frames=30, interval=150):
    """The paths drawn step by step, as an HTML animation (matplotlib's JavaScript player; the
    frames are embedded as PNG data, so the page needs no network)."""
    from matplotlib.animation import FuncAnimation

    fig = Figure(figsize=(5, 3.5), dpi=60, layout="constrained")
    ax = fig.subplots()
    _draw_surface(ax, surface, levels=15)
    lines = {name: ax.plot([], [], marker=".", markersize=3, linewidth=1.2, label=name)[0] for name in paths}
    ax.legend(fontsize=7, loc="best")
    longest = max(len(points) for points in paths.values())

    def draw(frame):
        shown = max(1, round(longest * (frame + 1) / frames))
        for name, points in paths.items():
            lines[name].set_data(points[:shown, 0], points[:shown, 1])
        return list(lines.values())

    animation = FuncAnimation(fig, draw, frames=frames, interval=interval, blit=False)
    return _offline(animation.to_jshtml(default_mode="once"))


# matplotlib's player draws its buttons with Font Awesome from a CDN: use characters instead.
_BUTTONS = {"fast-backward": "first", "step-backward": "back", "play fa-flip-horizontal": "◀", "pause": "pause",
            "play": "▶", "step-forward": "step", "fast-forward": "last", "minus": "slower", "plus": "faster"}


def _offline(html):
    html = re.sub(r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">', "", html)
    return re.sub(r'<i class="fa fa-([\w -]+)"></i>', lambda m: _BUTTONS.get(m.group(1), m.group(1)), html)


def lr_sensitivity(surface, make_optimizers, learning_rates, steps):
    """``{name: [loss after steps, for each learning rate]}``; inf where the run diverged.

    ``make_optimizers``: name -> function (params, lr) -> optimizer.
    """
    found = {}
    for name, make in make_optimizers.items():
        losses = []
        for lr in learning_rates:
            points = optimizer_path(surface, lambda params: make(params, lr), steps)
            diverged = len(points) < steps + 1
            losses.append(math.inf if diverged else float(surface(*points[-1])))
        found[name] = losses
    return found


def plot_lr_sensitivity(learning_rates, losses, title=None):
    """The final loss against the learning rate, one curve per optimizer (log-log); a diverged
    run is drawn at the top edge with an x."""
    fig = Figure(figsize=(6.5, 3.8), layout="constrained")
    ax = fig.subplots()
    finite = [v for values in losses.values() for v in values if math.isfinite(v) and v > 0]
    top = max(finite) * 10 if finite else 1.0
    floor = max(min(finite) / 10, 1e-12) if finite else 1e-12
    for name, values in losses.items():
        shown = np.array([min(max(v, floor), top) if math.isfinite(v) else np.nan for v in values])
        line, = ax.plot(learning_rates, shown, marker="o", markersize=3, label=name)
        diverged = [lr for lr, v in zip(learning_rates, values) if not math.isfinite(v)]
        ax.plot(diverged, [top] * len(diverged), marker="x", linestyle="none", color=line.get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss after the last step")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig
