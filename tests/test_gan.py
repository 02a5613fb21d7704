"""GANs in the library (issue 18): GANLoss and LeakyReLU against torch, the 2-D and DCGAN models,
the alternating steps (each updates only its own network; one round matches torch's), and the
Fréchet distance (against scipy's sqrtm-based formula, on known cases, on images).

ConvTranspose against torch is tested in test_conv.py (test_conv_transpose_matches_torch).
"""
import numpy as np
import pytest
import torch

from needle_edu import Tensor, init, metrics, nn, optim
from needle_edu.models.gan import (DCGANDiscriminator, DCGANGenerator, GaussianTarget, LinearGenerator,
                                   MLPDiscriminator, discriminator_step, generate, generator_step, train_gan)

scipy_linalg = pytest.importorskip("scipy.linalg", reason="scipy gives the reference Fréchet formula")


def tensor(array, device="cpu", dtype="float64", requires_grad=True):
    return Tensor(np.asarray(array), device=device, dtype=dtype, requires_grad=requires_grad)


# ------------------------------------------------------------------ GANLoss, LeakyReLU

@pytest.mark.parametrize("device", ["numpy", "cpu"])
@pytest.mark.parametrize("real", [True, False])
def test_gan_loss_value_and_gradient_match_torch_bce_with_logits(device, real):
    logits = np.random.default_rng(0).standard_normal((7, 1)) * 3
    logits[0, 0], logits[1, 0] = 60.0, -60.0  # far out: the loss must stay finite and exact
    ours = tensor(logits, device)
    loss = nn.GANLoss()(ours, real)
    loss.backward()
    theirs = torch.tensor(logits, requires_grad=True)
    target = torch.ones_like(theirs) if real else torch.zeros_like(theirs)
    want = torch.nn.functional.binary_cross_entropy_with_logits(theirs, target)
    want.backward()
    np.testing.assert_allclose(loss.item(), want.item(), rtol=1e-12)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_gan_loss_averages_over_every_element_in_float32():
    logits = np.linspace(-4, 4, 12).reshape(3, 4).astype("float32")
    found = nn.GANLoss()(Tensor(logits, device="cpu"), False).item()
    np.testing.assert_allclose(found, np.mean(np.log1p(np.exp(logits.astype("float64")))), rtol=1e-6)


def test_leaky_relu_matches_torch():
    x = np.random.default_rng(1).standard_normal((4, 5))
    ours = tensor(x)
    nn.LeakyReLU(0.2)(ours).sum().backward()
    theirs = torch.tensor(x, requires_grad=True)
    want = torch.nn.functional.leaky_relu(theirs, 0.2)
    want.sum().backward()
    np.testing.assert_allclose(nn.LeakyReLU(0.2)(tensor(x)).numpy(), want.detach().numpy())
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy())


# ------------------------------------------------------------------ models

def test_the_linear_generator_draws_the_gaussian_its_weights_describe():
    init.manual_seed(0)
    generator = LinearGenerator(device="numpy", dtype="float64")
    mean, cov = generator.mean_and_cov()
    samples = generate(generator, 200000)
    np.testing.assert_allclose(samples.mean(axis=0), mean, atol=0.02)
    np.testing.assert_allclose(np.cov(samples, rowvar=False), cov, rtol=0.03, atol=0.02)
    target = GaussianTarget()
    drawn = target.sample(200000, np.random.default_rng(0))
    np.testing.assert_allclose(np.cov(drawn, rowvar=False), target.cov, rtol=0.02, atol=0.02)


def test_dcgan_shapes_and_parameter_counts_match_torch():
    init.manual_seed(0)
    generator, discriminator = DCGANGenerator(32, (64, 32), device="cpu"), DCGANDiscriminator((32, 64), device="cpu")
    images = generator(Tensor(np.zeros((3, 32), "float32"), device="cpu"))
    assert images.shape == (3, 1, 28, 28) and np.abs(images.numpy()).max() <= 1
    assert discriminator(images).shape == (3, 1)
    torch_g = torch.nn.Sequential(torch.nn.Linear(32, 64 * 49), torch.nn.BatchNorm2d(64),
                                  torch.nn.ConvTranspose2d(64, 32, 4, 2, 1), torch.nn.BatchNorm2d(32),
                                  torch.nn.ConvTranspose2d(32, 1, 4, 2, 1))
    torch_d = torch.nn.Sequential(torch.nn.Conv2d(1, 32, 4, 2, 1), torch.nn.Conv2d(32, 64, 4, 2, 1),
                                  torch.nn.BatchNorm2d(64), torch.nn.Linear(64 * 49, 1))
    for ours, theirs in [(generator, torch_g), (discriminator, torch_d)]:
        assert sum(p.size for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())


# ------------------------------------------------------------------ the alternating steps

def snapshot(module):
    return [p.numpy().copy() for p in module.parameters()]


def changed(before, module):
    return [not np.array_equal(b, p.numpy()) for b, p in zip(before, module.parameters())]


def two_d_pair():
    init.manual_seed(3)
    return LinearGenerator(device="cpu", dtype="float64"), MLPDiscriminator(hidden=8, device="cpu", dtype="float64")


def test_each_step_updates_only_its_own_network():
    generator, discriminator = two_d_pair()
    g_opt, d_opt = optim.Adam(generator.parameters(), lr=0.01), optim.Adam(discriminator.parameters(), lr=0.01)
    rng = np.random.default_rng(0)
    real, z = tensor(GaussianTarget().sample(16, rng), requires_grad=False), tensor(rng.standard_normal((16, 2)))
    g_before, d_before = snapshot(generator), snapshot(discriminator)
    discriminator_step(generator, discriminator, real, z, nn.GANLoss(), d_opt)
    assert not any(changed(g_before, generator)) and all(changed(d_before, discriminator))
    assert all(p.grad is None for p in generator.parameters())  # detached: no gradient reached G
    g_before, d_before = snapshot(generator), snapshot(discriminator)
    generator_step(generator, discriminator, z, nn.GANLoss(), g_opt)
    assert all(changed(g_before, generator)) and not any(changed(d_before, discriminator))


def torch_copy(generator, discriminator):
    g = torch.nn.Linear(2, 2).double()
    d = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8), torch.nn.Tanh(),
                            torch.nn.Linear(8, 1)).double()
    with torch.no_grad():
        for ours, theirs in zip([generator, *[m for m in discriminator.layers if isinstance(m, nn.Linear)]],
                                [g, d[0], d[2], d[4]]):
            theirs.weight.copy_(torch.tensor(ours.weight.numpy().T))
            theirs.bias.copy_(torch.tensor(ours.bias.numpy().ravel()))
    return g, d


@pytest.mark.parametrize("non_saturating", [True, False])
def test_one_round_of_both_steps_matches_torch(non_saturating):
    generator, discriminator = two_d_pair()
    g, d = torch_copy(generator, discriminator)
    rng = np.random.default_rng(1)
    real, z1, z2 = GaussianTarget().sample(16, rng), rng.standard_normal((16, 2)), rng.standard_normal((16, 2))
    g_opt, d_opt = optim.SGD(generator.parameters(), lr=0.1), optim.SGD(discriminator.parameters(), lr=0.1)
    loss_fn = nn.GANLoss()
    d_loss = discriminator_step(generator, discriminator, tensor(real, requires_grad=False), tensor(z1), loss_fn, d_opt)
    g_loss = generator_step(generator, discriminator, tensor(z2), loss_fn, g_opt, non_saturating=non_saturating)

    bce = torch.nn.functional.binary_cross_entropy_with_logits
    tg_opt, td_opt = torch.optim.SGD(g.parameters(), lr=0.1), torch.optim.SGD(d.parameters(), lr=0.1)
    fake_logits, real_logits = d(g(torch.tensor(z1)).detach()), d(torch.tensor(real))
    want_d = bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))
    td_opt.zero_grad(), want_d.backward(), td_opt.step()
    logits = d(g(torch.tensor(z2)))
    want_g = bce(logits, torch.ones_like(logits)) if non_saturating else -bce(logits, torch.zeros_like(logits))
    tg_opt.zero_grad(), want_g.backward(), tg_opt.step()

    np.testing.assert_allclose([d_loss, g_loss], [want_d.item(), want_g.item()], rtol=1e-10)
    np.testing.assert_allclose(generator.weight.numpy(), g.weight.detach().numpy().T, rtol=1e-10)
    np.testing.assert_allclose(discriminator.layers[0].weight.numpy(), d[0].weight.detach().numpy().T, rtol=1e-10)


def test_train_gan_moves_the_2d_generator_towards_the_target():
    generator, discriminator = two_d_pair()
    target, rng = GaussianTarget(), np.random.default_rng(0)
    start = metrics.mean_cov_error(generate(generator, 5000), target.mean, target.cov)
    d_opt = optim.Adam(discriminator.parameters(), lr=0.01, beta1=0.5)
    history = train_gan(generator, discriminator, [target.sample(64, rng) for _ in range(300)], d_opt,
                        optim.Adam(generator.parameters(), lr=0.01, beta1=0.5))
    assert len(history.d_losses) == len(history.g_losses) == 300
    end = metrics.mean_cov_error(generate(generator, 5000), target.mean, target.cov)
    assert end[0] < 0.5 * start[0], (start, end)


# ------------------------------------------------------------------ the Fréchet distance

def reference_frechet(m1, c1, m2, c2):
    root = scipy_linalg.sqrtm(c1 @ c2)
    return float(((m1 - m2) ** 2).sum() + np.trace(c1 + c2 - 2 * np.real(root)))


def random_cov(rng, d, rank=None):
    a = rng.standard_normal((d, rank or d))
    return a @ a.T


@pytest.mark.parametrize("d", [1, 3, 16])
def test_frechet_distance_matches_the_sqrtm_formula(d):
    rng = np.random.default_rng(d)
    for _ in range(3):
        m1, m2, c1, c2 = rng.standard_normal(d), rng.standard_normal(d), random_cov(rng, d), random_cov(rng, d)
        np.testing.assert_allclose(metrics.frechet_distance(m1, c1, m2, c2), reference_frechet(m1, c1, m2, c2),
                                   rtol=1e-7)
    c1 = random_cov(rng, d, rank=max(1, d // 2))  # singular covariances (fewer samples than features)
    np.testing.assert_allclose(metrics.frechet_distance(m1, c1, m2, c2), reference_frechet(m1, c1, m2, c2),
                               rtol=1e-5, atol=1e-6)


def test_frechet_distance_on_known_cases():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 4)) @ rng.standard_normal((4, 4))
    assert abs(metrics.sample_frechet_distance(x, x)) < 1e-9
    shifts = [metrics.sample_frechet_distance(x, x + np.full(4, s)) for s in (0.5, 1.0, 2.0)]
    np.testing.assert_allclose(shifts, [4 * 0.25, 4 * 1.0, 4 * 4.0], rtol=1e-9)  # |shift|^2, same covariance
    np.testing.assert_allclose(metrics.frechet_distance([0.0], [[4.0]], [1.0], [[1.0]]), 1 + (2 - 1) ** 2)
    np.testing.assert_allclose(metrics.sample_frechet_distance(x, 3 * x), metrics.frechet_distance(
        x.mean(0), np.cov(x.T), 3 * x.mean(0), 9 * np.cov(x.T)), rtol=1e-9)
    with pytest.raises(ValueError, match="frechet_distance: means"):
        metrics.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="at least 2 samples"):
        metrics.gaussian_fit(np.zeros((1, 3)))


def test_mean_cov_error_of_the_target_itself_is_small():
    target = GaussianTarget()
    drawn = target.sample(100000, np.random.default_rng(0))
    mean_error, cov_error = metrics.mean_cov_error(drawn, target.mean, target.cov)
    assert mean_error < 0.02 and cov_error < 0.02
    assert metrics.mean_cov_error(drawn + [1.0, 0.0], target.mean, target.cov)[0] == pytest.approx(1.0, abs=0.02)
    assert metrics.mean_cov_error(drawn * 2, target.mean * 2, target.cov)[1] == pytest.approx(3.0, rel=0.02)


@pytest.fixture(scope="module")
def small_feature_cnn():
    return metrics.feature_cnn(train_size=1000, cache=False)


@pytest.fixture(scope="module")
def fashion():
    from needle_edu.data import load_fashion_mnist
    images, labels = load_fashion_mnist("test", flatten=False)
    return images[:, None], labels


def test_image_fid_is_small_between_real_sets_and_grows_with_damage(small_feature_cnn, fashion):
    images, labels = fashion
    real, other = images[:500], images[500:1000]
    rng = np.random.default_rng(0)

    def fid(generated):  # metrics.fid, with the real set's features computed once
        return metrics.sample_frechet_distance(real_features, metrics.cnn_features(small_feature_cnn, generated))

    real_features = metrics.cnn_features(small_feature_cnn, real)
    same = fid(other)
    noisy = [fid(np.clip(other + s * rng.standard_normal(other.shape), 0, 1)) for s in (0.1, 0.2, 0.4)]
    assert same < noisy[0] < noisy[1] < noisy[2], (same, noisy)
    collapsed = fid(np.repeat(other[:1], 500, axis=0))  # complete mode collapse
    one_class = fid(images[1000:][labels[1000:] == 7][:500])  # only sneakers
    assert 10 * same < one_class < collapsed, (same, one_class, collapsed)
    np.testing.assert_allclose(metrics.fid(real, real, small_feature_cnn), 0.0, atol=1e-9)


def test_the_feature_cnn_is_cached_in_the_users_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = metrics.feature_cnn(train_size=200, cache=True)
    stored = list((tmp_path / "needle_edu" / "models").glob("*.npz"))
    assert len(stored) == 1
    monkeypatch.setattr(metrics, "load_fashion_mnist", lambda *a, **k: pytest.fail("trained again"))
    again = metrics.feature_cnn(train_size=200, cache=True)
    for a, b in zip(metrics._state(first), metrics._state(again)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(ValueError, match="cnn_features: expected images"):
        metrics.cnn_features(again, np.zeros((2, 28, 28)))
