"""needle_edu.data's Datasets, DataLoader and transforms: every sample once per epoch, shuffled
orders that a seed repeats, exact flips and crops, and the MNIST-style datasets."""
import numpy as np
import pytest

import needle_edu as ndl
from needle_edu import init
from needle_edu.data import (DataLoader, Dataset, FashionMNISTDataset, MNISTDataset,
                             NDArrayDataset, RandomCrop, RandomFlipHorizontal, TensorDataset,
                             write_idx)


def numbered(n):
    """A dataset whose sample i is (i as a 2-vector, label i % 3), so a batch names its samples."""
    ids = np.arange(n, dtype="float64")
    return NDArrayDataset(np.stack([ids, -ids], axis=1), np.arange(n) % 3)


def epoch_ids(loader):
    return [[int(i) for i in x.numpy()[:, 0]] for x, _ in loader]


# ------------------------------------------------------------------ DataLoader


@pytest.mark.parametrize("n, batch_size", [(23, 1), (23, 5), (23, 7), (23, 23), (23, 30), (24, 6)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_every_sample_once_per_epoch(n, batch_size, shuffle):
    loader = DataLoader(numbered(n), batch_size=batch_size, shuffle=shuffle, seed=0)
    batches = epoch_ids(loader)
    assert len(batches) == len(loader) == -(-n // batch_size)
    assert sorted(sum(batches, [])) == list(range(n))
    assert all(len(b) == batch_size for b in batches[:-1])
    if not shuffle:
        assert sum(batches, []) == list(range(n))


@pytest.mark.parametrize("n, batch_size", [(23, 5), (23, 7), (23, 30), (24, 6)])
def test_drop_last_keeps_only_full_batches(n, batch_size):
    loader = DataLoader(numbered(n), batch_size=batch_size, shuffle=True, drop_last=True, seed=1)
    batches = epoch_ids(loader)
    assert len(batches) == len(loader) == n // batch_size
    ids = sum(batches, [])
    assert all(len(b) == batch_size for b in batches)
    assert len(ids) == len(set(ids)) == n // batch_size * batch_size and set(ids) <= set(range(n))


def test_batches_are_tuples_of_tensors_on_the_device():
    x, y = next(iter(DataLoader(numbered(10), batch_size=4, device="numpy")))
    assert isinstance(x, ndl.Tensor) and isinstance(y, ndl.Tensor) and not x.requires_grad
    assert x.shape == (4, 2) and y.shape == (4,) and x.device == ndl.cpu_numpy()
    assert x.dtype == "float64" and y.dtype == "float32"  # float64 data stays float64
    np.testing.assert_array_equal(y.numpy(), [0, 1, 2, 0])
    x, _ = next(iter(DataLoader(numbered(10), batch_size=4, dtype="float32")))
    assert x.dtype == "float32"


def test_single_arrays_give_one_tuples():
    (x,) = next(iter(DataLoader(NDArrayDataset(np.arange(6.0)), batch_size=6)))
    np.testing.assert_array_equal(x.numpy(), np.arange(6.0))


def test_shuffling_reorders_each_epoch_and_a_seed_repeats_the_orders():
    loader = DataLoader(numbered(50), batch_size=50, shuffle=True, seed=3)
    first, second = epoch_ids(loader)[0], epoch_ids(loader)[0]
    assert first != list(range(50)) and second != first
    again = DataLoader(numbered(50), batch_size=50, shuffle=True, seed=3)
    assert epoch_ids(again)[0] == first and epoch_ids(again)[0] == second
    other = DataLoader(numbered(50), batch_size=50, shuffle=True, seed=4)
    assert epoch_ids(other)[0] != first
    generator = DataLoader(numbered(50), batch_size=50, shuffle=True, seed=np.random.default_rng(3))
    assert epoch_ids(generator)[0] == first


def test_without_a_seed_the_order_follows_init_manual_seed():
    init.manual_seed(11)
    first = epoch_ids(DataLoader(numbered(30), batch_size=30, shuffle=True))[0]
    init.manual_seed(11)
    assert epoch_ids(DataLoader(numbered(30), batch_size=30, shuffle=True))[0] == first


@pytest.mark.parametrize("batch_size", [0, -1, 2.5])
def test_bad_batch_size_is_refused(batch_size):
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        DataLoader(numbered(3), batch_size=batch_size)


# ------------------------------------------------------------------ Datasets


def test_dataset_base_class_and_ndarray_dataset():
    with pytest.raises(NotImplementedError, match="Dataset does not define __len__"):
        len(Dataset())
    with pytest.raises(ValueError, match=r"different lengths \[3, 2\]"):
        NDArrayDataset(np.zeros(3), np.zeros(2))
    assert TensorDataset is NDArrayDataset
    data = TensorDataset(ndl.Tensor(np.arange(6.0).reshape(3, 2)), [7, 8, 9],
                         transforms=[lambda x: 10 * x])
    x, y = data[1]
    np.testing.assert_array_equal(x, [20.0, 30.0])  # the transform applies to the first array
    assert y == 8 and len(data) == 3


# ------------------------------------------------------------------ transforms


def image(rng, shape=(5, 6, 2)):
    return rng.uniform(0.1, 1.0, shape)


def test_flip_with_p_1_mirrors_and_with_p_0_does_nothing(rng):
    img = image(rng)
    np.testing.assert_array_equal(RandomFlipHorizontal(p=1.0)(img), img[:, ::-1, :])
    np.testing.assert_array_equal(RandomFlipHorizontal(p=0.0)(img), img)
    batch = image(rng, (3, 5, 6, 2))
    np.testing.assert_array_equal(RandomFlipHorizontal(p=1.0)(batch), batch[:, :, ::-1, :])


def test_flip_happens_with_probability_p(rng):
    img = image(rng)
    init.manual_seed(0)
    flips = [not np.array_equal(RandomFlipHorizontal(p=0.3)(img), img) for _ in range(2000)]
    assert abs(np.mean(flips) - 0.3) < 0.04


def shifted(img, down, right):
    """``img`` moved by (down, right) pixels as RandomCrop does: out[i, j] = img[i + down, j + right]."""
    height, width = img.shape[:2]
    out = np.zeros_like(img)
    for i in range(height):
        for j in range(width):
            if 0 <= i + down < height and 0 <= j + right < width:
                out[i, j] = img[i + down, j + right]
    return out


def test_crop_shifts_the_content_within_the_padding_and_keeps_the_shape(rng):
    img = image(rng)
    init.manual_seed(0)
    seen = set()
    for _ in range(60):
        out = RandomCrop(padding=2)(img)
        assert out.shape == img.shape
        matches = [(d, r) for d in range(-2, 3) for r in range(-2, 3)
                   if np.array_equal(out, shifted(img, d, r))]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) > 10  # many of the 25 shifts occur
    np.testing.assert_array_equal(RandomCrop(padding=0)(img), img)
    assert RandomCrop(padding=1)(image(rng, (4, 5, 6, 1))).shape == (4, 5, 6, 1)


def test_transforms_repeat_under_manual_seed(rng):
    img = image(rng)
    transforms = [RandomFlipHorizontal(), RandomCrop(padding=2)]
    runs = []
    for _ in range(2):
        init.manual_seed(5)
        runs.append([NDArrayDataset(img[None], transforms=transforms)[0][0] for _ in range(5)])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ MNIST-style datasets


def test_mnist_dataset_reads_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=7, dtype=np.uint8)
    (tmp_path / "mnist").mkdir()
    write_idx(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz", labels)
    data = MNISTDataset("test", root=tmp_path, transforms=[RandomFlipHorizontal(p=1.0)])
    x, y = data[3]
    assert len(data) == 7 and x.shape == (28, 28, 1) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, :, 0], images[3][:, ::-1] / 255, rtol=1e-6)
    assert y == labels[3] and isinstance(y, int) and data.classes[y] == str(y)


@pytest.fixture(scope="module")
def fashion_mnist_test():
    try:
        return FashionMNISTDataset("test")
    except FileNotFoundError as error:
        pytest.skip(f"Fashion-MNIST is not available (Debian package dataset-fashion-mnist): {error}")


def test_fashion_mnist_dataset(fashion_mnist_test):
    data = fashion_mnist_test
    assert len(data) == 10_000 and data.images.shape == (10_000, 28, 28, 1)
    x, y = data[0]
    assert x.shape == (28, 28, 1) and x.dtype == np.float32 and isinstance(y, int)
    assert data.images.min() == 0.0 and data.images.max() == 1.0
    assert set(np.unique(data.labels)) == set(range(10)) and len(data.classes) == 10
    xs, ys = next(iter(DataLoader(data, batch_size=32, shuffle=True, seed=0)))
    assert xs.shape == (32, 28, 28, 1) and ys.shape == (32,)
