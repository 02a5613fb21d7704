"""Converters of the image layers (convolutions, image BatchNorm, pooling), registered when the
library has them. They take and give NCHW images, as ONNX does; ``needle_edu`` stores a
convolution's weight (K, K, in, out), ONNX wants (out, in, K, K) (and (in, out, K, K) for the
transposed convolution)."""
from .. import nn
from .onnx_export import _batchnorm, converts


def _image_layers(*names):
    return [getattr(nn, name) for name in names if hasattr(nn, name)]


def _conv_attributes(layer):
    k, p, s = layer.kernel_size, layer.padding, layer.stride
    return dict(kernel_shape=[k, k], pads=[p, p, p, p], strides=[s, s])


@converts(*_image_layers("Conv"))
def _conv(layer, graph, x):
    inputs = [x, graph.constant("conv_weight", layer.weight.numpy().transpose(3, 2, 0, 1))]
    if layer.bias is not None:
        inputs.append(graph.constant("conv_bias", layer.bias))
    return graph.node("Conv", inputs, **_conv_attributes(layer))


@converts(*_image_layers("ConvTranspose"))
def _conv_transpose(layer, graph, x):
    inputs = [x, graph.constant("deconv_weight", layer.weight.numpy().transpose(2, 3, 0, 1))]
    if layer.bias is not None:
        inputs.append(graph.constant("deconv_bias", layer.bias))
    return graph.node("ConvTranspose", inputs, output_padding=[layer.output_padding] * 2,
                      **_conv_attributes(layer))


converts(*_image_layers("BatchNorm2d"))(_batchnorm)  # the same operator, over axis 1 of NCHW


@converts(*_image_layers("MaxPool2d", "AvgPool2d"))
def _pool(layer, graph, x):
    op_type = "MaxPool" if type(layer).__name__ == "MaxPool2d" else "AveragePool"
    k, s = layer.kernel_size, layer.stride
    return graph.node(op_type, [x], kernel_shape=[k, k], strides=[s, s])


@converts(*_image_layers("GlobalAvgPool2d"))
def _global_average(layer, graph, x):  # (N, C, H, W) -> (N, C, 1, 1) -> (N, C)
    return graph.node("Flatten", [graph.node("GlobalAveragePool", [x])], axis=1)
