"""MNIST and Fashion-MNIST: 28x28 grey images in ten classes, 60,000 to train on and 10,000 to
test on, each split stored as two IDX files (the images, then one label per image).

``load_fashion_mnist`` and ``load_mnist`` return numpy arrays; the Dataset classes wrap them.
"""
import numpy as np

from .idx import read_idx
from .sources import DataSource, locate

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
MNIST_CLASSES = tuple(str(digit) for digit in range(10))

# Both data sets use the same four file names, so each lives in a folder of its own.
IDX_SPLITS = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

# Each file: the MD5 that upstream's README publishes for its .gz, then the SHA-256 of the
# Debian package's copy (the same data, compressed again, so other bytes).
FASHION_MNIST = DataSource(
    name="fashion-mnist",
    title="Fashion-MNIST",
    splits=IDX_SPLITS,
    checksums={
        "train-images-idx3-ubyte.gz": (
            "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "sha256:b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"),
        "train-labels-idx1-ubyte.gz": (
            "md5:25c81989df183df01b3e8a0aad5dffbe",
            "sha256:0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"),
        "t10k-images-idx3-ubyte.gz": (
            "md5:bef4ecab320f06d8554ea6380940ec79",
            "sha256:cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"),
        "t10k-labels-idx1-ubyte.gz": (
            "md5:bb300cfdad3c16e7a12a480ee83cd310",
            "sha256:8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"),
    },
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    package="dataset-fashion-mnist",
    package_folders=("/usr/share/datasets/fashion-mnist",),
    classes=FASHION_MNIST_CLASSES,
)

MNIST = DataSource(
    name="mnist",
    title="MNIST",
    splits=IDX_SPLITS,
    checksums={
        "train-images-idx3-ubyte.gz": ("md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",),
        "train-labels-idx1-ubyte.gz": ("md5:d53e105ee54ea40749a09fcbcd1e9432",),
        "t10k-images-idx3-ubyte.gz": ("md5:9fb629c4189551a2d022fa330f9573f3",),
        "t10k-labels-idx1-ubyte.gz": ("md5:ec29112dd5afa0611ce80d1b7f02629c",),
    },
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
             "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    classes=MNIST_CLASSES,
)


def load_fashion_mnist(split="train", root=None, download=False, normalize=True, flatten=True,
                       *, mirror=None, checksums=None, timeout=30.0):
    """Fashion-MNIST's ``"train"`` or ``"test"`` split as ``(images, labels)``; the label names
    are ``FASHION_MNIST_CLASSES``. Arguments as for ``load_idx_images``."""
    return load_idx_images(FASHION_MNIST, split, root, download, normalize, flatten,
                           mirror=mirror, checksums=checksums, timeout=timeout)


def load_mnist(split="train", root=None, download=False, normalize=True, flatten=True,
               *, mirror=None, checksums=None, timeout=30.0):
    """MNIST's ``"train"`` or ``"test"`` split as ``(images, labels)``, the labels being the
    digits. Arguments as for ``load_idx_images``."""
    return load_idx_images(MNIST, split, root, download, normalize, flatten,
                           mirror=mirror, checksums=checksums, timeout=timeout)


def load_idx_images(source, split="train", root=None, download=False, normalize=True,
                    flatten=True, *, mirror=None, checksums=None, timeout=30.0):
    """Load one split of an MNIST-style data set as ``(images, labels)``.

    images: float32 in [0, 1] (``normalize``; else the stored uint8), shaped (n, 784) or, without
    ``flatten``, (n, 28, 28). labels: uint8, shaped (n,). The files are found by
    ``sources.locate``; with ``download=True`` missing files are fetched from ``mirror`` (default:
    ``NEEDLE_EDU_DATA_MIRROR``, then the data set's mirrors) and checked against ``checksums``.
    """
    images_path, labels_path = locate(source, split, root, download, mirror, checksums, timeout)
    images, labels = read_idx(images_path), read_idx(labels_path)
    _check_images_and_labels(images, labels, images_path, labels_path, len(source.classes))
    if flatten:
        images = images.reshape(len(images), -1)
    if normalize:
        images = images.astype(np.float32)
        images /= 255
    return images, labels


def _check_images_and_labels(images, labels, images_path, labels_path, num_classes):
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"{images_path}: expected uint8 images shaped (n, height, width), "
                         f"got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.shape != images.shape[:1]:
        raise ValueError(f"{labels_path}: expected {len(images)} uint8 labels to match "
                         f"{images_path}, got {labels.dtype} {labels.shape}")
    if num_classes and labels.size and labels.max() >= num_classes:
        raise ValueError(f"{labels_path}: label {labels.max()} is not below the number of "
                         f"classes, {num_classes}")
