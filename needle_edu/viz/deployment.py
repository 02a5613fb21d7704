"""Figures for deployment: what int8 quantization does to a model's size and accuracy."""
import numpy as np
from matplotlib.figure import Figure


def quantize_tensor(w, bits=8):
    """``w`` rounded to signed ``bits``-bit integers with one symmetric scale, and back:
    q = round(w / s) with s = max|w| / (2^(bits-1) - 1); returns (q * s, s)."""
    scale = np.abs(w).max() / (2 ** (bits - 1) - 1)
    return np.round(w / scale) * scale, scale


def plot_quantization(report, weights=None):
    """File size and test accuracy of the float32 and int8 models (``QuantizationReport``);
    with ``weights`` (a numpy matrix), also its values against their int8 rounding error."""
    panels = 3 if weights is not None else 2
    fig = Figure(figsize=(3.3 * panels, 3.2), layout="constrained")
    axes = fig.subplots(1, panels)
    names, colours = ["float32", "int8"], ["C0", "C1"]
    sizes = [report.float32_bytes / 1024, report.int8_bytes / 1024]
    accuracies = [100 * report.float32_accuracy, 100 * report.int8_accuracy]
    for ax, values, label, fmt in ((axes[0], sizes, "file size (KiB)", "{:.0f}"),
                                   (axes[1], accuracies, "test accuracy (%)", "{:.2f}")):
        bars = ax.bar(names, values, color=colours)
        ax.bar_label(bars, [fmt.format(v) for v in values])
        ax.set_ylabel(label)
        ax.margins(y=0.15)
    axes[1].set_ylim(min(accuracies) - 5, 100)
    if weights is not None:
        rounded, scale = quantize_tensor(weights)
        axes[2].hist(weights.ravel(), bins=80, color="C0")
        axes[2].set_xlabel("weight value")
        axes[2].set_ylabel("count")
        axes[2].set_title(f"int8 step {scale:.1e}: error at most {scale / 2:.1e}", fontsize=9)
    return fig
