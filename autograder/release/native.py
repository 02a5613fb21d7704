"""The compiled side of a student build: C++ kernels that an assignment asks students to write.

A C++ region is the lines between ``// BEGIN SOLUTION aNN`` and ``// END SOLUTION`` inside a
function of a file of ``SOURCES``. The student build of aNN carries that extension compiled with
each aNN region replaced by a ``NotImplementedError``, so that its device cannot stand in for the
student's C++ (they write it in the notebook, compiled by ``needle_edu.cpu_kernel``). Builds
before aNN carry the compiled reference: their notebooks run on those kernels, and machine code
shows no source. Builds after it carry the reference too, as for Python regions.
"""
import hashlib
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

# C++ file (relative to the repository) -> the extension module it builds, inside the package.
SOURCES = {"src_cpp/ndarray_backend_cpu.cc": "backend_ndarray._backend_cpu"}
FLAGS = ["-O3", "-Wall", "-std=c++17", "-fPIC", "-shared", "-fopenmp"]

BEGIN = re.compile(r"^(?P<indent>[ \t]*)//[ \t]*BEGIN SOLUTION[ \t]+(?P<tag>a\d\d)[ \t]*$")
END = re.compile(r"^[ \t]*//[ \t]*END SOLUTION[ \t]*$")
DEFINITION = re.compile(r"^[A-Za-z_][\w:<>,*& ]*?\b(?P<name>\w+)\(")  # a function defined at column 0


def cpp_regions(path):
    """``[(first line, last line, tag, indent, function)]`` (0-based, markers included) of ``path``."""
    lines = Path(path).read_text().splitlines()
    regions, open_at, function = [], None, None
    for number, line in enumerate(lines):
        if (found := DEFINITION.match(line)) and open_at is None:
            function = found["name"]
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if open_at is not None or function is None:
                raise ValueError(f"{path}:{number + 1}: C++ region nested or outside a function")
            open_at = (number, begin["tag"], begin["indent"])
        elif end:
            if open_at is None:
                raise ValueError(f"{path}:{number + 1}: END SOLUTION without a BEGIN SOLUTION")
            regions.append((open_at[0], number, open_at[1], open_at[2], function))
            open_at = None
    if open_at is not None:
        raise ValueError(f"{path}:{open_at[0] + 1}: BEGIN SOLUTION {open_at[1]} is never closed")
    return regions


def stub_cpp(path, tag, notebook):
    """The text of ``path`` with each ``tag`` region replaced by a line raising NotImplementedError."""
    lines = Path(path).read_text().splitlines()
    for first, last, region_tag, indent, function in reversed(cpp_regions(path)):
        if region_tag == tag:
            message = (f"{function} of this device is yours to write in notebook {notebook}: write it there "
                       f"in C++ with %%cpu_kernel, then run needle_edu.cpu_kernel.install({function}=your_function)")
            lines[first:last + 1] = [f'{indent}PyErr_SetString(PyExc_NotImplementedError, "{message}");',
                                     f"{indent}throw py::error_already_set();"]
    return "\n".join(lines) + "\n"


def compile_stubbed(repository, source, tag, notebook, cache):
    """The extension built from ``source`` with its ``tag`` regions stubbed, cached by its text."""
    import pybind11

    text = stub_cpp(Path(repository) / source, tag, notebook)
    digest = hashlib.sha1("\0".join([text, *FLAGS, sys.version]).encode()).hexdigest()[:16]
    folder = Path(cache) / digest
    target = folder / (Path(SOURCES[source].replace(".", "/")).name + sysconfig.get_config_var("EXT_SUFFIX"))
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    stubbed = folder / Path(source).name
    stubbed.write_text(text)
    command = ["c++", *FLAGS, f"-I{pybind11.get_include()}", f"-I{sysconfig.get_paths()['include']}",
               str(stubbed), "-o", str(target.with_suffix(".part"))]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"the student build's {source} did not compile:\n{result.stderr[-4000:]}")
    target.with_suffix(".part").rename(target)
    return target


def student_extensions(library, assignment, notebooks, extensions, cache=None):
    """``extensions`` ({path in the package: compiled file}) with each extension whose source has
    regions of ``assignment`` replaced by its stubbed build."""
    repository = Path(library).resolve().parent
    cache = Path(cache) if cache else repository / "build" / "student_native"
    tag = assignment[:3]
    result = dict(extensions)
    for source, module in SOURCES.items():
        path = repository / source
        if not path.exists() or not any(r[2] == tag for r in cpp_regions(path)):
            continue
        compiled = compile_stubbed(repository, source, tag, notebooks[tag], cache)
        relative = next((p for p in result if p.parent == Path(*module.split(".")[:-1])
                         and p.name.startswith(module.split(".")[-1] + ".")), None)
        result.pop(relative, None)
        result[Path(*module.split(".")[:-1]) / compiled.name] = compiled
    return result


ONLY_BEFORE = re.compile(r"^# needle-edu: builds before (a\d\d) only$")


def only_before(path):
    """The tag in a file's first line ``# needle-edu: builds before aNN only``, or None: such a
    file (a stand-in for what aNN asks students to write) is left out of the builds of aNN and later."""
    with open(path) as file:
        found = ONLY_BEFORE.match(file.readline().rstrip("\n"))
    return found[1] if found else None
