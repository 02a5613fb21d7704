"""An ONNX graph under construction: nodes in order, parameters as initializers, unique names."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ONNX_DTYPES = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE}


class GraphBuilder:
    """Collects the nodes and initializers of one graph; ``node`` returns its output's name."""

    def __init__(self):
        self.nodes, self.initializers, self._used = [], [], set()

    def fresh(self, stem):
        """A name not used yet in this graph, made from ``stem``."""
        name, k = stem, 1
        while name in self._used:
            name, k = f"{stem}_{k}", k + 1
        self._used.add(name)
        return name

    def constant(self, stem, tensor_or_array):
        """Store a parameter or buffer (a Tensor, NDArray or numpy array) in the file; its name."""
        array = tensor_or_array.numpy() if hasattr(tensor_or_array, "numpy") else tensor_or_array
        name = self.fresh(stem)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op_type, inputs, stem=None, **attributes):
        """Append an ``op_type`` node reading ``inputs``; the name of its (single) output."""
        output = self.fresh(stem or op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [output],
                                           name=self.fresh(f"{op_type}_node"), **attributes))
        return output

    def model(self, input_name, output_name, input_shape, output_shape, dtype, opset, doc):
        """The finished ``onnx.ModelProto``, checked; dimension 0 (the batch) is left free."""
        element = ONNX_DTYPES[dtype]
        graph = helper.make_graph(
            self.nodes, "needle_edu_model",
            [helper.make_tensor_value_info(input_name, element, ["batch", *input_shape[1:]])],
            [helper.make_tensor_value_info(output_name, element, ["batch", *output_shape[1:]])],
            initializer=self.initializers, doc_string=doc)
        model = helper.make_model(graph, producer_name="needle_edu",
                                  opset_imports=[helper.make_opsetid("", opset)])
        onnx.checker.check_model(model, full_check=True)
        return model
