"""ONNX export: each layer, and whole networks, run in onnxruntime and compared with needle_edu's
own forward pass; the int8 Fashion-MNIST MLP against float32 for accuracy and file size."""
import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import needle_edu as ndl
from needle_edu import init, nn
from needle_edu.export import SUPPORTED, compare_int8, run_onnx, to_onnx
from needle_edu.viz.deployment import quantize_tensor

TOLERANCE = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-10, atol=1e-12)}


def tensor(shape, dtype, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape)
    return ndl.Tensor(x, dtype=dtype, requires_grad=False)


def trained_batchnorm(dim, dtype):
    """A BatchNorm1d whose running statistics and parameters are no longer their first values."""
    layer = nn.BatchNorm1d(dim, dtype=dtype)
    for seed in range(3):
        layer(tensor((16, dim), dtype, seed) * 3.0 + 1.0)
    layer.weight.data = tensor((dim,), dtype, 9)
    layer.bias.data = tensor((dim,), dtype, 10)
    return layer


def layernorm(dim, dtype):
    layer = nn.LayerNorm1d(dim, dtype=dtype)
    layer.weight.data, layer.bias.data = tensor((dim,), dtype, 11), tensor((dim,), dtype, 12)
    return layer


LAYERS = {
    "Linear": lambda dt: nn.Linear(6, 4, dtype=dt),
    "Linear-no-bias": lambda dt: nn.Linear(6, 4, bias=False, dtype=dt),
    "ReLU": lambda dt: nn.ReLU(),
    "Tanh": lambda dt: nn.Tanh(),
    "Sigmoid": lambda dt: nn.Sigmoid(),
    "BatchNorm1d": lambda dt: trained_batchnorm(6, dt),
    "LayerNorm1d": lambda dt: layernorm(6, dt),
    "Identity": lambda dt: nn.Identity(),
    "Dropout": lambda dt: nn.Dropout(0.5),
    "Residual": lambda dt: nn.Residual(nn.Sequential(nn.Linear(6, 6, dtype=dt), nn.Tanh())),
    "Checkpoint": lambda dt: nn.Checkpoint(nn.Linear(6, 3, dtype=dt)),
}


def assert_same_outputs(model, x, dtype, batch_sizes=(5,)):
    """The exported model, run in onnxruntime on batches of every size, matches ``model``."""
    exported = to_onnx(model, x)
    model.eval()
    for rows in batch_sizes:
        batch = tensor((rows, *x.shape[1:]), dtype, seed=rows)
        with ndl.no_grad():
            want = model(batch).numpy()
        got = run_onnx(exported, batch)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, **TOLERANCE[dtype])
    return exported


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_each_layer(name, dtype):
    init.manual_seed(0)
    assert_same_outputs(LAYERS[name](dtype), tensor((5, 6), dtype), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_flatten(dtype):
    assert_same_outputs(nn.Flatten(), tensor((5, 2, 3, 4), dtype), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_whole_network_for_any_batch_size(dtype):
    init.manual_seed(1)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(12, 16, dtype=dtype), trained_batchnorm(16, dtype), nn.ReLU(),
        nn.Residual(nn.Sequential(nn.Linear(16, 16, dtype=dtype), layernorm(16, dtype), nn.Tanh(),
                                  nn.Dropout(0.1))),
        nn.Linear(16, 10, dtype=dtype), nn.Sigmoid())
    model.train()
    exported = assert_same_outputs(model, tensor((4, 3, 4), dtype), dtype, batch_sizes=(1, 4, 33))
    ops = [node.op_type for node in exported.graph.node]
    assert ops.count("MatMul") == 3 and "BatchNormalization" in ops and "LayerNormalization" in ops
    onnx.checker.check_model(exported, full_check=True)


def test_export_leaves_the_mode_and_writes_the_file(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.5))
    model.train()
    to_onnx(model, tensor((2, 3), "float32"), tmp_path / "m.onnx")
    assert all(m.training for m in model.modules())
    assert onnx.load(tmp_path / "m.onnx").graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def test_what_cannot_be_exported_is_named():
    class Custom(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match=r"to_onnx: no converter for Custom; supported layers: .*Linear"):
        to_onnx(nn.Sequential(nn.Linear(3, 3), Custom()), tensor((2, 3), "float32"))
    with pytest.raises(TypeError, match="to_onnx: example_input must be a Tensor, got ndarray"):
        to_onnx(nn.Linear(3, 3), np.zeros((2, 3), dtype=np.float32))
    assert "Linear" in SUPPORTED and "LayerNorm1d" in SUPPORTED


def test_int8_fashion_mnist_mlp_keeps_its_accuracy_in_a_quarter_of_the_size(fashion_mnist, tmp_path):
    train_x, train_y, test_x, test_y = fashion_mnist
    init.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))
    loader = ndl.data.DataLoader(ndl.data.NDArrayDataset(train_x[:20000], train_y[:20000]),
                                 batch_size=100, shuffle=True)
    ndl.train.train_epoch(model, loader, nn.SoftmaxLoss(), ndl.optim.SGD(model.parameters(), lr=0.1),
                          progress=False)
    model.eval()
    with ndl.no_grad():
        library_accuracy = float((model(ndl.Tensor(test_x, dtype="float32")).numpy().argmax(1) == test_y).mean())
    assert library_accuracy > 0.75

    report = compare_int8(model, test_x, test_y, tmp_path)
    assert abs(report.float32_accuracy - library_accuracy) <= 2 / len(test_y)  # ties at most
    assert abs(report.int8_accuracy - report.float32_accuracy) < 0.01
    assert 0 < report.largest_logit_change < 0.5
    parameters = (784 * 100 + 100 + 100 * 10 + 10) * 4
    assert parameters <= report.float32_bytes < parameters * 1.05
    assert report.size_ratio < 0.3

    # The int8 file stores each weight as round(w / s) with the symmetric scale s = max|w| / 127.
    stored = {t.name: numpy_helper.to_array(t) for t in onnx.load(tmp_path / "model_int8.onnx").graph.initializer}
    for name, layer in (("weight", model[0]), ("weight_1", model[2])):
        w = layer.weight.numpy()
        rounded, scale = quantize_tensor(w)
        np.testing.assert_allclose(stored[f"{name}_scale"], scale, rtol=1e-6)
        np.testing.assert_array_equal(stored[f"{name}_quantized"] * stored[f"{name}_scale"], rounded.astype(np.float32))
        assert np.abs(rounded - w).max() <= scale / 2 * (1 + 1e-6)


def image_layer(name):
    """The image layer ``name`` of needle_edu.nn, or a skip while the library has none."""
    if not hasattr(nn, name):
        pytest.skip(f"needle_edu.nn has no {name} yet")
    return getattr(nn, name)


def trained_batchnorm2d(channels, dtype):
    layer = image_layer("BatchNorm2d")(channels, dtype=dtype)
    for seed in range(3):
        layer(tensor((4, channels, 5, 5), dtype, seed) * 2.0 - 1.0)
    layer.weight.data = tensor((channels,), dtype, 9)
    layer.bias.data = tensor((channels,), dtype, 10)
    return layer


IMAGE_LAYERS = {
    "Conv-same": lambda dt: image_layer("Conv")(3, 4, 3, dtype=dt),
    "Conv-stride2-nobias": lambda dt: image_layer("Conv")(3, 4, 3, stride=2, padding=0, bias=False, dtype=dt),
    "ConvTranspose": lambda dt: image_layer("ConvTranspose")(3, 2, 3, stride=2, padding=1, output_padding=1, dtype=dt),
    "BatchNorm2d": lambda dt: trained_batchnorm2d(3, dt),
    "MaxPool2d": lambda dt: image_layer("MaxPool2d")(2),
    "AvgPool2d-overlapping": lambda dt: image_layer("AvgPool2d")(3, stride=1),
    "GlobalAvgPool2d": lambda dt: image_layer("GlobalAvgPool2d")(),
}


@pytest.mark.parametrize("name", sorted(IMAGE_LAYERS))
def test_each_image_layer(name):
    """float32 only: onnxruntime's CPU kernels for several of these operators have no float64."""
    init.manual_seed(0)
    assert_same_outputs(IMAGE_LAYERS[name]("float32"), tensor((2, 3, 8, 8), "float32"), "float32",
                        batch_sizes=(2, 5))


def test_a_small_cnn():
    init.manual_seed(2)
    conv = image_layer("Conv")
    model = nn.Sequential(conv(1, 8, 3), trained_batchnorm2d(8, "float32"), nn.ReLU(),
                          image_layer("MaxPool2d")(2), conv(8, 16, 3, stride=2),
                          nn.Residual(nn.Sequential(conv(16, 16, 3), nn.ReLU())),
                          image_layer("GlobalAvgPool2d")(), nn.Linear(16, 10))
    exported = assert_same_outputs(model, tensor((2, 1, 28, 28), "float32"), "float32", batch_sizes=(3,))
    assert [n.op_type for n in exported.graph.node].count("Conv") == 3
