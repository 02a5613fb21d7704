"""C++ kernels for the ``cpu`` device, written in a notebook cell: the ``%%cpu_kernel`` magic.

The cell's C++ is compiled by the system compiler into a pybind11 module in a scratch folder
(``$TMPDIR``), and each function the magic line names becomes a Python function of numpy
arrays; ``install`` then makes them the ``cpu`` device's kernels. Compiler errors are the
compiler's own messages, with line numbers of the cell.

A function's kind comes from its name: ``compact*``, ``matmul*`` or ``ewise_add*``, with the
signatures of ``SIGNATURES`` (float32 buffers; ``idx_t`` is ``std::int64_t``). Every argument is
checked in Python before the C++ runs, so the C++ may trust its indices.
"""
import hashlib
import importlib.machinery
import importlib.util
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import numpy as np

SIGNATURES = {
    "compact": "void {name}(const float* a, float* out, const std::vector<idx_t>& shape, "
               "const std::vector<idx_t>& strides, idx_t offset)",
    "matmul": "void {name}(const float* a, const float* b, float* out, idx_t m, idx_t n, idx_t p)",
    "ewise_add": "void {name}(const float* a, const float* b, float* out, idx_t size)",
}

PRELUDE = """#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>
using idx_t = std::int64_t;
"""

# The pybind11 side, in a file of its own: its headers take seconds to compile, so it is built
# without optimization, once per set of names, and only the cell's own file is built with -O3.
_GLUE_HEAD = """#include <pybind11/pybind11.h>
#include <cstdint>
#include <vector>
namespace py = pybind11;
using idx_t = std::int64_t;
static const float* in(py::buffer& b) { return static_cast<const float*>(b.request().ptr); }
static float* out(py::buffer& b) { return static_cast<float*>(b.request(true).ptr); }
static std::vector<idx_t> ints(const py::sequence& s) {
  std::vector<idx_t> v;
  for (auto x : s) v.push_back(x.cast<idx_t>());
  return v;
}
"""
_GLUE = {
    "compact": "[](py::buffer a, py::buffer o, py::sequence shape, py::sequence strides, idx_t offset) "
               "{{ {name}(in(a), out(o), ints(shape), ints(strides), offset); }}",
    "matmul": "[](py::buffer a, py::buffer b, py::buffer o, idx_t m, idx_t n, idx_t p) "
              "{{ {name}(in(a), in(b), out(o), m, n, p); }}",
    "ewise_add": "[](py::buffer a, py::buffer b, py::buffer o) {{ py::buffer_info info = o.request(true); "
                 "{name}(in(a), in(b), static_cast<float*>(info.ptr), info.size); }}",
}

FLAGS = ["-O3", "-march=native", "-fopenmp"]  # the cell's file
GLUE_FLAGS = ["-O1"]
COMMON_FLAGS = ["-std=c++17", "-fPIC", "-Wall"]

SOURCES = {}  # name -> the text of the cell that %%cpu_kernel last compiled it from


class CompileError(Exception):
    """The compiler rejected the cell; the message is the compiler's, pointing at the cell's lines."""

    def _render_traceback_(self):  # IPython shows this instead of a traceback through the magic
        return [f"CompileError: {self}"]


def kind(name):
    """``"matmul_tiled"`` -> ``"matmul"``: the kind of kernel a function's name says it is."""
    for prefix in sorted(SIGNATURES, key=len, reverse=True):
        if name == prefix or name.startswith(prefix + "_"):
            return prefix
    raise ValueError(f"cpu_kernel: {name!r} names no kind of kernel: start it with "
                     f"{', '.join(SIGNATURES)} (e.g. matmul_tiled)")


def scratch_folder():
    """Where modules are built: ``$TMPDIR/needle_edu_cpu_kernels`` (the submission's scratch when graded)."""
    folder = Path(tempfile.gettempdir()) / "needle_edu_cpu_kernels"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _compiler():
    found = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if not found:
        raise CompileError("no C++ compiler found (install g++, or set CXX)")
    return shlex.split(found)


def _declaration(name):
    return SIGNATURES[kind(name)].format(name=name)


def cell_source(cell, names):
    """The cell's file: the prelude, the cell as file ``cell`` (errors name its lines), and a line
    per exported function that fails to compile unless it has its kind's signature."""
    checks = "\n".join(
        f"[[maybe_unused]] static {_declaration(n).replace(f' {n}(', ' (*const signature_of_' + n + ')(')}"
        f" = &{n};" for n in names)
    return (f"{PRELUDE}#line 1 \"cell\"\n{cell}\n"
            f"#line 1 \"the signatures %%cpu_kernel expects\"\n{checks}\n")


def glue_source(names, module):
    declarations = "".join(f"{_declaration(n)};\n" for n in names)
    defs = "".join(f'  m.def("{n}", {_GLUE[kind(n)].format(name=n)});\n' for n in names)
    return f"{_GLUE_HEAD}{declarations}PYBIND11_MODULE({module}, m) {{\n{defs}}}\n"


def _run(command, folder, source):
    return subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True), source


def build(cell, names, defines=None):
    """Compile ``cell`` and return its module, whose functions ``names`` take numpy arrays.

    ``defines`` (``{"REG_TILE": 8}``) become ``-D`` flags of the cell's file. Built once per
    text: the same cell again loads the module already built.
    """
    names = list(names)
    if any(line.strip() == "raise NotImplementedError()" for line in cell.splitlines()):
        raise NotImplementedError("this %%cpu_kernel cell still holds the placeholder lines "
                                  "(# YOUR CODE HERE, raise NotImplementedError()): write your C++ there")
    if not names:
        raise ValueError("cpu_kernel: name the functions to export, e.g. %%cpu_kernel compact matmul_tiled")
    for name in names:
        if not re.search(rf"\b{re.escape(name)}\s*\(", cell):
            raise CompileError(f"the cell defines no function {name}; write {_declaration(name)} {{ ... }}")
    flags = FLAGS + [f"-D{name}={value}" for name, value in sorted((defines or {}).items())]
    key = "\0".join([cell, glue_source(names, ""), *flags, *GLUE_FLAGS, sys.version])
    module = f"_cpu_kernel_{hashlib.sha1(key.encode()).hexdigest()[:16]}"
    folder = scratch_folder()
    target = folder / f"{module}{sysconfig.get_config_var('EXT_SUFFIX')}"
    if not target.exists():
        _compile(cell, names, module, folder, target, flags)
    loader = importlib.machinery.ExtensionFileLoader(module, str(target))
    spec = importlib.util.spec_from_file_location(module, target, loader=loader)
    compiled = importlib.util.module_from_spec(spec)
    loader.exec_module(compiled)
    return compiled


def _compile(cell, names, module, folder, target, flags):
    import pybind11

    compiler = _compiler()
    student = folder / f"{module}.cc"
    student.write_text(cell_source(cell, names))
    glue = folder / f"{module}_glue.cc"
    glue.write_text(glue_source(names, module))
    includes = [f"-I{pybind11.get_include()}", f"-I{sysconfig.get_paths()['include']}"]
    jobs = [_run([*compiler, *COMMON_FLAGS, *flags, "-c", student.name, "-o", f"{module}.o"], folder, student),
            _run([*compiler, *COMMON_FLAGS, *GLUE_FLAGS, *includes, "-c", glue.name, "-o", f"{module}_glue.o"],
                 folder, glue)]
    failed = []
    for process, source in jobs:  # both at once: the glue's headers are the slow part
        output = process.communicate()[0]
        if process.returncode:
            failed.append(output.strip())
    if failed:
        raise CompileError("the C++ did not compile:\n" + "\n".join(failed))
    partial = folder / f"{module}.part"
    linked = subprocess.run([*compiler, "-shared", "-fopenmp", f"{module}.o", f"{module}_glue.o", "-o", partial.name],
                            cwd=folder, capture_output=True, text=True)
    if linked.returncode:
        raise CompileError("the C++ did not link:\n" + linked.stderr.strip())
    partial.rename(target)


# ---------------------------------------------------------------- checked Python functions

def _float32(kernel, **arrays):
    for label, array in arrays.items():
        if not isinstance(array, np.ndarray) or array.dtype != np.float32 or not array.flags.c_contiguous:
            raise TypeError(f"{kernel}: {label} must be a C-ordered float32 numpy array, got "
                            f"{type(array).__name__} {getattr(array, 'dtype', '')}")


def _reach(kernel, size, shape, strides, offset):
    if len(shape) != len(strides):
        raise ValueError(f"{kernel}: shape {tuple(shape)} and strides {tuple(strides)} differ in length")
    if math.prod(shape) == 0:
        return
    low = offset + sum((d - 1) * s for d, s in zip(shape, strides) if s < 0)
    high = offset + sum((d - 1) * s for d, s in zip(shape, strides) if s > 0)
    if min(shape) < 0 or low < 0 or high >= size:
        raise ValueError(f"{kernel}: the view shape={tuple(shape)} strides={tuple(strides)} "
                         f"offset={offset} reaches outside a buffer of {size} elements")


def checked(function, name):
    """``function`` (compiled) behind the checks of its kind: bad arguments raise, never crash."""
    kernel_kind = kind(name)

    if kernel_kind == "compact":
        def compact(a, out, shape, strides, offset):
            _float32(name, a=a, out=out)
            shape, strides = [int(d) for d in shape], [int(s) for s in strides]
            _reach(name, a.size, shape, strides, int(offset))
            if out.size != math.prod(shape):
                raise ValueError(f"{name}: out has {out.size} elements, the view {tuple(shape)} has {math.prod(shape)}")
            if out.size:
                function(a, out, shape, strides, int(offset))
        wrapped = compact
    elif kernel_kind == "matmul":
        def matmul(a, b, out, m, n, p):
            _float32(name, a=a, b=b, out=out)
            if (a.size, b.size, out.size) != (m * n, n * p, m * p):
                raise ValueError(f"{name}: sizes {a.size}, {b.size}, {out.size} do not fit (m, n, p) = {(m, n, p)}")
            if out.size:
                function(a, b, out, int(m), int(n), int(p))
        wrapped = matmul
    else:
        def ewise_add(a, b, out):
            _float32(name, a=a, b=b, out=out)
            if not a.size == b.size == out.size:
                raise ValueError(f"{name}: sizes {a.size}, {b.size}, {out.size} differ")
            function(a, b, out)
        wrapped = ewise_add
    wrapped.__name__ = wrapped.__qualname__ = name
    wrapped.__doc__ = f"{SIGNATURES[kernel_kind].format(name=name)}, compiled from a notebook cell."
    return wrapped


def compile_kernels(cell, names, defines=None):
    """``{name: checked Python function}`` for the C++ ``cell`` (see ``build``)."""
    compiled = build(cell, names, defines)
    return {name: checked(getattr(compiled, name), name) for name in names}


# ---------------------------------------------------------------- the cpu device

def install(**kernels):
    """Make C++ kernels from ``%%cpu_kernel`` the ``cpu`` device's: ``install(compact=compact,
    matmul=matmul_tiled)``. float64 arrays are refused with a TypeError (the kernels are float32)."""
    from .backend_ndarray import cpu

    module = cpu().module
    for label, function in kernels.items():
        if label not in ("compact", "matmul", "ewise_add"):
            raise TypeError(f"install: the cpu device takes compact, matmul and ewise_add, not {label}")
        if kind(getattr(function, "__name__", "")) != label:
            raise TypeError(f"install: {label} must be a {label} kernel made by %%cpu_kernel, "
                            f"got {getattr(function, '__name__', function)!r}")
    for label, function in kernels.items():
        setattr(module, label, _device_kernel(label, function))
    return sorted(kernels)


def _buffers(kernel, *handles):
    arrays = [np.asarray(h) for h in handles]
    if any(a.dtype != np.float32 for a in arrays):
        raise TypeError(f"{kernel}: the kernel installed from the notebook takes float32 arrays, "
                        f"got {', '.join(a.dtype.name for a in arrays)}")
    return arrays


def _device_kernel(label, function):
    """The cpu device's calling convention (buffers, batched matmul) around a checked kernel."""
    if label == "compact":
        def compact(a, out, shape, strides, offset):
            function(*_buffers("compact", a, out), list(shape), list(strides), offset)
        return compact
    if label == "matmul":
        def matmul(a, b, out, batch, m, n, p):
            a, b, out = _buffers("matmul", a, b, out)
            for t in range(batch):
                function(a[t * m * n:(t + 1) * m * n], b[t * n * p:(t + 1) * n * p],
                         out[t * m * p:(t + 1) * m * p], m, n, p)
        return matmul

    def ewise_add(a, b, out):
        function(*_buffers("ewise_add", a, b, out))
    return ewise_add


# ---------------------------------------------------------------- the magic

def cpu_kernel(line, cell):
    """``%%cpu_kernel compact matmul_tiled``: compile the cell's C++ and define those functions
    in the notebook, as Python functions of numpy arrays (install them with ``install``)."""
    from IPython import get_ipython

    kernels = compile_kernels(cell, line.split())
    SOURCES.update(dict.fromkeys(kernels, cell))
    get_ipython().user_ns.update(kernels)
    print(f"compiled {', '.join(kernels)}")


def load_ipython_extension(ipython):
    """``%load_ext needle_edu.cpu_kernel`` (``register()`` does the same from code)."""
    ipython.register_magic_function(cpu_kernel, magic_kind="cell")


def register():
    """Define ``%%cpu_kernel`` in the running IPython."""
    from IPython import get_ipython

    load_ipython_extension(get_ipython())
