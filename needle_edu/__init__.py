"""needle_edu: a PyTorch-like deep learning library that students build, one notebook at a time.

Layers, bottom up: ``backend_ndarray`` (NDArray and the device kernels), then autograd, ops,
and the ``nn``, ``optim``, ``data`` and ``train`` modules built on them.
Ops are called one way, through their module: ``ndl.ops.summation(x, axes=0)``; Tensor
operators and methods (``x + y``, ``x @ w``, ``x.sum()``) apply the same ops.
"""
from . import threads

threads.apply()  # before any kernel module loads: see threads.py

from .backend_ndarray import (Device, DeviceUnavailableError, NDArray, all_devices, cpu,
                              cpu_numba, cpu_numpy, cuda, cuda_numba, default_device, device)
from . import autograd, gradcheck, ops
from . import data, init, nn, optim, train
from .autograd import Tensor, TensorTuple, is_grad_enabled, no_grad
from . import memory
from .checkpoint import checkpoint, checkpoint_sequential

__version__ = "0.1.0"
