"""Devices: a name, the flat-kernel module behind it, and whether it can run here.

A device imports its kernel module only when first used, so a missing GPU or an
unbuilt extension costs nothing until someone asks for that device, and then says why.
"""
import importlib


class DeviceUnavailableError(RuntimeError):
    """Raised when an array is put on a device that cannot run on this machine."""


class Device:
    """One backend of the flat kernel protocol (see ``backend_numpy``)."""

    def __init__(self, name, module_name, description):
        self.name = name
        self.module_name = module_name
        self.description = description
        self._module = None
        self._reason = None

    def _load(self):
        if self._module is None and self._reason is None:
            try:
                module = importlib.import_module(f"{__package__}.{self.module_name}")
            except ImportError as e:
                self._reason = f"the kernel module {self.module_name} is not importable ({e})"
                return
            ok, why = module.available() if hasattr(module, "available") else (True, "")
            if ok:
                self._module = module
            else:
                self._reason = why

    def enabled(self):
        """True when this device can run on this machine."""
        self._load()
        return self._module is not None

    @property
    def reason(self):
        """Why the device cannot run here ('' when it can)."""
        self._load()
        return self._reason or ""

    @property
    def module(self):
        """The kernel module; raises ``DeviceUnavailableError`` with the reason if it cannot run."""
        if self._module is not None:  # every kernel call asks: answer at once
            return self._module
        self._load()
        if self._module is None:
            raise DeviceUnavailableError(f"device '{self.name}' is unavailable: {self._reason}")
        return self._module

    def __repr__(self):
        return f"device('{self.name}')"

    def __eq__(self, other):
        return other is self or (isinstance(other, Device) and other.name == self.name)

    def __hash__(self):
        return hash(self.name)


_DEVICES = {
    d.name: d
    for d in (
        Device("numpy", "backend_numpy", "numpy reference kernels (the test oracle)"),
        Device("cpu", "_backend_cpu", "C++ kernels from src_cpp/ (pybind11)"),
        Device("numba", "backend_numba", "numba @njit(parallel=True) kernels"),
        Device("cuda", "_backend_cuda", "CUDA kernels from src_cuda/ (pybind11)"),
        Device("numba_cuda", "backend_numba_cuda", "numba.cuda kernels (the simulator without a GPU)"),
    )
}


def device(name):
    """The device called ``name``: one of numpy, cpu, numba, cuda, numba_cuda."""
    if isinstance(name, Device):
        return name
    try:
        return _DEVICES[name]
    except KeyError:
        raise ValueError(f"unknown device {name!r}; known devices: {', '.join(_DEVICES)}") from None


def all_devices():
    """Every device, whether or not it can run here."""
    return list(_DEVICES.values())


def cpu_numpy():
    return _DEVICES["numpy"]


def cpu():
    return _DEVICES["cpu"]


def cpu_numba():
    return _DEVICES["numba"]


def cuda():
    return _DEVICES["cuda"]


def cuda_numba():
    return _DEVICES["numba_cuda"]


def default_device():
    """The C++ ``cpu`` device when it is built, else the numpy reference."""
    return cpu() if cpu().enabled() else cpu_numpy()
