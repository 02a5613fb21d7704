"""Figures of GAN training: 2-D samples against their target as training goes on (still and
animated), generated images epoch by epoch, and the two players' losses."""
import numpy as np
from matplotlib.figure import Figure

from .optimizer_paths import _offline


def _draw_2d(ax, samples, target, limits, title):
    ax.scatter(target[:, 0], target[:, 1], s=4, color="0.7", label="target", rasterized=True)
    ax.scatter(samples[:, 0], samples[:, 1], s=4, color="tab:red", alpha=0.6, label="generated", rasterized=True)
    ax.set_xlim(*limits[0])
    ax.set_ylim(*limits[1])
    ax.set_title(title, fontsize=9)
    ax.set_aspect("equal")


def _limits(*clouds):
    points = np.concatenate([np.asarray(c) for c in clouds])
    low, high = np.percentile(points, 1, axis=0), np.percentile(points, 99, axis=0)
    pad = 0.15 * (high - low)
    return list(zip(low - pad, high + pad))


def plot_2d_gan(snapshots, target, ncols=4):
    """Generated 2-D samples (red) over ``target`` samples (grey), one panel per snapshot;
    ``snapshots`` is a list of (step, samples (n, 2))."""
    limits = _limits(target, snapshots[-1][1])
    nrows = -(-len(snapshots) // ncols)
    fig = Figure(figsize=(2.4 * ncols, 2.4 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(snapshots):]:
        ax.set_axis_off()
    for ax, (step, samples) in zip(axes, snapshots):
        _draw_2d(ax, np.asarray(samples), np.asarray(target), limits, f"step {step}")
    axes[0].legend(fontsize=7, loc="upper left", markerscale=2)
    return fig


def animate_2d_gan(snapshots, target, interval=200):
    """The same as an HTML animation, one frame per snapshot (matplotlib's JavaScript player,
    frames embedded as PNG data: it plays offline)."""
    from matplotlib.animation import FuncAnimation

    target = np.asarray(target)
    limits = _limits(target, snapshots[-1][1])
    fig = Figure(figsize=(4, 3.6), dpi=60, layout="constrained")
    ax = fig.subplots()

    def draw(frame):
        ax.clear()
        step, samples = snapshots[frame]
        _draw_2d(ax, np.asarray(samples), target, limits, f"step {step}")
        ax.legend(fontsize=7, loc="upper left", markerscale=2)
        return []

    animation = FuncAnimation(fig, draw, frames=len(snapshots), interval=interval, blit=False)
    return _offline(animation.to_jshtml(default_mode="once"))


def plot_samples_per_epoch(grids, images_per_row=10):
    """One row per epoch of the images ``grids[e]`` (k, 28, 28) the generator drew after epoch
    e + 1 from the same noise: how samples of one z change as training goes on."""
    rows = len(grids)
    columns = min(images_per_row, min(len(g) for g in grids))
    fig = Figure(figsize=(0.8 * columns + 0.8, 0.85 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for r, grid in enumerate(grids):
        for c in range(columns):
            ax = axes[r, c]
            ax.imshow(np.asarray(grid[c]).reshape(28, 28), cmap="gray_r", vmin=-1, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(f"epoch {r + 1}", fontsize=8)
    return fig


def plot_gan_losses(d_losses, g_losses, window=25, title="GAN losses"):
    """The discriminator's and the generator's loss after every step, with running means."""
    fig = Figure(figsize=(6.5, 3.2), layout="constrained")
    ax = fig.subplots()
    for values, name, color in [(d_losses, "discriminator", "tab:blue"), (g_losses, "generator", "tab:orange")]:
        values = np.asarray(values, dtype=float)
        ax.plot(values, color=color, alpha=0.25, linewidth=0.7)
        if len(values) >= window:
            smooth = np.convolve(values, np.ones(window) / window, mode="valid")
            ax.plot(np.arange(window - 1, len(values)), smooth, color=color, label=f"{name} (mean of {window})")
    ax.axhline(2 * np.log(2), color="0.5", linestyle=":", linewidth=1, label="D's loss at equilibrium, 2 log 2")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return fig


def plot_generator_losses(logits=None):
    """The generator's two losses against D(G(z)) = sigmoid(l), and their gradients with respect
    to the logit l, computed by ``nn.GANLoss`` and backward: the minimax loss log(1 - D) is flat
    where D rejects the samples (D near 0); the non-saturating -log D is steep there."""
    from .. import nn
    from ..autograd import Tensor

    logits = np.linspace(-7, 7, 141) if logits is None else np.asarray(logits, dtype="float64")
    curves = {}
    for name, real, sign in [("minimax: log(1 - D)", False, -1.0), ("non-saturating: -log D", True, 1.0)]:
        x = Tensor(logits, device="numpy", dtype="float64")
        loss = nn.GANLoss()(x, real) * (sign * len(logits))  # the sum over points, not the mean
        loss.backward()
        curves[name] = (sign * np.logaddexp(0, logits if not real else -logits), x.grad.numpy())
    d = 1 / (1 + np.exp(-logits))
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    for name, (value, grad) in curves.items():
        left.plot(d, value, label=name)
        right.plot(d, grad, label=name)
    left.set_xlabel("D(G(z)), the discriminator's belief that the sample is real")
    left.set_ylabel("generator loss")
    right.set_xlabel("D(G(z))")
    right.set_ylabel("d loss / d logit")
    right.axhline(0, color="0.6", linewidth=0.8)
    left.legend(fontsize=8)
    return fig


def plot_optimal_discriminator(data=(0.0, 1.0), generated=(2.0, 0.7)):
    """Two 1-D Gaussians (mean, std), the data's and the generator's, and the best discriminator
    against them, D*(x) = p_data(x) / (p_data(x) + p_G(x))."""
    x = np.linspace(-4, 6, 400)

    def density(mean, std):
        return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * np.sqrt(2 * np.pi))

    p_data, p_g = density(*data), density(*generated)
    fig = Figure(figsize=(6.5, 3.0), layout="constrained")
    ax = fig.subplots()
    ax.fill_between(x, p_data, alpha=0.3, color="0.5", label="data")
    ax.fill_between(x, p_g, alpha=0.3, color="tab:red", label="generator")
    ax.plot(x, p_data / (p_data + p_g), color="tab:blue", label="D*(x)")
    ax.axhline(0.5, color="tab:blue", linestyle=":", linewidth=0.8)
    ax.set_xlabel("x")
    ax.legend(fontsize=8)
    return fig


def game_paths(steps=120, lr=0.2, start=(1.0, 1.0)):
    """Gradient play on the simplest game, min_x max_y x*y (equilibrium at 0, 0): the path of
    simultaneous steps, which spirals outwards, and of alternating ones, which circle."""
    paths = {}
    for name in ("simultaneous", "alternating"):
        x, y = start
        points = [(x, y)]
        for _ in range(steps):
            if name == "simultaneous":
                x, y = x - lr * y, y + lr * x
            else:
                x = x - lr * y  # x moves first; y answers the new x
                y = y + lr * x
            points.append((x, y))
        paths[name] = np.array(points)
    return paths


def plot_game_paths(paths):
    """The paths of ``game_paths`` in the (x, y) plane."""
    fig = Figure(figsize=(4.2, 4.0), layout="constrained")
    ax = fig.subplots()
    for name, points in paths.items():
        ax.plot(points[:, 0], points[:, 1], marker=".", markersize=2, linewidth=0.8, label=name)
    ax.plot(0, 0, marker="*", color="black", markersize=10, linestyle="", label="equilibrium")
    ax.set_xlabel("x (minimizes x y)")
    ax.set_ylabel("y (maximizes x y)")
    ax.set_aspect("equal")
    ax.legend(fontsize=8)
    return fig


def conv_transpose_overlap(kernel_size, stride, size=6):
    """How many kernel taps land on each output pixel of a transposed convolution of a
    ``size`` x ``size`` image: ``nn.ConvTranspose`` with every weight 1 applied to ones."""
    from .. import nn
    from ..autograd import Tensor

    layer = nn.ConvTranspose(1, 1, kernel_size, stride=stride, bias=False, device="numpy", dtype="float64")
    layer.weight.data = Tensor(np.ones((kernel_size, kernel_size, 1, 1)), device="numpy", dtype="float64",
                               requires_grad=False)
    return layer(Tensor(np.ones((1, 1, size, size)), device="numpy", dtype="float64", requires_grad=False)).numpy()[0, 0]


def plot_conv_transpose_overlap(cases=((3, 2), (4, 2))):
    """``conv_transpose_overlap`` for each (kernel_size, stride): uneven overlap, a checkerboard,
    when the kernel size is not a multiple of the stride."""
    fig = Figure(figsize=(3.2 * len(cases), 3.2), layout="constrained")
    for ax, (k, s) in zip(np.atleast_1d(fig.subplots(1, len(cases))), cases):
        counts = conv_transpose_overlap(k, s)
        ax.imshow(counts, cmap="viridis", vmin=0)
        ax.set_title(f"kernel {k}, stride {s}: {int(counts.min())} to {int(counts.max())} taps", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    return fig
