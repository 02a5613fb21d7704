"""Data: the file formats of the course's data sets, where their files are found, loaders
that turn them into numpy arrays, and Datasets and a DataLoader that serve them as Tensors.

``load_fashion_mnist()`` gives the training images and labels; the files come from the Debian
package ``dataset-fashion-mnist``, a data root (``root=`` or ``NEEDLE_EDU_DATA``), or a download.
"""
from .cifar10 import CIFAR10, CIFAR10_CLASSES, CIFAR10Dataset, load_cifar10
from .dataloader import DataLoader
from .dataset import Dataset, NDArrayDataset, TensorDataset
from .download import DownloadError
from .idx import read_idx, write_idx
from .mnist import (FASHION_MNIST, FASHION_MNIST_CLASSES, MNIST, MNIST_CLASSES, load_fashion_mnist,
                    load_idx_images, load_mnist)
from .mnist_dataset import FashionMNISTDataset, MNISTDataset
from .text import Corpus, Dictionary, batchify, get_batch, load_ptb, load_shakespeare
from .sources import DATA_ENV, MIRROR_ENV, DataSource, cache_root, locate, places
from .transforms import RandomCrop, RandomFlipHorizontal

__all__ = [
    "DATA_ENV", "FASHION_MNIST", "FASHION_MNIST_CLASSES", "MIRROR_ENV", "MNIST", "MNIST_CLASSES",
    "DataSource", "DownloadError", "cache_root", "load_fashion_mnist", "load_idx_images",
    "load_mnist", "locate", "places", "read_idx", "write_idx",
    "DataLoader", "Dataset", "FashionMNISTDataset", "MNISTDataset", "NDArrayDataset",
    "RandomCrop", "RandomFlipHorizontal", "TensorDataset",
    "CIFAR10", "CIFAR10_CLASSES", "CIFAR10Dataset", "load_cifar10",
    "Corpus", "Dictionary", "batchify", "get_batch", "load_ptb", "load_shakespeare",
]
