"""How good are generated samples? Measured, not eyeballed: the Fréchet distance between the
Gaussians fitted to real and generated samples, in the feature space of a trained CNN.

FID (Heusel et al., 2017) uses Inception-v3 features of ImageNet photos. The course's own
version uses a05's ``SmallCNN`` trained on Fashion-MNIST: ``feature_cnn()`` trains it once and
keeps its weights in the per-user cache (``python -m needle_edu.metrics`` does that ahead of
time); nothing of it is part of the repository.
"""
import os
import sys
import tempfile
import time

import numpy as np

from . import init, nn, optim, train
from .autograd import Tensor, no_grad
from .data import DataLoader, NDArrayDataset, load_fashion_mnist
from .data.sources import cache_root
from .models.cnn import SmallCNN

FEATURE_TRAIN_SIZE = 12000  # one epoch on these many training images: about 85% test accuracy


# ------------------------------------------------------------------ the formula

def gaussian_fit(samples):
    """The mean (d,) and covariance (d, d) of ``samples`` (n, d), in float64."""
    x = np.asarray(samples, dtype="float64").reshape(len(samples), -1)
    if len(x) < 2:
        raise ValueError(f"gaussian_fit: need at least 2 samples to estimate a covariance, got {len(x)}")
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def frechet_distance(mean1, cov1, mean2, cov2):
    """The squared Fréchet (2-Wasserstein) distance between N(mean1, cov1) and N(mean2, cov2):
    |mean1 - mean2|^2 + tr(cov1 + cov2 - 2 (cov1 cov2)^(1/2)).

    tr((cov1 cov2)^(1/2)) is the sum of the square roots of the eigenvalues of cov1 cov2, which
    are those of the symmetric s cov2 s with s = cov1^(1/2): no non-symmetric matrix root needed.
    """
    mean1, mean2 = np.atleast_1d(np.asarray(mean1, "float64")), np.atleast_1d(np.asarray(mean2, "float64"))
    cov1, cov2 = np.atleast_2d(np.asarray(cov1, "float64")), np.atleast_2d(np.asarray(cov2, "float64"))
    d = mean1.shape[0]
    if mean2.shape != (d,) or cov1.shape != (d, d) or cov2.shape != (d, d):
        raise ValueError(f"frechet_distance: means {mean1.shape}, {mean2.shape} and covariances "
                         f"{cov1.shape}, {cov2.shape} do not describe two Gaussians of one dimension")
    values, vectors = np.linalg.eigh(cov1)
    root1 = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    middle = np.linalg.eigvalsh(root1 @ cov2 @ root1)
    cross = np.sqrt(np.clip(middle, 0, None)).sum()
    return float(((mean1 - mean2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2 * cross)


def sample_frechet_distance(a, b):
    """The Fréchet distance between Gaussians fitted to samples ``a`` (n, d) and ``b`` (m, d)."""
    return frechet_distance(*gaussian_fit(a), *gaussian_fit(b))


def mean_cov_error(samples, mean, cov):
    """How far ``samples`` (n, d) are from the Gaussian N(mean, cov): the distance between the
    means and the Frobenius norm of the covariances' difference relative to that of ``cov``."""
    found_mean, found_cov = gaussian_fit(samples)
    cov = np.asarray(cov, "float64")
    return (float(np.linalg.norm(found_mean - np.asarray(mean, "float64"))),
            float(np.linalg.norm(found_cov - cov) / np.linalg.norm(cov)))


# ------------------------------------------------------------------ the feature network

def _cache_file(train_size, epochs, seed):
    return cache_root() / "models" / f"fashion_smallcnn_{train_size}x{epochs}_seed{seed}.npz"


def _state(model):
    """Every parameter and batch-norm running statistic of ``model``, in a fixed order."""
    tensors = list(model.parameters())
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            tensors += [module.running_mean, module.running_var]
    return tensors


def _save(model, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as handle:
        np.savez(handle, *[t.numpy() for t in _state(model)])
    os.replace(handle.name, path)


def _load(model, path):
    with np.load(path) as stored:
        arrays = [stored[f"arr_{i}"] for i in range(len(stored.files))]
    tensors = _state(model)
    if [a.shape for a in arrays] != [t.shape for t in tensors]:
        raise ValueError(f"feature_cnn: {path} does not hold this network's weights; delete it to retrain")
    for tensor, array in zip(tensors, arrays):
        tensor.data = Tensor(array, device=tensor.device, dtype=tensor.dtype, requires_grad=False)


def feature_cnn(train_size=FEATURE_TRAIN_SIZE, epochs=1, seed=0, cache=True, device="cpu", verbose=False):
    """a05's SmallCNN trained to classify Fashion-MNIST (Adam, minibatches of 64), in eval mode.

    With ``cache`` the weights are read from, or after training written to, the per-user cache
    (``$XDG_CACHE_HOME/needle_edu/models``); training takes 10 to 20 s on 2 cores.
    """
    init.manual_seed(seed)
    model = SmallCNN(device=device)
    path = _cache_file(train_size, epochs, seed)
    if cache and path.exists():
        _load(model, path)
        return model.eval()
    images, labels = load_fashion_mnist("train", flatten=False)
    start = time.perf_counter()
    loader = DataLoader(NDArrayDataset(images[:train_size, None], labels[:train_size]), batch_size=64,
                        shuffle=True, seed=seed, device=device)
    optimizer = optim.Adam(model.parameters(), lr=0.002)
    for _ in range(epochs):
        trained = train.train_epoch(model, loader, nn.SoftmaxLoss(), optimizer, progress=False)
    if verbose:
        print(f"feature CNN trained on {train_size} images in {time.perf_counter() - start:.0f} s "
              f"(train accuracy {trained.accuracy:.1%})")
    if cache:
        try:
            _save(model, path)
        except OSError as error:  # a read-only home: the network still works, just not kept
            if verbose:
                print(f"feature CNN not cached ({error})")
    return model.eval()


def cnn_features(model, images, batch_size=500):
    """The features FID compares: the channels of ``model``'s last convolution block (before its
    classifier), averaged over positions; ``images`` (N, 1, 28, 28) with pixels in [0, 1]."""
    images = np.asarray(images, dtype="float32")
    if images.ndim != 4 or images.shape[1:] != (1, 28, 28):
        raise ValueError(f"cnn_features: expected images (N, 1, 28, 28), got shape {images.shape}")
    device = model.parameters()[0].device
    body = model.layers[:-2]  # drop Flatten and the classifier
    model.eval()
    features = []
    with no_grad():
        for i in range(0, len(images), batch_size):
            x = Tensor(images[i:i + batch_size], device=device, requires_grad=False)
            for layer in body:
                x = layer(x)
            features.append(x.mean((2, 3)).numpy())
    return np.concatenate(features).astype("float64")


def fid(real_images, generated_images, model=None):
    """The course's FID: the Fréchet distance between ``real_images`` and ``generated_images``
    (each (N, 1, 28, 28), pixels in [0, 1]) in the features of ``model`` (``feature_cnn()``)."""
    model = model or feature_cnn()
    return sample_frechet_distance(cnn_features(model, real_images), cnn_features(model, generated_images))


def main(argv=None):
    """``python -m needle_edu.metrics``: train the feature network now and cache it."""
    start = time.perf_counter()
    feature_cnn(verbose=True)
    path = _cache_file(FEATURE_TRAIN_SIZE, 1, 0)
    print(f"feature CNN cached at {path} ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
