"""Datasets: indexable collections of samples, ``dataset[i]`` and ``len(dataset)``."""
import numpy as np

from ..autograd import Tensor


class Dataset:
    """A collection of samples: subclasses define ``__getitem__`` (sample i) and ``__len__``.

    ``transforms`` is a list of callables applied in order, by ``apply_transforms``, to the image
    (the input) of each sample as it is read, e.g. random flips for data augmentation.
    """

    def __init__(self, transforms=None):
        self.transforms = list(transforms or [])

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} does not define __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} does not define __len__")

    def apply_transforms(self, x):
        for transform in self.transforms:
            x = transform(x)
        return x


class NDArrayDataset(Dataset):
    """Samples cut from arrays along their first axis: ``dataset[i]`` is ``(a[i], b[i], ...)``.

    The arrays (numpy arrays, NDArrays or Tensors) must have one length; ``transforms`` apply to
    the entries of the first array. ``TensorDataset`` is PyTorch's name for the same class.
    """

    def __init__(self, *arrays, transforms=None):
        super().__init__(transforms)
        if not arrays:
            raise ValueError("NDArrayDataset: give at least one array")
        self.arrays = [a.numpy() if isinstance(a, Tensor) else np.asarray(a) for a in arrays]
        lengths = [len(a) for a in self.arrays]
        if len(set(lengths)) > 1:
            raise ValueError(f"NDArrayDataset: the arrays have different lengths {lengths}")

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        first, *rest = (a[index] for a in self.arrays)
        return (self.apply_transforms(first), *rest)


TensorDataset = NDArrayDataset
