"""The student build of the library for one assignment.

A copy of the package where every region of that assignment or a later one is a stub, plus the
compiled extension modules of the installed package, and no ``__pycache__``.
"""
import importlib.util
import shutil
import tempfile
from pathlib import Path

from . import native
from .regions import find_regions, stub_source, tag_number

EXTENSION_MODULES = ("backend_ndarray._backend_cpu", "backend_ndarray._backend_cuda")


def scan(library, known_tags):
    """``{file: regions}`` for every Python file of the package; MarkerError on the first bad marker."""
    library = Path(library)
    return {path: regions for path in sorted(library.rglob("*.py"))
            if "__pycache__" not in path.parts and (regions := find_regions(path, known_tags))}


def module_name(library, path):
    """``needle_edu/ops/ops_matmul.py`` -> ``needle_edu.ops.ops_matmul``."""
    parts = list(Path(path).relative_to(Path(library).parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def extension_files(package="needle_edu", modules=EXTENSION_MODULES):
    """``{path inside the package: compiled file}`` for the extension modules that are installed."""
    found = {}
    for module in modules:
        try:
            spec = importlib.util.find_spec(f"{package}.{module}")
        except ImportError:
            spec = None
        if spec and spec.origin and Path(spec.origin).is_file():
            relative = Path(*module.split(".")[:-1]) / Path(spec.origin).name
            found[relative] = Path(spec.origin)
    return found


def build(library, assignment, notebooks, destination, extensions=None):
    """Write the student build for ``assignment`` to ``destination/<package name>``; return that path.

    ``notebooks`` maps every tag to its notebook name (it is also the set of known tags);
    ``extensions`` maps paths inside the package to compiled files (default: the installed ones).
    Nothing is written when a marker is malformed.
    """
    library, destination = Path(library).resolve(), Path(destination)
    regions = scan(library, set(notebooks))
    cutoff = tag_number(assignment[:3])
    if extensions is None:
        extensions = native.student_extensions(library, assignment, notebooks, extension_files(library.name))
    destination.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{library.name}-", dir=destination))
    try:
        package = staging / library.name
        shutil.copytree(library, package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so"))
        for path, file_regions in regions.items():
            stubbed = [r for r in file_regions if tag_number(r.tag) >= cutoff]
            if stubbed:
                target = package / path.relative_to(library)
                target.write_text(stub_source(path, stubbed, module_name(library, path), notebooks))
        for path in list(package.rglob("*.py")):  # stand-ins for what this or an earlier notebook asks for
            if (tag := native.only_before(path)) and tag_number(tag) <= cutoff:
                path.unlink()
        for relative, compiled in extensions.items():
            shutil.copy2(compiled, package / relative)
        final = destination / library.name
        if final.exists():
            shutil.rmtree(final)
        package.rename(final)
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def stubbed_regions(library, assignment, notebooks):
    """The regions that the build for ``assignment`` replaces (for checks that none leaks)."""
    cutoff = tag_number(assignment[:3])
    return [r for regions in scan(library, set(notebooks)).values() for r in regions
            if tag_number(r.tag) >= cutoff]
