"""Images in a grid: data samples, or learned weight vectors seen as pictures."""
import math

import numpy as np
from matplotlib.figure import Figure


def plot_image_grid(images, titles=None, ncols=5, cmap="gray", symmetric=False):
    """Draw ``images`` (a sequence of 2-D arrays) in a grid of ``ncols`` columns.

    With ``symmetric`` each image's colour scale is centred on zero, so that with a diverging
    ``cmap`` positive and negative values get opposite colours of equal strength.
    """
    images = [np.asarray(image) for image in images]
    nrows = math.ceil(len(images) / ncols)
    fig = Figure(figsize=(1.8 * ncols, 2.0 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for index, ax in enumerate(axes):
        ax.set_axis_off()
        if index >= len(images):
            continue
        limit = np.abs(images[index]).max() if symmetric else None
        ax.imshow(images[index], cmap=cmap, vmin=-limit if symmetric else None, vmax=limit)
        if titles is not None:
            ax.set_title(titles[index], fontsize=9)
    return fig


def plot_weight_images(theta, class_names, image_shape=(28, 28), ncols=5):
    """Column j of ``theta`` (n, k), the weights that score class j, drawn as an image.

    Red pixels raise the class's score and blue ones lower it: the picture is a template.
    """
    theta = np.asarray(theta)
    images = [theta[:, j].reshape(image_shape) for j in range(theta.shape[1])]
    return plot_image_grid(images, class_names, ncols=ncols, cmap="RdBu_r", symmetric=True)
