"""Generative adversarial networks: a generator G turns noise z into samples, a discriminator D
scores samples as real or generated, and the two train in turns, each with its own optimizer.

The course's 2-D example (a linear generator learning a Gaussian, an MLP discriminator), DCGAN's
convolutional pair for 28 x 28 images, and the alternating steps that train any such pair.
"""
from dataclasses import dataclass, field

import numpy as np

from .. import init, nn
from ..autograd import Tensor, no_grad
from ..course import student_implements


# ------------------------------------------------------------------ the 2-D example

class GaussianTarget:
    """The data of the 2-D example: x = z A + mean for z ~ N(0, I), so cov(x) = A^T A."""

    def __init__(self, A=((1.0, 2.0), (-0.2, 0.5)), mean=(2.0, 1.0)):
        self.A, self.mean = np.asarray(A, dtype="float64"), np.asarray(mean, dtype="float64")
        self.cov = self.A.T @ self.A

    def sample(self, n, rng):
        """``n`` samples (n, dim) drawn with the numpy Generator ``rng``."""
        return rng.standard_normal((n, len(self.mean))) @ self.A + self.mean


class LinearGenerator(nn.Linear):
    """G(z) = z W + b: it maps N(0, I) to the Gaussian of mean b and covariance W^T W, so it can
    match any Gaussian target exactly, and nothing else."""

    def __init__(self, dim=2, device=None, dtype="float32"):
        super().__init__(dim, dim, device=device, dtype=dtype)
        self.latent_dim = dim

    def mean_and_cov(self):
        """The mean and covariance of the samples this generator draws, read off its weights."""
        w = self.weight.numpy().astype("float64")
        return self.bias.numpy().astype("float64").ravel(), w.T @ w


class MLPDiscriminator(nn.Sequential):
    """Samples (N, dim) to one logit each (N, 1): two hidden layers of ``hidden`` tanh units."""

    def __init__(self, dim=2, hidden=32, device=None, dtype="float32"):
        super().__init__(nn.Linear(dim, hidden, device=device, dtype=dtype), nn.Tanh(),
                         nn.Linear(hidden, hidden, device=device, dtype=dtype), nn.Tanh(),
                         nn.Linear(hidden, 1, device=device, dtype=dtype))


# ------------------------------------------------------------------ DCGAN for 28 x 28 images

class Unflatten(nn.Module):
    """(N, C * H * W) to images (N, C, H, W)."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape((x.shape[0], *self.shape))


class DCGANGenerator(nn.Sequential):
    """Noise (N, latent_dim) to images (N, 1, 28, 28) in [-1, 1]: a linear layer to a 7 x 7 map,
    then two stride-2 transposed convolutions (7 -> 14 -> 28), batch norm and ReLU between,
    tanh at the end (DCGAN's recipe)."""

    def __init__(self, latent_dim=32, channels=(32, 16), device=None, dtype="float32"):
        c1, c2 = channels
        self.latent_dim = latent_dim
        opts = dict(device=device, dtype=dtype)
        super().__init__(
            nn.Linear(latent_dim, c1 * 7 * 7, **opts), Unflatten((c1, 7, 7)), nn.BatchNorm2d(c1, **opts), nn.ReLU(),
            nn.ConvTranspose(c1, c2, 4, stride=2, padding=1, **opts), nn.BatchNorm2d(c2, **opts), nn.ReLU(),
            nn.ConvTranspose(c2, 1, 4, stride=2, padding=1, **opts), nn.Tanh())


class DCGANDiscriminator(nn.Sequential):
    """Images (N, 1, 28, 28) to one logit each (N, 1): two stride-2 convolutions (28 -> 14 -> 7)
    with leaky ReLUs, batch norm on the second, then a linear layer (DCGAN's recipe)."""

    def __init__(self, channels=(16, 32), device=None, dtype="float32"):
        c1, c2 = channels
        opts = dict(device=device, dtype=dtype)
        super().__init__(
            nn.Conv(1, c1, 4, stride=2, padding=1, **opts), nn.LeakyReLU(0.2),
            nn.Conv(c1, c2, 4, stride=2, padding=1, **opts), nn.BatchNorm2d(c2, **opts), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(c2 * 7 * 7, 1, **opts))


# ------------------------------------------------------------------ training in turns

def noise(n, latent_dim, device=None, dtype="float32"):
    """A batch of generator inputs z ~ N(0, I), (n, latent_dim), from ``init``'s generator."""
    return init.normal(n, latent_dim, device=device, dtype=dtype)


@student_implements("a09")
def discriminator_step(generator, discriminator, real, z, loss_fn, d_optimizer):
    """One update of D: ``real`` samples labelled real, G(z) labelled generated. G(z) is
    detached, so the loss reaches no generator parameter. Returns the loss as a float."""
    # BEGIN SOLUTION a09
    fake = generator(z).detach()
    loss = loss_fn(discriminator(real), True) + loss_fn(discriminator(fake), False)
    d_optimizer.reset_grad()
    loss.backward()
    d_optimizer.step()
    return loss.item()
    # END SOLUTION


@student_implements("a09")
def generator_step(generator, discriminator, z, loss_fn, g_optimizer, non_saturating=True):
    """One update of G: D(G(z)) pushed towards "real" (the non-saturating loss), or, with
    ``non_saturating=False``, minus D's loss on generated samples (the minimax game's own, which
    saturates while D wins). Gradients pass through D; only G's optimizer steps."""
    # BEGIN SOLUTION a09
    logits = discriminator(generator(z))
    loss = loss_fn(logits, True) if non_saturating else -loss_fn(logits, False)
    g_optimizer.reset_grad()
    loss.backward()
    g_optimizer.step()
    return loss.item()
    # END SOLUTION


@dataclass
class GANHistory:
    """Both losses after every step, for the loss curves."""

    d_losses: list = field(default_factory=list)
    g_losses: list = field(default_factory=list)


def train_gan(generator, discriminator, batches, d_optimizer, g_optimizer, loss_fn=None, history=None,
              d_steps=1, non_saturating=True):
    """Alternate ``d_steps`` discriminator steps and one generator step for each real batch of
    ``batches`` (Tensors or numpy arrays); fresh noise for every step. Returns the history."""
    loss_fn = loss_fn or nn.GANLoss()
    history = history or GANHistory()
    generator.train()
    discriminator.train()
    device, dtype = generator.parameters()[0].device, generator.parameters()[0].dtype
    for real in batches:
        if not isinstance(real, Tensor):
            real = Tensor(np.asarray(real), device=device, dtype=dtype, requires_grad=False)
        n = real.shape[0]
        for _ in range(d_steps):
            z = noise(n, generator.latent_dim, device=device, dtype=dtype)
            history.d_losses.append(discriminator_step(generator, discriminator, real, z, loss_fn, d_optimizer))
        z = noise(n, generator.latent_dim, device=device, dtype=dtype)
        history.g_losses.append(generator_step(generator, discriminator, z, loss_fn, g_optimizer, non_saturating))
    return history


def generate(generator, n=None, z=None, batch_size=500):
    """Samples of ``generator`` in eval mode, as a numpy array, recording no graph: from the
    noise ``z`` when given (the same z shows how one sample changes), else ``n`` fresh draws."""
    device, dtype = generator.parameters()[0].device, generator.parameters()[0].dtype
    if z is None:
        z = noise(n, generator.latent_dim, device=device, dtype=dtype)
    generator.eval()
    with no_grad():
        parts = [generator(z[i:i + batch_size]).numpy() for i in range(0, z.shape[0], batch_size)]
    generator.train()
    return np.concatenate(parts)
