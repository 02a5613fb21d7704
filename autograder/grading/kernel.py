"""Installs the ``needle-edu-student`` and ``needle-edu-sandbox`` kernelspecs into this environment.

The first runs :mod:`autograder.grading.student_kernel` (the student build of needle_edu); the second,
for grading, runs it inside the sandbox through :mod:`autograder.grading.sandbox_kernel`. Students get
the kernel of the same name from their build (:mod:`needle_edu.jupyter_kernel`).
"""
import json
import os
import sys
from pathlib import Path

from needle_edu.jupyter_kernel import DISPLAY_NAME

from ..course import KERNEL_NAME, REPO, SANDBOX_KERNEL_NAME


def kernelspec(sandboxed=False):
    """The kernel.json contents for this interpreter and this repository."""
    spec = {
        "argv": [sys.executable, "-m", "autograder.grading.student_kernel", "-f", "{connection_file}"],
        "display_name": DISPLAY_NAME,  # the name students see, as the kernel their build installs
        "language": "python",
        "env": {"PYTHONPATH": str(REPO)},  # finds the launcher; the launcher drops it again
        "metadata": {"debugger": True},
    }
    if sandboxed:  # a signal would stop bwrap, not the kernel: interrupt by message
        spec.update(argv=[sys.executable, "-m", "autograder.grading.sandbox_kernel", "-f", "{connection_file}"],
                    display_name="Python 3 (needle-edu grading sandbox)", interrupt_mode="message")
    return spec


def notebook_kernelspec():
    """The ``metadata.kernelspec`` a release notebook carries."""
    spec = kernelspec()
    return {"name": KERNEL_NAME, "display_name": spec["display_name"], "language": spec["language"]}


def install(prefix=sys.prefix):
    """Write ``<prefix>/share/jupyter/kernels/<name>/kernel.json`` of both kernels when it differs."""
    for name, sandboxed in ((SANDBOX_KERNEL_NAME, True), (KERNEL_NAME, False)):
        folder = Path(prefix) / "share" / "jupyter" / "kernels" / name
        target = folder / "kernel.json"
        text = json.dumps(kernelspec(sandboxed), indent=1) + "\n"
        if not target.exists() or target.read_text() != text:
            folder.mkdir(parents=True, exist_ok=True)
            temporary = folder / f".kernel.json.{os.getpid()}"
            temporary.write_text(text)
            os.replace(temporary, target)  # graders running side by side never read half a file
    return target
