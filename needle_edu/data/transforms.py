"""Random transforms of images for data augmentation, in needle's conventions.

An image is a numpy array (height, width, channels); a batch (n, height, width, channels) works
too, the same random choice then applying to all of it. The random numbers come from
``needle_edu.init``'s generator, so ``init.manual_seed`` repeats them.
"""
import numpy as np

from .. import init


class RandomFlipHorizontal:
    """Mirror the image left to right with probability ``p``."""

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, img):
        flip = init.default_generator.random() < self.p
        return np.flip(img, axis=-2) if flip else img


class RandomCrop:
    """Pad the image with ``padding`` zeros on each side, then cut out a window of the original
    size at a random offset: the content moves by up to ``padding`` pixels each way."""

    def __init__(self, padding=3):
        self.padding = padding

    def __call__(self, img):
        p = self.padding
        shift_down, shift_right = init.default_generator.integers(-p, p + 1, size=2)
        height, width = img.shape[-3:-1]
        widths = [(0, 0)] * img.ndim
        widths[-3] = widths[-2] = (p, p)
        padded = np.pad(img, widths)
        top, left = p + shift_down, p + shift_right
        return padded[..., top:top + height, left:left + width, :]
