"""Deployment: a trained model written as an ONNX file that other runtimes execute.

``to_onnx(model, example_input)`` turns a network of the course's layers into an ONNX graph
(its parameters stored in the file); ``run_onnx`` executes it in onnxruntime; ``quantize_int8``
stores its weights as 8-bit integers, about four times smaller.
"""
from .onnx_export import SUPPORTED, to_onnx
from .quantize import QuantizationReport, compare_int8, quantize_int8
from .runtime import run_onnx

__all__ = ["SUPPORTED", "QuantizationReport", "compare_int8", "quantize_int8", "run_onnx", "to_onnx"]
