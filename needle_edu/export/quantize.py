"""Post-training int8 quantization: weights stored as 8-bit integers with one scale a tensor.

onnxruntime's dynamic quantization rewrites each MatMul to read int8 weights; activations are
quantized on the fly, batch by batch, so no calibration data is needed.
"""
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .onnx_export import to_onnx
from .runtime import run_onnx


def quantize_int8(model_path, quantized_path):
    """Write the int8 version of the ONNX file ``model_path`` to ``quantized_path``; its path.

    The graph is first prepared as onnxruntime recommends (shapes inferred, graph optimized).
    """
    from onnxruntime.quantization import QuantType, quant_pre_process, quantize_dynamic

    quantized_path = Path(quantized_path)
    prepared = quantized_path.with_name(quantized_path.stem + "_prepared.onnx")
    quant_pre_process(str(model_path), str(prepared))
    quantize_dynamic(str(prepared), str(quantized_path), weight_type=QuantType.QInt8)
    prepared.unlink()
    return quantized_path


@dataclass
class QuantizationReport:
    """Accuracy and file size of a classifier exported in float32 and quantized to int8."""

    float32_accuracy: float
    int8_accuracy: float
    float32_bytes: int
    int8_bytes: int
    largest_logit_change: float

    @property
    def size_ratio(self):
        return self.int8_bytes / self.float32_bytes


def compare_int8(model, images, labels, folder):
    """Export ``model`` (a float32 classifier) to ``folder``, quantize it, and measure both files
    on ``images`` (numpy, one row per example) against integer ``labels``."""
    from ..autograd import Tensor

    folder = Path(folder)
    float32_path, int8_path = folder / "model_float32.onnx", folder / "model_int8.onnx"
    to_onnx(model, Tensor(images[:2], dtype="float32", requires_grad=False), float32_path)
    quantize_int8(float32_path, int8_path)
    logits = {path: run_onnx(path, images.astype(np.float32)) for path in (float32_path, int8_path)}
    accuracy = {path: float((z.argmax(axis=1) == labels).mean()) for path, z in logits.items()}
    return QuantizationReport(
        accuracy[float32_path], accuracy[int8_path],
        os.path.getsize(float32_path), os.path.getsize(int8_path),
        float(np.abs(logits[int8_path] - logits[float32_path]).max()))
