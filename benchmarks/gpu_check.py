"""``make gpu-check``: on a machine with an NVIDIA GPU, the conformance suite on the ``cuda`` and
``numba_cuda`` devices, then their speed as DESIGN §8 states it: matmul against cuBLAS (through
torch or cupy, whichever is installed) and elementwise add against the GPU's memory bandwidth
(a device-to-device copy). Without a GPU it says so and exits 0.
"""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def gpu_present():
    return shutil.which("nvidia-smi") is not None and subprocess.run(
        ["nvidia-smi", "-L"], capture_output=True).returncode == 0


def seconds(function, repeat=10):
    """Best time of ``function()``, which must wait for the GPU before it returns."""
    function()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def cublas_matmul_seconds(n):
    """Seconds of an n x n float32 matmul through cuBLAS (torch, else cupy), or None."""
    try:
        import torch
        if torch.cuda.is_available():
            a = torch.randn(n, n, device="cuda")

            def run():
                a @ a
                torch.cuda.synchronize()
            return seconds(run)
    except ImportError:
        pass
    try:
        import cupy
        a = cupy.random.standard_normal((n, n), dtype=cupy.float32)

        def run():
            a @ a
            cupy.cuda.Device().synchronize()
        return seconds(run)
    except ImportError:
        return None


def copy_bandwidth(size):
    """GB/s of a device-to-device copy of ``size`` float32 (read + write), through numba.cuda."""
    from numba import cuda
    src, dst = cuda.device_array(size, "float32"), cuda.device_array(size, "float32")

    def run():
        dst.copy_to_device(src)
        cuda.synchronize()
    return 8 * size / seconds(run) / 1e9


def benchmarks():
    import numpy as np

    from needle_edu.backend_ndarray import NDArray, device

    for name in ("cuda", "numba_cuda"):
        dev = device(name)
        if not dev.enabled():
            print(f"{name}: unavailable ({dev.reason})")
            continue
        module = dev.module

        def sync(handle):  # launches are asynchronous: reading one element back waits for them
            module.to_numpy(handle, [1], [1], 0)
        for n in (1024, 4096):
            a = NDArray(np.random.default_rng(0).standard_normal((n, n)).astype("float32"), device=name)
            out = NDArray.make((n, n), device=name)

            def ours():
                module.matmul(a._handle, a._handle, out._handle, 1, n, n, n)
                sync(out._handle)
            reference = cublas_matmul_seconds(n)
            mine = seconds(ours, repeat=3)
            ratio = f"{reference / mine:.2f} of cuBLAS (target >= 0.50)" if reference else "no cuBLAS to compare"
            print(f"{name} matmul n={n}: {2 * n ** 3 / mine / 1e12:.2f} TFLOP/s, {ratio}")
        size = 1 << 26
        x = NDArray.make((size,), device=name)
        x.fill(1.0)
        y = NDArray.make((size,), device=name)

        def add():
            module.ewise_add(x._handle, x._handle, y._handle)
            sync(y._handle)
        achieved, peak = 12 * size / seconds(add) / 1e9, copy_bandwidth(size)
        print(f"{name} add of 2^26: {achieved:.0f} GB/s, {achieved / peak:.2f} of a copy's {peak:.0f} GB/s "
              f"(target >= 0.70)")


def main():
    if not gpu_present():
        print("gpu-check: no NVIDIA GPU on this machine (nvidia-smi finds none); nothing to check")
        return 0
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/test_ndarray_conformance.py",
                            "tests/test_ndarray_errors.py", "-k", "cuda"], cwd=REPO, env=env)
    benchmarks()
    return tests.returncode


if __name__ == "__main__":
    sys.exit(main())
