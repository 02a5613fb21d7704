"""The class's JupyterHub (``deploy/jupyterhub/``): the student side its servers run, and who gets which.

    python -m autograder.hub setup [--root /srv/needle-edu] [--exchange /srv/nbgrader/exchange] [RELEASES]

A student's server runs in the student environment that ``make lab`` uses (no instructor library,
the kernel a student build installs, only nbgrader's student tools, the class's exchange); an
instructor's runs this repository's environment, opened on the repository (the formgrader, and a
terminal for ``python -m autograder``).
"""
import argparse
import os
import sys
from pathlib import Path

from . import student_lab
from .course import REPO

ROOT = Path("/srv/needle-edu")              # the student side: env/, config/, kernels/
EXCHANGE = Path("/srv/nbgrader/exchange")  # nbgrader's exchange, shared by every server of the class
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def setup(root, releases, exchange):
    """Make the student side under ``root`` and the exchange root (world-writable, as nbgrader wants
    it; ``publish`` makes the course's folders in it with their own permissions)."""
    exchange = Path(exchange)
    exchange.mkdir(parents=True, exist_ok=True)
    exchange.chmod(0o777)
    return student_lab.student_jupyter(root, releases, exchange)


def spawn_settings(root, instructors):
    """A ``Spawner.pre_spawn_hook`` that starts each user's server as a student or an instructor."""
    root, instructors = Path(root).resolve(), set(instructors)
    venv = Path(sys.executable).parent

    def hook(spawner):
        if spawner.user.name in instructors:
            spawner.cmd = [str(venv / "jupyterhub-singleuser")]
            spawner.notebook_dir = str(REPO)
            spawner.environment = {**spawner.environment, "PATH": f"{venv}:{SYSTEM_PATH}"}
        else:
            spawner.cmd = [str(root / "env" / "bin" / "python"), "-m", "jupyterhub.singleuser"]
            spawner.environment = {**spawner.environment, "PATH": f"{root / 'env' / 'bin'}:{SYSTEM_PATH}",
                                   "JUPYTER_CONFIG_PATH": str(root / "config"),
                                   "JUPYTER_PATH": str(root / "kernels" / "share" / "jupyter")}
    return hook


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder.hub", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("setup", help="make the student side and the exchange root")
    make.add_argument("releases", nargs="?", default=str(REPO / "course_build" / "release"))
    make.add_argument("--root", default=os.environ.get("NEEDLE_EDU_HUB_ROOT", str(ROOT)))
    make.add_argument("--exchange", default=os.environ.get("NEEDLE_EDU_EXCHANGE", str(EXCHANGE)))
    options = parser.parse_args(argv)
    config, kernels = setup(options.root, options.releases, options.exchange)
    print(f"student side: {config.parent} (config {config}, kernel {kernels}); exchange: {options.exchange}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
