"""The student kernel: ipykernel that imports the STUDENT build of needle_edu, never the instructor's.

Run as ``python -m autograder.grading.student_kernel -f <connection file>`` (the ``needle-edu-student``
kernelspec does). The build comes from $NEEDLE_EDU_STUDENT_BUILD (the folder holding
``needle_edu/``) or else from the kernel's working folder, the notebook's.
"""
import importlib.util
import os
import sys
from pathlib import Path

PACKAGE = "needle_edu"
BUILD_VARIABLE = "NEEDLE_EDU_STUDENT_BUILD"
REPO = Path(__file__).resolve().parents[2]  # autograder/grading/student_kernel.py


def _is_instructor_finder(finder):
    """The editable install's redirecting finder (it would resolve needle_edu to the repository)."""
    known = {**getattr(finder, "known_source_files", {}), **getattr(finder, "known_wheel_files", {})}
    return any(name == PACKAGE or name.startswith(PACKAGE + ".") for name in known)


def isolate(build_parent):
    """Make ``import needle_edu`` resolve inside ``build_parent``; return the module's origin.

    Raises RuntimeError when it would still resolve anywhere else.
    """
    build_parent = Path(build_parent).resolve()
    sys.meta_path[:] = [f for f in sys.meta_path if not _is_instructor_finder(f)]
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]
    repo_entries = {str(REPO), ""}
    sys.path[:] = [str(build_parent)] + [p for p in sys.path
                                         if p not in repo_entries and Path(p or ".").resolve() != REPO]
    importlib.invalidate_caches()
    spec = importlib.util.find_spec(PACKAGE)
    origin = Path(spec.origin).resolve() if spec and spec.origin else None
    if origin is None or build_parent / PACKAGE not in origin.parents:
        raise RuntimeError(f"{PACKAGE} resolves to {origin or 'nothing'}, not to the student build in "
                           f"{build_parent / PACKAGE}. Put the student build there, or set "
                           f"{BUILD_VARIABLE} to the folder that holds it.")
    return origin


def main():
    build_parent = os.environ.get(BUILD_VARIABLE) or os.getcwd()
    os.environ.pop("PYTHONPATH", None)  # only the launcher needed it; the kernel's children must not
    try:
        isolate(build_parent)
    except RuntimeError as error:
        sys.exit(f"needle-edu student kernel: {error}")
    from ipykernel import kernelapp
    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
