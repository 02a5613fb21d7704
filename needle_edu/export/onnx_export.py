"""``to_onnx``: each layer of the model becomes the ONNX operators that compute the same thing.

The converter of a layer type gets the layer, the graph being built and the name of its input,
and returns the name of its output: a network is converted by converting its layers in order.
"""
import numpy as np

from .. import nn
from ..autograd import Tensor, no_grad
from .graph_builder import ONNX_DTYPES, GraphBuilder

OPSET = 17  # LayerNormalization joined the standard operators in opset 17
CONVERTERS = {}


def converts(*layer_types):
    """Register the decorated function as the converter of ``layer_types``."""
    def register(function):
        for layer_type in layer_types:
            CONVERTERS[layer_type] = function
        return function
    return register


def convert(layer, graph, x):
    """The name of ``layer``'s output in ``graph``, given the name of its input ``x``."""
    converter = CONVERTERS.get(type(layer))
    if converter is None:
        raise TypeError(f"to_onnx: no converter for {type(layer).__name__}; supported layers: "
                        f"{', '.join(sorted(t.__name__ for t in CONVERTERS))}")
    return converter(layer, graph, x)


@converts(nn.Sequential)
def _sequential(layer, graph, x):
    for child in layer.layers:
        x = convert(child, graph, x)
    return x


@converts(nn.Residual)
def _residual(layer, graph, x):
    return graph.node("Add", [convert(layer.fn, graph, x), x])


@converts(nn.Identity, nn.Dropout)
def _identity(layer, graph, x):  # dropout is the identity at inference
    return graph.node("Identity", [x])


@converts(nn.Checkpoint)
def _checkpoint(layer, graph, x):  # checkpointing changes training memory, not the function
    return convert(layer.module, graph, x)


@converts(nn.Linear)
def _linear(layer, graph, x):
    y = graph.node("MatMul", [x, graph.constant("weight", layer.weight)])
    if layer.bias is None:
        return y
    return graph.node("Add", [y, graph.constant("bias", layer.bias)])


@converts(nn.ReLU, nn.Tanh, nn.Sigmoid)
def _activation(layer, graph, x):
    return graph.node({nn.ReLU: "Relu", nn.Tanh: "Tanh", nn.Sigmoid: "Sigmoid"}[type(layer)], [x])


@converts(nn.Flatten)
def _flatten(layer, graph, x):
    return graph.node("Flatten", [x], axis=1)


@converts(nn.BatchNorm1d)
def _batchnorm(layer, graph, x):
    """Eval mode: the running statistics, folded by the runtime into one scale and shift."""
    inputs = [x] + [graph.constant(stem, value) for stem, value in (
        ("bn_scale", layer.weight), ("bn_bias", layer.bias),
        ("bn_mean", layer.running_mean), ("bn_var", layer.running_var))]
    return graph.node("BatchNormalization", inputs, epsilon=float(layer.eps))


@converts(nn.LayerNorm1d)
def _layernorm(layer, graph, x):
    inputs = [x, graph.constant("ln_scale", layer.weight), graph.constant("ln_bias", layer.bias)]
    return graph.node("LayerNormalization", inputs, axis=-1, epsilon=float(layer.eps))


from . import onnx_conv  # noqa: E402,F401  (registers the image layers the library has)

SUPPORTED = tuple(sorted(t.__name__ for t in CONVERTERS))


def to_onnx(model, example_input, path=None):
    """``model`` in eval mode as an ``onnx.ModelProto`` (also written to ``path`` when given).

    ``example_input`` (a Tensor) fixes the dtype and every dimension but the first, the batch.
    The model is left in the mode it was in.
    """
    if not isinstance(example_input, Tensor):
        raise TypeError(f"to_onnx: example_input must be a Tensor, got {type(example_input).__name__}")
    if example_input.dtype not in ONNX_DTYPES:
        raise TypeError(f"to_onnx: dtype {example_input.dtype} cannot be exported "
                        f"(supported: {', '.join(ONNX_DTYPES)})")
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with no_grad():
            output_shape = model(example_input).shape
        graph = GraphBuilder()
        x = graph.fresh("input")
        y = graph.node("Identity", [convert(model, graph, x)], stem="output")
    finally:
        for module, mode in modes:
            module.training = mode
    onnx_model = graph.model(x, y, example_input.shape, output_shape, example_input.dtype, OPSET,
                             doc=f"exported by needle_edu from {type(model).__name__}")
    if path is not None:
        import onnx
        onnx.save(onnx_model, path)
    return onnx_model
