"""Shared fixtures: one parametrization over every device, skipping those that cannot run here."""
import os
import shutil

# numba.cuda runs on its simulator where there is no GPU; this must be set before numba loads.
if shutil.which("nvidia-smi") is None and not os.path.exists("/dev/nvidia0"):
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

# Quick mode: the training notebooks run their smaller budgets (needle_edu.course.quick_mode).
os.environ.setdefault("NEEDLE_EDU_QUICK", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

from needle_edu.backend_ndarray import devices  # noqa: E402

# First calls compile numba kernels, so no per-example deadline; CI runs a fixed set of examples.
settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

ALL_DEVICE_NAMES = [d.name for d in devices.all_devices()]
SIMULATED = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def require(device):
    """Skip the calling test, naming the reason, when ``device`` cannot run here."""
    if not device.enabled():
        pytest.skip(f"{device.name}: {device.reason}")
    return device


@pytest.fixture(params=ALL_DEVICE_NAMES)
def device(request):
    return require(devices.device(request.param))


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    return request.param


def tolerance(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)


def is_slow(device):
    """numba_cuda on the simulator runs each thread block in Python: keep its problems tiny."""
    return device.name == "numba_cuda" and SIMULATED


@pytest.fixture(scope="session")
def fashion_mnist():
    """(train images, train labels, test images, test labels), or a skip naming how to get them."""
    from needle_edu.data import load_fashion_mnist

    try:
        return load_fashion_mnist("train") + load_fashion_mnist("test")
    except FileNotFoundError as error:
        pytest.skip(f"Fashion-MNIST is not available (apt-get install dataset-fashion-mnist): {error}")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
