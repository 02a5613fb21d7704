"""Layer 3 of needle_edu: NDArray (strided views, in Python) over flat device kernels."""
from .devices import (Device, DeviceUnavailableError, all_devices, cpu, cpu_numba, cpu_numpy,
                      cuda, cuda_numba, default_device, device)
from .ndarray import NDArray, array, broadcast_shapes, empty, full, ones, zeros
