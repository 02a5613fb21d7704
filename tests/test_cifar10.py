"""CIFAR-10 (needle_edu.data.cifar10) on generated python-pickle batches laid out as the real ones:
read from an unpacked folder, from the archive, and downloaded from a server on 127.0.0.1."""
import hashlib
import io
import pickle
import tarfile

import numpy as np
import pytest
from test_data import closed_port_url, isolated_environment, mirror  # noqa: F401  (fixtures)

from needle_edu.data import CIFAR10Dataset, DataLoader, DownloadError, load_cifar10
from needle_edu.data.cifar10 import ARCHIVE, BATCHES, FOLDER, read_batch

PER_BATCH = 4


def batch_arrays(index):
    """The HWC images and labels of generated batch ``index`` (0-4 train, 5 test)."""
    rng = np.random.default_rng(index)
    return (rng.integers(0, 256, size=(PER_BATCH, 32, 32, 3), dtype=np.uint8),
            rng.integers(0, 10, size=PER_BATCH, dtype=np.uint8))


def pickled_batch(index):
    """A batch as the archive stores it: rows of 3072 bytes, the red plane, then green, then blue."""
    images, labels = batch_arrays(index)
    rows = images.transpose(0, 3, 1, 2).reshape(PER_BATCH, 3072)
    return pickle.dumps({b"batch_label": b"generated", b"labels": [int(v) for v in labels],
                         b"data": rows, b"filenames": [b"x.png"] * PER_BATCH})


def expected(split):
    parts = [batch_arrays(i) for i in (range(5) if split == "train" else [5])]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def write_folder(data_root):
    folder = data_root / "cifar-10" / FOLDER
    folder.mkdir(parents=True)
    for index, name in enumerate(BATCHES["train"] + BATCHES["test"]):
        (folder / name).write_bytes(pickled_batch(index))


def write_archive(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for index, name in enumerate(BATCHES["train"] + BATCHES["test"]):
            data = pickled_batch(index)
            info = tarfile.TarInfo(f"{FOLDER}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return "md5:" + hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("split", ["train", "test"])
def test_batches_are_read_from_an_unpacked_folder_pixel_for_pixel(tmp_path, split):
    write_folder(tmp_path)
    images, labels = load_cifar10(split, root=tmp_path, normalize=False)
    want_images, want_labels = expected(split)
    assert images.shape == (PER_BATCH * (5 if split == "train" else 1), 32, 32, 3)
    np.testing.assert_array_equal(images, want_images)
    np.testing.assert_array_equal(labels, want_labels)
    normalized, _ = load_cifar10(split, root=tmp_path)
    assert normalized.dtype == np.float32
    np.testing.assert_allclose(normalized, want_images / 255, rtol=1e-6)


def test_the_archive_is_unpacked_on_first_use(tmp_path):
    write_archive(tmp_path / "cifar-10" / ARCHIVE)
    images, labels = load_cifar10("test", root=tmp_path, normalize=False)
    np.testing.assert_array_equal(images, expected("test")[0])
    assert (tmp_path / "cifar-10" / FOLDER / "test_batch").is_file()


def test_download_from_a_mirror_then_read_from_disk(tmp_path, mirror, closed_port_url):  # noqa: F811
    served, url = mirror
    checksum = write_archive(served / ARCHIVE)
    images, labels = load_cifar10("train", root=tmp_path / "data", download=True, mirror=url,
                                  checksums={ARCHIVE: checksum}, normalize=False)
    np.testing.assert_array_equal(labels, expected("train")[1])
    np.testing.assert_array_equal(images, expected("train")[0])
    again = load_cifar10("test", root=tmp_path / "data", download=True, mirror=closed_port_url)
    np.testing.assert_array_equal(again[1], expected("test")[1])


def test_a_download_with_the_wrong_checksum_is_refused(tmp_path, mirror):  # noqa: F811
    served, url = mirror
    write_archive(served / ARCHIVE)
    with pytest.raises(DownloadError, match="CIFAR-10"):
        load_cifar10("train", root=tmp_path / "data", download=True, mirror=url,
                     checksums={ARCHIVE: "md5:" + "0" * 32})
    assert not (tmp_path / "data" / "cifar-10" / FOLDER).exists()


def test_missing_data_and_a_bad_split_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"(?s)CIFAR-10: no folder holds cifar-10-batches-py/.*root argument.*download=True"):
        load_cifar10("train", root=tmp_path)
    with pytest.raises(ValueError, match="'train', 'test'"):
        load_cifar10("validation", root=tmp_path)


def test_a_file_that_is_not_a_batch_is_refused(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(ValueError, match=r"not a CIFAR-10 batch \(data of shape \(2, 100\)"):
        read_batch(path)


def test_the_dataset_serves_channels_first_images_after_transforms(tmp_path):
    write_folder(tmp_path)
    flipped = CIFAR10Dataset(train=False, root=tmp_path, transforms=[lambda img: img[:, ::-1]])
    image, label = flipped[1]
    want_images, want_labels = expected("test")
    assert image.shape == (3, 32, 32) and label == int(want_labels[1])
    np.testing.assert_allclose(image, want_images[1][:, ::-1].transpose(2, 0, 1) / 255, rtol=1e-6)
    x, y = next(iter(DataLoader(CIFAR10Dataset(train=True, root=tmp_path), batch_size=3)))
    assert x.shape == (3, 3, 32, 32) and y.shape == (3,)
