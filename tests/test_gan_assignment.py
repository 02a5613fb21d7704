"""Assignment a09 (generative adversarial networks): its figures, its student build, its notebook,
and the Fréchet target that a working GAN meets and broken ones miss.

The course model itself (release, grading of correct, blank and wrong submissions, leaks) is
proved for a09 with every other assignment in test_course_pipeline.py.
"""
import io
import re
from pathlib import Path

import numpy as np
import pytest
from assignment_checks import check_nbgrader_source, check_student_build, printed_number, read_source, run_quick

from needle_edu import course, init, metrics
from needle_edu.models.gan import DCGANGenerator, generate
from needle_edu.viz.gan import animate_2d_gan, plot_2d_gan, plot_gan_losses, plot_samples_per_epoch

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "a09_generative_adversarial_networks" / "a09_generative_adversarial_networks.md"
PIECES = ["GANLoss.forward", "discriminator_step", "generator_step"]


def fid_targets():
    """(quick, full) FID targets as the notebook states them."""
    found = re.search(r"FID_TARGET, FID_SAMPLES = \(([\d.]+), (\d+)\) if QUICK else \(([\d.]+), (\d+)\)",
                      NOTEBOOK.read_text())
    return (float(found.group(1)), int(found.group(2))), (float(found.group(3)), int(found.group(4)))


# ------------------------------------------------------------------ figures

def snapshots():
    rng = np.random.default_rng(0)
    return [(step, rng.standard_normal((50, 2)) * (1 + step / 100)) for step in (0, 100, 200)]


def test_the_2d_figures_show_generated_samples_over_the_target():
    target = np.random.default_rng(1).standard_normal((80, 2)) + 3
    fig = plot_2d_gan(snapshots(), target, ncols=2)
    shown = [ax for ax in fig.axes if ax.collections]
    assert [ax.get_title() for ax in shown] == ["step 0", "step 100", "step 200"]
    np.testing.assert_allclose(shown[2].collections[1].get_offsets(), snapshots()[2][1])
    np.testing.assert_allclose(shown[0].collections[0].get_offsets(), target)
    fig.savefig(io.BytesIO(), format="png")
    html = animate_2d_gan(snapshots(), target)
    assert html.count("data:image/png;base64") == 3  # one embedded frame per snapshot: plays offline
    assert "font-awesome" not in html and "https://" not in html


def test_the_sample_grid_has_a_row_per_epoch_and_the_losses_a_curve_per_player():
    grids = [np.full((12, 28, 28), e / 3.0) for e in range(3)]
    fig = plot_samples_per_epoch(grids, images_per_row=5)
    assert len(fig.axes) == 15 and fig.axes[5].get_ylabel() == "epoch 2"
    np.testing.assert_allclose(fig.axes[10].get_images()[0].get_array(), grids[2][0])
    fig = plot_gan_losses([1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0], window=2)
    lines = fig.axes[0].get_lines()
    np.testing.assert_allclose(lines[1].get_ydata(), [1.5, 2.5, 3.5])  # the discriminator's running mean
    np.testing.assert_allclose(lines[3].get_ydata(), [3.5, 2.5, 1.5])
    np.testing.assert_allclose(lines[4].get_ydata(), [2 * np.log(2)] * 2)
    fig.savefig(io.BytesIO(), format="png")


# ------------------------------------------------------------------ the Fréchet target

@pytest.mark.slow
def test_broken_generators_miss_the_fid_targets():
    """An untrained generator and a completely collapsed one (one image for every z) fail both
    targets; the notebook's run (below) shows that a trained one meets the quick target."""
    from needle_edu.data import load_fashion_mnist

    (quick, quick_n), (full, full_n) = fid_targets()
    model = metrics.feature_cnn()
    images, labels = load_fashion_mnist("test", flatten=False)
    real = metrics.cnn_features(model, images[:full_n, None])  # metrics.fid, each set's features computed once
    init.manual_seed(2)
    untrained = (generate(DCGANGenerator(latent_dim=32, channels=(32, 16), device="cpu"), full_n) + 1) / 2
    assert metrics.sample_frechet_distance(real, metrics.cnn_features(model, untrained)) > 5 * max(quick, full)
    for index in range(3):  # collapsed onto one real image (of three classes): the same features every time
        collapsed = np.repeat(metrics.cnn_features(model, images[full_n + index:full_n + index + 1, None]), full_n, 0)
        assert metrics.sample_frechet_distance(real, collapsed) > max(quick, full)
        assert metrics.sample_frechet_distance(real[:quick_n], collapsed[:quick_n]) > quick
    other = metrics.cnn_features(model, images[full_n:2 * full_n, None])
    assert metrics.sample_frechet_distance(real, other) < 0.05 * full  # real images meet it easily


# ------------------------------------------------------------------ the student build

def test_a09_pieces_are_the_intended_ones():
    assert course.pieces("a09") == PIECES


def test_the_student_build_stubs_the_a09_pieces_and_keeps_the_rest(tmp_path):
    setup = """
        from needle_edu import nn, optim, Tensor
        from needle_edu.models import gan
        g, d = gan.LinearGenerator(device="cpu"), gan.MLPDiscriminator(device="cpu")
        z = Tensor(np.zeros((2, 2)), device="cpu")
    """
    rest = """
        # a05's layers: the reference
        images = gan.DCGANGenerator(device="cpu")(Tensor(np.zeros((2, 32)), device="cpu", dtype="float32"))
        assert images.shape == (2, 1, 28, 28)
    """
    check_student_build(NOTEBOOK, PIECES, tmp_path, REPO, setup,
                        ["nn.GANLoss()(z, True)",
                         "gan.discriminator_step(g, d, z, z, nn.GANLoss(), optim.SGD(d.parameters(), lr=0.1))",
                         "gan.generator_step(g, d, z, nn.GANLoss(), optim.SGD(g.parameters(), lr=0.1))"], rest)


# ------------------------------------------------------------------ the notebook

def test_the_notebook_is_a_valid_nbgrader_source():
    check_nbgrader_source(read_source(NOTEBOOK), ["answer_mode_collapse", "discriminator_step", "gan_loss",
                                                  "generator_step"], hidden_cells=3, total=60)


@pytest.mark.slow
def test_the_source_notebook_trains_both_gans_to_their_targets(tmp_path):
    # the 2-D losses, the sample grid, the DCGAN losses (the animation is HTML)
    printed = run_quick(NOTEBOOK, tmp_path, timeout=600, images=3)
    (quick, _), _ = fid_targets()
    assert printed_number("FID of the generator", printed) < quick, printed
    untrained = printed_number("FID of an untrained generator", printed)
    collapsed = printed_number("FID of a completely collapsed generator", printed)
    assert untrained > quick and collapsed > quick, printed
