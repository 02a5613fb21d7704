"""Assignment a05 (convolutional networks): its figures, its models, its student build and its notebook.

The course model itself (release, grading of correct, blank and wrong submissions, leaks) is
proved for a05 with every other assignment in test_course_pipeline.py.
"""
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from assignment_checks import check_nbgrader_source, check_student_build, printed_accuracy, read_source, run_quick

from needle_edu import Tensor, course, init, nn, ops
from needle_edu.models.cnn import ResNet9, SmallCNN
from needle_edu.viz import feature_maps, plot_feature_maps, plot_filters, plot_im2col, plot_loss_curve

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "a05_convolutional_networks" / "a05_convolutional_networks.md"
PIECES = ["BatchNorm2d.forward", "Conv.__init__", "Conv.forward", "Conv.gradient", "im2col"]


# ------------------------------------------------------------------ figures

def test_the_im2col_picture_shows_each_patch_as_a_row():
    image = np.arange(36, dtype="float32").reshape(6, 6)
    fig = plot_im2col(image, kernel_size=3, stride=1)
    matrix = fig.axes[1].get_images()[0].get_array()
    assert matrix.shape == (16, 9)
    np.testing.assert_array_equal(matrix[5], image[1:4, 1:4].ravel())  # patch (1, 1) is row 5
    outlined = [p for p in fig.axes[0].patches]
    assert len(outlined) == 3 and outlined[2].get_xy() == (0.5, 0.5)
    fig.savefig(io.BytesIO(), format="png")


def test_the_im2col_picture_draws_whatever_im2col_it_is_given():
    calls = []

    def traced(a, kernel_shape, stride=1, dilation=1):
        calls.append((a.shape, kernel_shape, stride))
        return ops.im2col(a, kernel_shape, stride, dilation)

    plot_im2col(np.zeros((8, 8)), kernel_size=2, stride=2, im2col=traced)
    assert calls == [((1, 8, 8, 1), (2, 2), 2)]


def test_filters_and_feature_maps_show_the_layers_values():
    init.manual_seed(0)
    model = SmallCNN(device="numpy")
    fig = plot_filters(model[0].conv.weight)
    shown = [ax.get_images()[0].get_array() for ax in fig.axes if ax.get_images()]
    assert len(shown) == 16
    np.testing.assert_allclose(shown[3], model[0].conv.weight.numpy()[:, :, 0, 3])
    image = np.random.default_rng(0).random((1, 28, 28)).astype("float32")
    model.eval()
    maps = feature_maps(model.layers[:4], image, device="numpy")
    assert [name for name, _ in maps] == ["ConvBN", "MaxPool2d", "ConvBN", "MaxPool2d"]
    assert [m.shape for _, m in maps] == [(16, 28, 28), (16, 14, 14), (32, 14, 14), (32, 7, 7)]
    with_grad = model.layers[0](Tensor(image[None], device="numpy")).numpy()[0]
    np.testing.assert_allclose(maps[0][1], with_grad, rtol=1e-6)
    plot_feature_maps(model.layers[:4], image, channels=4, device="numpy").savefig(io.BytesIO(), format="png")


def test_the_loss_curve_plots_every_batch_and_the_running_mean():
    fig = plot_loss_curve([3.0, 2.0, 1.0, 1.0], window=2, test_accuracy=0.9)
    raw, smooth = fig.axes[0].get_lines()
    np.testing.assert_allclose(raw.get_ydata(), [3, 2, 1, 1])
    np.testing.assert_allclose(smooth.get_ydata(), [2.5, 1.5, 1.0])
    assert "90.0%" in fig.axes[0].get_title()


# ------------------------------------------------------------------ models

def test_small_cnn_and_resnet9_shapes_and_parameter_counts_match_torch():
    init.manual_seed(0)
    small = SmallCNN(device="cpu")
    out = small(Tensor(np.zeros((2, 1, 28, 28), "float32"), device="cpu"))
    assert out.shape == (2, 10)
    resnet = ResNet9(device="cpu")
    assert resnet(Tensor(np.zeros((2, 3, 32, 32), "float32"), device="cpu")).shape == (2, 10)

    def block(c_in, c_out, k, s):
        return [torch.nn.Conv2d(c_in, c_out, k, s, k // 2), torch.nn.BatchNorm2d(c_out)]

    reference = torch.nn.Sequential(*block(3, 16, 7, 4), *block(16, 32, 3, 2), *block(32, 32, 3, 1),
                                    *block(32, 32, 3, 1), *block(32, 64, 3, 2), *block(64, 128, 3, 2),
                                    *block(128, 128, 3, 1), *block(128, 128, 3, 1),
                                    torch.nn.Linear(128, 128), torch.nn.Linear(128, 10))
    count = sum(int(np.prod(p.shape)) for p in resnet.parameters())
    assert count == sum(p.numel() for p in reference.parameters())


def test_resnet9_learns_a_tiny_batch():
    from needle_edu import optim

    init.manual_seed(1)
    model = ResNet9(device="cpu")
    x = Tensor(np.random.default_rng(0).random((8, 3, 32, 32)).astype("float32"), device="cpu")
    y = Tensor(np.arange(8) % 10, device="cpu", requires_grad=False)
    optimizer, loss_fn = optim.Adam(model.parameters(), lr=0.01), nn.SoftmaxLoss()
    losses = []
    for _ in range(15):
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0], losses


# ------------------------------------------------------------------ the student build

def test_a05_pieces_are_the_intended_ones():
    assert course.pieces("a05") == PIECES


def test_the_student_build_stubs_the_a05_pieces_and_keeps_the_rest(tmp_path):
    setup = """
        from needle_edu import nn, ops, Tensor
        from needle_edu.backend_ndarray import NDArray
        x = Tensor(np.ones((1, 4, 4, 1)), device="cpu", requires_grad=False)
    """
    rest = """
        y = nn.BatchNorm1d(2)(Tensor(np.arange(4.0).reshape(2, 2), dtype="float32"))  # not a piece of a05: the reference works
        np.testing.assert_allclose(y.numpy(), [[-1, -1], [1, 1]], atol=1e-3)
    """
    check_student_build(NOTEBOOK, PIECES, tmp_path, REPO, setup,
                        ["ops.im2col(NDArray(np.ones((1, 4, 4, 1))), (2, 2))", "nn.Conv(1, 2, 3)",
                         "nn.BatchNorm2d(2)(Tensor(np.ones((1, 2, 3, 3))))", "ops.max_pool2d(x, 2)"], rest)


# ------------------------------------------------------------------ the notebook

def test_the_notebook_is_a_valid_nbgrader_source():
    check_nbgrader_source(read_source(NOTEBOOK),
                          ["answer_im2col_memory", "answer_receptive_field", "batchnorm2d", "conv_gradient",
                           "conv_layer", "im2col"], hidden_cells=4, total=60)


@pytest.mark.slow
def test_the_source_notebook_runs_and_the_cnn_learns(tmp_path):
    printed = run_quick(NOTEBOOK, tmp_path, timeout=600, images=4)  # im2col, loss curve, filters, feature maps
    assert printed_accuracy(printed) >= 0.80, printed
