"""Installs the ``needle-edu-student`` kernelspec into this environment (generated, not committed).

Its argv runs :mod:`autograder.student_kernel`, which imports the student build of needle_edu.
"""
import json
import os
import sys
from pathlib import Path

from .course import KERNEL_NAME, REPO


def kernelspec():
    """The kernel.json contents for this interpreter and this repository."""
    return {
        "argv": [sys.executable, "-m", "autograder.student_kernel", "-f", "{connection_file}"],
        "display_name": "Python 3 (needle-edu student)",
        "language": "python",
        "env": {"PYTHONPATH": str(REPO)},  # finds the launcher; the launcher drops it again
        "metadata": {"debugger": True},
    }


def notebook_kernelspec():
    """The ``metadata.kernelspec`` a release notebook carries."""
    spec = kernelspec()
    return {"name": KERNEL_NAME, "display_name": spec["display_name"], "language": spec["language"]}


def install(prefix=sys.prefix):
    """Write ``<prefix>/share/jupyter/kernels/needle-edu-student/kernel.json`` when it differs."""
    folder = Path(prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME
    target = folder / "kernel.json"
    text = json.dumps(kernelspec(), indent=1) + "\n"
    if not target.exists() or target.read_text() != text:
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".kernel.json.{os.getpid()}"
        temporary.write_text(text)
        os.replace(temporary, target)  # graders running side by side never read half a file
    return target
