"""MNIST and Fashion-MNIST as Datasets: each sample an image (28, 28, 1) and its label."""
import numpy as np

from .dataset import Dataset
from .mnist import FASHION_MNIST_CLASSES, MNIST_CLASSES, load_fashion_mnist, load_mnist


class MNISTDataset(Dataset):
    """MNIST's ``split`` ("train" or "test"): ``dataset[i]`` is ``(image, label)``, the image
    float32 in [0, 1] shaped (height, width, channels) = (28, 28, 1), after ``transforms``; the
    label an int. ``root`` and ``download`` are as for ``load_mnist``."""

    classes = MNIST_CLASSES
    load = staticmethod(load_mnist)

    def __init__(self, split="train", root=None, download=False, transforms=None):
        super().__init__(transforms)
        images, self.labels = self.load(split, root, download, normalize=True, flatten=False)
        self.images = images[..., np.newaxis]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.apply_transforms(self.images[index]), int(self.labels[index])


class FashionMNISTDataset(MNISTDataset):
    """Fashion-MNIST's ``split``, as ``MNISTDataset``; the label names are ``classes``."""

    classes = FASHION_MNIST_CLASSES
    load = staticmethod(load_fashion_mnist)
