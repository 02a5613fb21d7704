"""Run an exported model in onnxruntime, the inference engine the ONNX file is made for."""
import numpy as np
import onnxruntime as ort


def session(model, optimization="all", optimized_path=None):
    """An onnxruntime session on ``model`` (a path or an ``onnx.ModelProto``), on the CPU.

    ``optimization``: "none", "basic", "extended" or "all", the graph rewrites onnxruntime
    applies before running; ``optimized_path`` saves the rewritten graph.
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = {
        "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[optimization]
    if optimized_path is not None:
        options.optimized_model_filepath = str(optimized_path)
    source = model.SerializeToString() if hasattr(model, "SerializeToString") else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run_onnx(model, x, **session_options):
    """The output of ``model`` (a path, ``onnx.ModelProto`` or session) for the batch ``x``
    (a numpy array or Tensor), as a numpy array."""
    runner = model if isinstance(model, ort.InferenceSession) else session(model, **session_options)
    x = x.numpy() if hasattr(x, "numpy") and not isinstance(x, np.ndarray) else np.asarray(x)
    (name,) = [i.name for i in runner.get_inputs()]
    return runner.run(None, {name: x})[0]
