"""Figures for the notebooks and the book, drawn with matplotlib's object API.

Every function returns a ``matplotlib.figure.Figure`` and never calls ``pyplot``, so no window or
GUI backend is needed: ``fig.savefig(path)`` writes the figure to a file, and a notebook shows it
when it is a cell's value once ``%matplotlib inline`` has run (without pyplot, nothing else
registers the notebook's image display for figures).
"""
from .conv import feature_maps, plot_feature_maps, plot_filters, plot_im2col, plot_loss_curve
from .graph import plot_computation_graph
from .hidden_units import plot_hidden_units
from .images import plot_image_grid, plot_weight_images
from .layer_norms import WeightTracker, layer_norms, plot_layer_norms, plot_weight_changes
from .roofline import plot_matmul_speeds, plot_roofline
from .optimizer_paths import (OPTIMIZERS, SURFACES, Surface, animate_optimizer_paths, compare_optimizers,
                              lr_sensitivity, optimizer_path, plot_lr_sensitivity, plot_optimizer_paths)
from .training import plot_training_curves

__all__ = [
    "OPTIMIZERS", "SURFACES", "Surface", "WeightTracker", "animate_optimizer_paths", "compare_optimizers",
    "layer_norms", "lr_sensitivity", "optimizer_path", "plot_computation_graph", "plot_hidden_units",
    "plot_image_grid", "plot_layer_norms", "plot_lr_sensitivity", "plot_optimizer_paths",
    "plot_training_curves", "plot_weight_changes", "plot_weight_images",
    "feature_maps", "plot_feature_maps", "plot_filters", "plot_im2col", "plot_loss_curve",
    "plot_matmul_speeds", "plot_roofline",
]
