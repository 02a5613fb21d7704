"""CIFAR-10: 60,000 color images of 32 x 32 pixels in 10 classes, as the python pickle batches
of its authors' archive (``data_batch_1`` ... ``data_batch_5`` for training, ``test_batch``).

The batches are read from ``cifar-10-batches-py/`` in a data folder, or from the archive
``cifar-10-python.tar.gz`` there (unpacked on first use), or downloaded (``download=True``).
"""
import pickle
import tarfile
from pathlib import Path

import numpy as np

from .dataset import Dataset
from .sources import DataSource, download_folder, fetch, places

ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

CIFAR10 = DataSource(
    name="cifar-10",
    title="CIFAR-10",
    splits={"train": (ARCHIVE,), "test": (ARCHIVE,)},
    checksums={ARCHIVE: ("md5:c58f30108f718f92721af3b95e74349a",)},
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
    classes=CIFAR10_CLASSES,
)


def read_batch(path):
    """One pickle batch: (images uint8 (n, 32, 32, 3), labels uint8 (n,))."""
    with open(path, "rb") as file:
        batch = pickle.load(file, encoding="bytes")
    data, labels = np.asarray(batch[b"data"], dtype=np.uint8), np.asarray(batch[b"labels"])
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise ValueError(f"{path}: not a CIFAR-10 batch (data of shape {data.shape}, "
                         f"{len(labels)} labels; expected (n, 3072) and n labels)")
    if labels.size and not (0 <= labels.min() and labels.max() < 10):
        raise ValueError(f"{path}: labels outside 0..9")
    # Each row holds the red plane, then green, then blue, each 32 x 32 row-major.
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels.astype(np.uint8)


def _unpack(archive, folder):
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith(FOLDER + "/")
                   and Path(m.name).name in BATCHES["train"] + BATCHES["test"]]
        tar.extractall(folder, members=members, filter="data")


def locate_batches(split="train", root=None, download=False, mirror=None, checksums=None, timeout=30.0):
    """The paths of ``split``'s batch files: from an unpacked folder, else an archive (unpacked
    next to it), else a download (``download=True``); otherwise FileNotFoundError."""
    CIFAR10.files(split)  # a ValueError naming the splits for any other
    names = BATCHES[split]
    searched = places(CIFAR10, root)
    for place in searched:
        batches = [place.folder / FOLDER / name for name in names]
        if not all(path.is_file() for path in batches) and (place.folder / ARCHIVE).is_file():
            _unpack(place.folder / ARCHIVE, place.folder)
        if all(path.is_file() for path in batches):
            return batches
    if not download:
        folders = "\n".join(f"  {place.folder}  ({place.origin})" for place in searched)
        raise FileNotFoundError(f"CIFAR-10: no folder holds {FOLDER}/ or {ARCHIVE}. Searched:\n{folders}\n"
                                f"Pass download=True to fetch it into {download_folder(CIFAR10, root)}.")
    (archive,) = fetch(CIFAR10, split, root, mirror, checksums, timeout)
    _unpack(archive, archive.parent)
    return [archive.parent / FOLDER / name for name in names]


def load_cifar10(split="train", root=None, download=False, normalize=True, *, mirror=None, checksums=None,
                 timeout=30.0):
    """CIFAR-10's ``"train"`` (50,000) or ``"test"`` (10,000) images and labels: images (n, 32, 32, 3),
    float32 in [0, 1] (``normalize``) or the stored uint8; labels uint8 (n,)."""
    parts = [read_batch(path) for path in locate_batches(split, root, download, mirror, checksums, timeout)]
    images, labels = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    return (images.astype(np.float32) / 255 if normalize else images), labels


class CIFAR10Dataset(Dataset):
    """CIFAR-10 as a Dataset: ``dataset[i]`` is ``(image, label)``, the image float32 in [0, 1]
    shaped (3, 32, 32), channels first as ``nn.Conv`` takes them (``transforms`` apply before,
    to the (32, 32, 3) image, as needle's do); the label an int."""

    classes = CIFAR10_CLASSES

    def __init__(self, train=True, root=None, download=False, transforms=None, **download_options):
        super().__init__(transforms)
        self.images, self.labels = load_cifar10("train" if train else "test", root, download, **download_options)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return np.ascontiguousarray(self.apply_transforms(self.images[index]).transpose(2, 0, 1)), int(self.labels[index])
