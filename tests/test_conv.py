"""Convolution and pooling: ops and layers against torch (forward and both gradients), float64
tightly on ``numpy`` and ``cpu`` and float32 on every device, over strides, paddings, dilations,
kernel sizes, odd shapes and batch 1; the conv gradient also against finite differences; and
the clear errors for bad input, raised before any kernel runs.
"""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from conftest import ALL_DEVICE_NAMES, is_slow, require

import needle_edu as ndl
from needle_edu import nn, ops
from needle_edu.backend_ndarray import devices
from needle_edu.gradcheck import check_gradients

CASES = [(name, dtype) for name in ALL_DEVICE_NAMES for dtype in ("float32", "float64")
         if dtype == "float32" or name in ("numpy", "cpu")]


@pytest.fixture(params=CASES, ids=[f"{name}-{dtype}" for name, dtype in CASES])
def case(request):
    """(device, dtype, tolerances): float64 on the reference devices, float32 on all."""
    name, dtype = request.param
    device = require(devices.device(name))
    if is_slow(device):
        pytest.skip("numba_cuda on the CUDA simulator: too slow for convolutions")
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == "float64" else dict(rtol=1e-4, atol=1e-4)
    return device, dtype, tol


def tensor(array, device, dtype, requires_grad=True):
    return ndl.Tensor(np.asarray(array, dtype="float64"), device=device, dtype=dtype,
                      requires_grad=requires_grad)


def nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def torch_conv(x, w, out_grad, stride, padding, dilation):
    """torch's conv2d of NHWC ``x`` with (K, K, C_in, C_out) ``w``: output and both gradients."""
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    wt = torch.tensor(w.transpose(3, 2, 0, 1), requires_grad=True)
    y = torch.nn.functional.conv2d(xt, wt, stride=stride, padding=padding, dilation=dilation)
    y.backward(torch.tensor(out_grad.transpose(0, 3, 1, 2)))
    return nhwc(y), nhwc(xt.grad), wt.grad.numpy().transpose(2, 3, 1, 0)


def torch_out_shape(x_shape, w_shape, stride, padding, dilation):
    n, h, w, _ = x_shape
    k = w_shape[0]
    size = [(d + 2 * padding - dilation * (k - 1) - 1) // stride + 1 for d in (h, w)]
    return (n, *size, w_shape[3])


# (batch, height, width, c_in, c_out, kernel, stride, padding, dilation)
CONV_SHAPES = [
    (2, 5, 5, 3, 4, 3, 1, 1, 1),    # "same" 3x3
    (1, 7, 6, 2, 3, 3, 2, 0, 1),    # batch 1, odd sizes, stride 2, no padding
    (2, 8, 9, 3, 2, 3, 2, 1, 1),    # stride 2 with padding, width not a multiple of the stride
    (1, 9, 9, 2, 2, 2, 3, 2, 1),    # even kernel, stride 3
    (2, 9, 8, 2, 3, 3, 2, 4, 1),    # padding larger than the kernel
    (1, 10, 11, 2, 3, 3, 1, 1, 2),  # dilated kernel
    (2, 11, 10, 2, 3, 3, 2, 1, 2),  # dilated kernel at stride 2: col2im's taps are 2 apart
    (2, 12, 12, 3, 4, 7, 4, 3, 1),  # ResNet9's first layer in small: 7x7, stride 4
    (3, 4, 4, 5, 1, 1, 1, 0, 1),    # 1x1 kernel, one output channel
    (1, 3, 3, 2, 2, 3, 1, 0, 1),    # kernel as large as the image: one output pixel
]


@pytest.mark.parametrize("shape", CONV_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_conv_op_matches_torch(case, shape):
    device, dtype, tol = case
    n, h, w, c_in, c_out, k, stride, padding, dilation = shape
    rng = np.random.default_rng(sum(shape))
    x, weight = rng.standard_normal((n, h, w, c_in)), rng.standard_normal((k, k, c_in, c_out))
    out_grad = rng.standard_normal(torch_out_shape(x.shape, weight.shape, stride, padding, dilation))
    want_y, want_dx, want_dw = torch_conv(x, weight, out_grad, stride, padding, dilation)
    X, W = tensor(x, device, dtype), tensor(weight, device, dtype)
    Y = ops.conv(X, W, stride=stride, padding=padding, dilation=dilation)
    Y.backward(tensor(out_grad, device, dtype, requires_grad=False))
    np.testing.assert_allclose(Y.numpy(), want_y, **tol)
    np.testing.assert_allclose(X.grad.numpy(), want_dx, **tol)
    np.testing.assert_allclose(W.grad.numpy(), want_dw, **tol)


@pytest.mark.parametrize("shape", CONV_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_conv_weight_gradient_reuses_the_patches_of_an_input_without_gradient(case, shape):
    """A network's images need no gradient: the forward pass keeps their patches for the
    weights' gradient, and only then (not for an input that needs a gradient, nor under no_grad)."""
    device, dtype, tol = case
    n, h, w, c_in, c_out, k, stride, padding, dilation = shape
    rng = np.random.default_rng(sum(shape) + 1)
    x, weight = rng.standard_normal((n, h, w, c_in)), rng.standard_normal((k, k, c_in, c_out))
    out_grad = rng.standard_normal(torch_out_shape(x.shape, weight.shape, stride, padding, dilation))
    _, _, want_dw = torch_conv(x, weight, out_grad, stride, padding, dilation)
    X, W = tensor(x, device, dtype, requires_grad=False), tensor(weight, device, dtype)
    Y = ops.conv(X, W, stride=stride, padding=padding, dilation=dilation)
    assert Y.op.saved_rows is not None
    Y.backward(tensor(out_grad, device, dtype, requires_grad=False))
    np.testing.assert_allclose(W.grad.numpy(), want_dw, **tol)
    assert ops.conv(tensor(x, device, dtype), W, stride=stride, padding=padding, dilation=dilation).op.saved_rows is None
    op = ops.ops_conv.Conv(stride, padding, dilation)
    with ndl.autograd.no_grad():
        op(X, W)
    assert op.saved_rows is None


@pytest.mark.parametrize("stride,padding", [(1, 1), (2, 0), (2, 2)])
def test_conv_gradient_against_finite_differences(stride, padding):
    rng = np.random.default_rng(stride * 10 + padding)
    x = tensor(rng.standard_normal((2, 5, 6, 2)), "cpu", "float64")
    w = tensor(rng.standard_normal((3, 3, 2, 3)), "cpu", "float64")
    check_gradients(lambda a, b: ops.conv(a, b, stride=stride, padding=padding), x, w)


def test_conv_second_derivative_against_finite_differences():
    """The gradient is itself made of convs, so it can be differentiated again."""
    rng = np.random.default_rng(5)
    x = tensor(rng.standard_normal((1, 5, 5, 2)), "cpu", "float64")
    w = tensor(rng.standard_normal((3, 3, 2, 2)), "cpu", "float64")
    weights = rng.standard_normal((1, 3, 3, 2))

    def input_gradient(a, b):
        (grad_a,) = ndl.autograd.grad(ops.conv(a, b, stride=2, padding=1), [a],
                                      out_grad=tensor(weights, a.device, a.dtype, requires_grad=False),
                                      create_graph=True)
        return grad_a

    check_gradients(input_gradient, x, w)


def test_im2col_is_a_view_of_the_padded_input():
    a = ndl.backend_ndarray.NDArray(np.arange(2 * 5 * 6 * 3, dtype="float32").reshape(2, 5, 6, 3),
                                    device="cpu")
    patches = ops.im2col(a, (3, 2), stride=2)
    assert patches.shape == (2, 2, 3, 3, 2, 3)
    assert patches._handle is a._handle  # no copy until compact
    want = np.lib.stride_tricks.sliding_window_view(a.numpy(), (3, 2), axis=(1, 2))[:, ::2, ::2]
    np.testing.assert_array_equal(patches.numpy(), want.transpose(0, 1, 2, 4, 5, 3))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(1, 2),
       st.integers(0, 5), st.integers(0, 5), st.integers(0, 10 ** 6))
def test_col2im_adds_every_tap_where_its_window_took_it(kh, kw, stride, dilation, c, extra_h, extra_w, seed):
    """AddWindows against np.add.at over every (window, tap): blocks of taps for dilation 1,
    one tap at a time otherwise; images with rows and columns no window reaches."""
    shape = (2, dilation * (kh - 1) + 1 + extra_h, dilation * (kw - 1) + 1 + extra_w, c)
    h_out, w_out = ((size - dilation * (k - 1) - 1) // stride + 1 for size, k in ((shape[1], kh), (shape[2], kw)))
    cols = np.random.default_rng(seed).standard_normal((2, h_out, w_out, kh, kw, c))
    want = np.zeros(shape)
    for i in range(kh):
        for j in range(kw):
            rows = stride * np.arange(h_out)[:, None] + dilation * i
            columns = stride * np.arange(w_out)[None, :] + dilation * j
            np.add.at(want, (slice(None), rows, columns), cols[:, :, :, i, j, :])
    cols_tensor = tensor(cols, "cpu", "float64", requires_grad=False)
    got = ops.ops_conv.AddWindows(shape, (kh, kw), stride, dilation)(cols_tensor)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel,stride", [(2, None), (3, 2), (3, 1), (2, 3)])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_matches_torch(case, kind, kernel, stride):
    device, dtype, tol = case
    rng = np.random.default_rng(kernel * 7 + (stride or 0))
    x = rng.permutation(2 * 7 * 8 * 3).reshape(2, 7, 8, 3) / 10.0  # distinct values: no ties
    pool = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    yt = pool(xt, kernel, stride)
    out_grad = rng.standard_normal(yt.shape)
    yt.backward(torch.tensor(out_grad))
    X = tensor(x, device, dtype)
    op = ops.max_pool2d if kind == "max" else ops.avg_pool2d
    Y = op(X, kernel, stride)
    Y.backward(tensor(out_grad.transpose(0, 2, 3, 1), device, dtype, requires_grad=False))
    np.testing.assert_allclose(Y.numpy(), nhwc(yt), **tol)
    np.testing.assert_allclose(X.grad.numpy(), nhwc(xt.grad), **tol)


def test_pooling_gradient_against_finite_differences():
    rng = np.random.default_rng(3)
    x = tensor(rng.permutation(1 * 6 * 5 * 2).reshape(1, 6, 5, 2) / 7.0, "cpu", "float64")
    check_gradients(lambda a: ops.max_pool2d(a, 3, 2), x)
    check_gradients(lambda a: ops.avg_pool2d(a, 3, 2), x)


# ---------------------------------------------------------------------------- layers


def torch_layer_check(layer, torch_layer, x, device, dtype, tol, seed=0):
    """Forward and the gradients of the input and every parameter, against the torch layer."""
    xt = torch.tensor(x, requires_grad=True)
    yt = torch_layer(xt)
    out_grad = np.random.default_rng(seed).standard_normal(yt.shape)
    yt.backward(torch.tensor(out_grad))
    X = tensor(x, device, dtype)
    Y = layer(X)
    Y.backward(tensor(out_grad, device, dtype, requires_grad=False))
    np.testing.assert_allclose(Y.numpy(), yt.detach().numpy(), **tol)
    np.testing.assert_allclose(X.grad.numpy(), xt.grad.numpy(), **tol)
    return {name: p.grad.numpy() for name, p in layer.named_parameters()}, dict(torch_layer.named_parameters())


@pytest.mark.parametrize("k,stride,padding,bias", [(3, 1, None, True), (3, 2, None, False), (5, 1, 0, True),
                                                   (1, 1, None, True), (4, 2, 1, True)])
def test_conv_layer_matches_torch(case, k, stride, padding, bias):
    device, dtype, tol = case
    ndl.init.manual_seed(k + stride)
    layer = nn.Conv(3, 4, k, stride=stride, padding=padding, bias=bias, device=device, dtype=dtype)
    torch_layer = torch.nn.Conv2d(3, 4, k, stride=stride, padding=layer.padding, bias=bias).double()
    with torch.no_grad():
        torch_layer.weight.copy_(torch.tensor(layer.weight.numpy().astype("float64").transpose(3, 2, 0, 1)))
        if bias:
            torch_layer.bias.copy_(torch.tensor(layer.bias.numpy().astype("float64")))
    x = np.random.default_rng(1).standard_normal((2, 3, 9, 7))
    grads, torch_params = torch_layer_check(layer, torch_layer, x, device, dtype, tol)
    np.testing.assert_allclose(grads["weight"], torch_params["weight"].grad.numpy().transpose(2, 3, 1, 0), **tol)
    if bias:
        np.testing.assert_allclose(grads["bias"], torch_params["bias"].grad.numpy(), **tol)


def test_conv_layer_init_and_same_padding():
    ndl.init.manual_seed(0)
    layer = nn.Conv(16, 32, 3)
    assert layer.weight.shape == (3, 3, 16, 32) and layer.bias.shape == (32,)
    assert layer.padding == 1
    bound = np.sqrt(6 / (3 * 3 * 16))  # Kaiming uniform for ReLU
    w = layer.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.05 * bound
    assert np.abs(layer.bias.numpy()).max() <= 1 / np.sqrt(3 * 3 * 16)
    assert layer(ndl.Tensor(np.zeros((1, 16, 5, 7), "float32"))).shape == (1, 32, 5, 7)


@pytest.mark.parametrize("k,stride,padding,output_padding", [(3, 1, 1, 0), (4, 2, 1, 0), (3, 2, 1, 1),
                                                             (5, 3, 0, 2)])
def test_conv_transpose_matches_torch(case, k, stride, padding, output_padding):
    device, dtype, tol = case
    ndl.init.manual_seed(k)
    layer = nn.ConvTranspose(3, 2, k, stride=stride, padding=padding, output_padding=output_padding,
                             device=device, dtype=dtype)
    torch_layer = torch.nn.ConvTranspose2d(3, 2, k, stride=stride, padding=padding,
                                           output_padding=output_padding).double()
    with torch.no_grad():
        torch_layer.weight.copy_(torch.tensor(layer.weight.numpy().astype("float64").transpose(2, 3, 0, 1)))
        torch_layer.bias.copy_(torch.tensor(layer.bias.numpy().astype("float64")))
    x = np.random.default_rng(2).standard_normal((2, 3, 5, 4))
    grads, torch_params = torch_layer_check(layer, torch_layer, x, device, dtype, tol)
    np.testing.assert_allclose(grads["weight"], torch_params["weight"].grad.numpy().transpose(2, 3, 0, 1), **tol)
    np.testing.assert_allclose(grads["bias"], torch_params["bias"].grad.numpy(), **tol)


def test_batchnorm2d_matches_torch(case):
    device, dtype, tol = case
    layer = nn.BatchNorm2d(3, device=device, dtype=dtype)
    layer.weight.data = tensor(np.array([1.0, 2.0, -0.5]), device, dtype, requires_grad=False)
    layer.bias.data = tensor(np.array([0.0, 0.3, 1.0]), device, dtype, requires_grad=False)
    torch_layer = torch.nn.BatchNorm2d(3).double()
    with torch.no_grad():
        torch_layer.weight.copy_(torch.tensor([1.0, 2.0, -0.5], dtype=torch.float64))
        torch_layer.bias.copy_(torch.tensor([0.0, 0.3, 1.0], dtype=torch.float64))
    x = np.random.default_rng(3).standard_normal((4, 3, 5, 3)) * 2 + 1
    grads, torch_params = torch_layer_check(layer, torch_layer, x, device, dtype, tol)
    np.testing.assert_allclose(grads["weight"], torch_params["weight"].grad.numpy(), **tol)
    np.testing.assert_allclose(grads["bias"], torch_params["bias"].grad.numpy(), **tol)
    n = 4 * 5 * 3  # needle's running variance averages the biased batch variance; torch's the unbiased
    np.testing.assert_allclose(layer.running_mean.numpy(), torch_layer.running_mean.numpy(), **tol)
    np.testing.assert_allclose(layer.running_var.numpy(),
                               0.9 + (torch_layer.running_var.numpy() - 0.9) * (n - 1) / n, **tol)
    layer.eval(), torch_layer.eval()
    with torch.no_grad():  # eval mode normalizes with the running statistics: give torch ours
        torch_layer.running_var.copy_(torch.tensor(layer.running_var.numpy().astype("float64")))
    x = np.random.default_rng(4).standard_normal((2, 3, 2, 2))
    np.testing.assert_allclose(layer(tensor(x, device, dtype)).numpy(),
                               torch_layer(torch.tensor(x)).detach().numpy(), **tol)


@pytest.mark.parametrize("layer,torch_layer", [
    (lambda: nn.MaxPool2d(2), lambda: torch.nn.MaxPool2d(2)),
    (lambda: nn.MaxPool2d(3, 2), lambda: torch.nn.MaxPool2d(3, 2)),
    (lambda: nn.AvgPool2d(2), lambda: torch.nn.AvgPool2d(2)),
    (lambda: nn.GlobalAvgPool2d(), lambda: torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())),
], ids=["max2", "max3s2", "avg2", "global"])
def test_pooling_layers_match_torch(case, layer, torch_layer):
    device, dtype, tol = case
    x = np.random.default_rng(5).permutation(2 * 3 * 6 * 7).reshape(2, 3, 6, 7) / 9.0
    torch_layer_check(layer(), torch_layer(), x, device, dtype, tol)


# ---------------------------------------------------------------------------- bad input


def f32(*shape):
    return ndl.Tensor(np.zeros(shape, "float32"), device="cpu")


@pytest.mark.parametrize("make,message", [
    (lambda: ops.conv(f32(1, 5, 5, 3), f32(3, 3, 4, 2)), r"Conv: the input has 3 channels \(shape \(1, 5, 5, 3\)\)"),
    (lambda: ops.conv(f32(1, 2, 2, 3), f32(3, 3, 3, 2)), r"Conv: weights of shape \(3, 3, 3, 2\).*input of shape \(1, 2, 2, 3\)"),
    (lambda: ops.conv(f32(5, 5, 3), f32(3, 3, 3, 2)), r"Conv: expected an input \(N, H, W, C_in\).*\(5, 5, 3\)"),
    (lambda: ops.conv(f32(1, 5, 5, 3), f32(3, 3, 3)), r"Conv: expected .*\(3, 3, 3\)"),
    (lambda: ops.max_pool2d(f32(1, 2, 2, 3), 3), r"max_pool2d: a 3x3 window does not fit .*\(1, 2, 2, 3\)"),
    (lambda: ops.avg_pool2d(f32(2, 2, 3), 2), r"avg_pool2d: expected an input \(N, H, W, C\)"),
    (lambda: nn.Conv(3, 4, 3)(f32(1, 2, 5, 5)), r"Conv: expected images \(N, 3, H, W\), got shape \(1, 2, 5, 5\)"),
    (lambda: nn.BatchNorm2d(3)(f32(2, 3, 4)), r"BatchNorm2d: expected images \(N, 3, H, W\)"),
    (lambda: nn.MaxPool2d(2)(f32(2, 3, 4)), r"MaxPool2d: expected images"),
])
def test_bad_shapes_raise_value_errors_naming_the_op(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("kwargs", [dict(stride=1.5), dict(stride=0), dict(padding=-1), dict(padding=0.5),
                                    dict(dilation=True)])
def test_bad_conv_arguments_raise_type_errors(kwargs):
    with pytest.raises(TypeError, match="Conv: (stride|padding|dilation) must be"):
        ops.conv(f32(1, 5, 5, 3), f32(3, 3, 3, 2), **kwargs)


def test_conv_of_mixed_dtypes_raises():
    x = ndl.Tensor(np.zeros((1, 5, 5, 3)), device="cpu", dtype="float64")
    with pytest.raises(TypeError, match="Conv: dtypes differ"):
        ops.conv(x, f32(3, 3, 3, 2))
