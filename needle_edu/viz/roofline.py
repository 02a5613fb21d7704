"""Kernel speeds and the roofline: a machine's peak FLOP/s and memory bandwidth, and where kernels sit.

A kernel that does ``flops`` floating-point operations per byte it moves (its arithmetic
intensity ``I``) runs at most at ``min(peak, bandwidth * I)``: the roof. The timing helpers take
the best of a few runs, as a busy machine only ever slows a run down.
"""
import time

import numpy as np
from matplotlib.figure import Figure


def best_time(function, repeat=5, min_seconds=0.02):
    """The shortest time of ``function()`` in seconds, over ``repeat`` rounds; a round repeats a
    fast call until it lasts ``min_seconds`` and counts the mean."""
    function()  # warm up: first-touch page faults, compilation
    best = float("inf")
    for _ in range(repeat):
        calls, start = 0, time.perf_counter()
        while True:
            function()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        best = min(best, elapsed / calls)
    return best


def matmul_gflops(kernel, n, repeat=3, seed=0):
    """GFLOP/s of ``kernel(a, b, out, m, n, p)`` (flat float32 arrays) on n x n matrices."""
    rng = np.random.default_rng(seed)
    a, b = (rng.standard_normal(n * n).astype(np.float32) for _ in range(2))
    out = np.empty(n * n, dtype=np.float32)
    return 2 * n ** 3 / best_time(lambda: kernel(a, b, out, n, n, n), repeat=repeat) / 1e9


def stream_bandwidth(kernel, size, repeat=5):
    """GB/s of ``kernel(a, b, out)``, an elementwise op on ``size`` float32 elements: 12 bytes
    an element (two read, one written), in arrays far larger than the caches."""
    a, b = np.ones(size, dtype=np.float32), np.ones(size, dtype=np.float32)
    out = np.zeros(size, dtype=np.float32)
    return 12 * size / best_time(lambda: kernel(a, b, out), repeat=repeat) / 1e9


def plot_roofline(peak, bandwidth, kernels, title=None):
    """The roofline of a machine of ``peak`` GFLOP/s and ``bandwidth`` GB/s on log axes, with each
    kernel ``(label, FLOP per byte, GFLOP/s achieved)`` of ``kernels`` as a labelled point."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    intensities = [k[1] for k in kernels] + [peak / bandwidth]
    low, high = min(intensities) / 4, max(intensities) * 4
    x = np.geomspace(low, high, 200)
    ax.plot(x, np.minimum(peak, bandwidth * x), color="black", lw=2, label="roof")
    ax.axvline(peak / bandwidth, color="gray", ls=":", lw=1)
    ax.annotate(f"{bandwidth:.1f} GB/s", (low * 1.3, bandwidth * low * 1.3 * 1.15), rotation=0, fontsize=8)
    ax.annotate(f"peak {peak:.1f} GFLOP/s", (peak / bandwidth * 1.1, peak * 1.08), fontsize=8)
    for label, intensity, gflops in kernels:
        ax.plot([intensity], [gflops], "o")
        ax.annotate(label, (intensity, gflops), textcoords="offset points", xytext=(5, -10), fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP per byte)")
    ax.set_ylabel("GFLOP/s")
    ax.set_ylim(min(k[2] for k in kernels) / 3, peak * 2)
    ax.set_title(title or "roofline of this machine, measured")
    fig.tight_layout()
    return fig


def plot_matmul_speeds(sizes, speeds, title=None):
    """GFLOP/s against n for each ``{label: [GFLOP/s at each n of sizes]}`` of ``speeds``."""
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for label, values in speeds.items():
        ax.plot(sizes, values, "o-", label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.set_xlabel("n (n x n matrices)")
    ax.set_ylabel("GFLOP/s")
    ax.set_title(title or "matrix product speed")
    ax.legend()
    fig.tight_layout()
    return fig
