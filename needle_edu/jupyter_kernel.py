"""The Jupyter kernel of the course's notebooks: ``python -m needle_edu.jupyter_kernel`` installs it.

Run it once, in the folder of a student release (the notebook and ``needle_edu/`` side by side),
with the Python that has the course's packages (numpy, numba, matplotlib, tqdm, threadpoolctl,
ipykernel). It installs the kernel "Python 3 (needle-edu student)" that the notebooks ask for.
That kernel starts in the folder of the notebook it runs and imports the ``needle_edu/`` found
there, so each assignment runs on its own copy of the library; where there is none it refuses
to start and says why.

    python -m needle_edu.jupyter_kernel                  # into this Python's environment
    python -m needle_edu.jupyter_kernel --user           # into your user's Jupyter folder
    python -m needle_edu.jupyter_kernel --prefix PREFIX  # into PREFIX/share/jupyter/kernels
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

NAME = "needle-edu-student"
DISPLAY_NAME = "Python 3 (needle-edu student)"
MODULE = "needle_edu.jupyter_kernel"  # not __name__, which is "__main__" when run with -m


def kernelspec(python=None):
    """The kernel.json contents: this module, run by ``python``, launches the kernel."""
    return {"argv": [python or sys.executable, "-m", MODULE, "launch", "-f", "{connection_file}"],
            "display_name": DISPLAY_NAME, "language": "python", "metadata": {"debugger": True}}


def install(user=False, prefix=None):
    """Install the kernelspec (into this environment unless ``user`` or ``prefix``); return its folder."""
    from jupyter_client.kernelspec import KernelSpecManager
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "kernel.json").write_text(json.dumps(kernelspec(), indent=1) + "\n")
        return Path(KernelSpecManager().install_kernel_spec(
            folder, kernel_name=NAME, user=user, prefix=None if user else (prefix or sys.prefix)))


def launch(argv):
    """Start the kernel, in the notebook's folder, on the ``needle_edu`` found there."""
    package = Path(sys.modules["needle_edu"].__file__).resolve().parent
    here = Path.cwd().resolve()
    if package.parent != here:
        sys.exit(f"needle-edu student kernel: this notebook's folder {here} holds no needle_edu/ "
                 f"(the library would come from {package}). Open the notebook inside its release "
                 f"folder, next to the needle_edu/ folder that came with it.")
    from ipykernel import kernelapp
    kernelapp.launch_new_instance(argv=argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["launch"]:
        return launch(argv[1:])
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="install for this user only")
    where.add_argument("--prefix", help="install into PREFIX/share/jupyter/kernels")
    options = parser.parse_args(argv)
    folder = install(user=options.user, prefix=options.prefix)
    print(f"installed the Jupyter kernel {DISPLAY_NAME!r} ({NAME}) in {folder}")


if __name__ == "__main__":
    main()
