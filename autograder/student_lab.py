"""A student's JupyterLab on the releases (``make lab``): only what a student receives.

What runs there: the release folders; a Python environment with the course's published packages
and neither the instructor library nor this course tool (a virtual environment that sees this
one's site-packages but not the editable install of ``needle_edu``, which only a ``.pth`` hook
of this environment would add); the kernel that the student build installs itself
(``python -m needle_edu.jupyter_kernel``); and only nbgrader's student extensions (the
assignment list and Validate), no formgrader and no Create Assignment. The instructor keeps the
formgrader in their own lab (``jupyter lab`` from the repository root).

    python -m autograder.student_lab [--port N] [RELEASES]   # RELEASES: course_build/release
"""
import argparse
import json
import os
import shutil
import site
import stat
import subprocess
import sys
import venv
from pathlib import Path

from needle_edu.jupyter_kernel import MODULE, NAME

from .exchange import COURSE_ID

INSTRUCTOR_PLUGINS = ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                      "@jupyter/nbgrader:course-list"]
SERVER_EXTENSIONS = {"jupyterlab": True,  # a hub's single-user server loads JupyterLab as an extension
                     "nbgrader.server_extensions.formgrader": False,
                     "nbgrader.server_extensions.course_list": False,
                     "nbgrader.server_extensions.assignment_list": True,
                     "nbgrader.server_extensions.validate_assignment": True}
CELL_TIMEOUT = 1800  # seconds a cell may run under Validate: a full-size training cell takes minutes


def student_environment(folder):
    """A virtual environment at ``folder`` with this one's packages but no ``needle_edu`` or
    ``autograder``; return its Python. Cheap to make again (no copies of the packages)."""
    folder = Path(folder)
    python = folder / "bin" / "python"
    if not python.exists():
        venv.EnvBuilder(with_pip=False, symlinks=True, clear=True).create(folder)
    packages = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True).stdout.strip()
    # A path listed in a .pth file joins sys.path, but the .pth files inside it are not run:
    # the editable install's import hook stays out.
    (Path(packages) / "course_packages.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return python


def release_to_exchange(releases, exchange):
    """Put every release folder in ``releases`` into nbgrader's exchange at ``exchange`` as released
    to the course (what ``nbgrader release_assignment`` does on a course server); return it."""
    exchange = Path(exchange)
    outbound, inbound = exchange / COURSE_ID / "outbound", exchange / COURSE_ID / "inbound"
    for folder in (outbound, inbound, exchange / COURSE_ID / "feedback"):
        folder.mkdir(parents=True, exist_ok=True)
    exchange.chmod(0o777)
    inbound.chmod(0o733 | stat.S_ISVTX)  # students may hand in, not read each other's work
    for release in sorted(Path(releases).iterdir()):
        if release.is_dir() and list(release.glob("*.ipynb")):
            shutil.rmtree(outbound / release.name, ignore_errors=True)
            shutil.copytree(release, outbound / release.name, ignore=shutil.ignore_patterns("__pycache__"))
    return exchange


def student_jupyter(root, releases, exchange, assignment_dir=None):
    """The student side's Jupyter folders under ``root``, for this lab and the class's JupyterHub: a
    student environment (``env/``), the kernel a student build installs (``kernels/``) and
    ``config/`` (server extensions and kernel, the lab's disabled instructor plugins, nbgrader's
    exchange at ``exchange``); return (config folder, kernels' Jupyter path)."""
    root, releases = Path(root).resolve(), Path(releases).resolve()
    config, kernels = root / "config", root / "kernels"
    for folder in (config / "labconfig", kernels):
        folder.mkdir(parents=True, exist_ok=True)
    (config / "jupyter_server_config.json").write_text(json.dumps(
        {"ServerApp": {"jpserver_extensions": SERVER_EXTENSIONS},
         "KernelSpecManager": {"allowed_kernelspecs": [NAME]},
         "MultiKernelManager": {"default_kernel_name": NAME}}, indent=1) + "\n")
    (config / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {plugin: True for plugin in INSTRUCTOR_PLUGINS}}, indent=1) + "\n")
    (config / "nbgrader_config.py").write_text(
        "# The student side's nbgrader: Validate gives each cell time for a full-size training run;\n"
        "# the Assignments tab fetches from and submits to the exchange. On a JupyterHub the student is\n"
        "# the hub user, whichever unix user their server runs as.\n"
        f"import os\nc = get_config()  # noqa: F821\nc.Execute.timeout = {CELL_TIMEOUT}\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\nc.Exchange.root = {str(Path(exchange).resolve())!r}\n"
        + (f"c.Exchange.assignment_dir = {str(assignment_dir)!r}\n" if assignment_dir else "")
        + "if os.environ.get('JUPYTERHUB_USER'):\n    c.CourseDirectory.student_id = os.environ['JUPYTERHUB_USER']\n")
    python = student_environment(root / "env")
    assignment = next((p for p in sorted(releases.iterdir()) if (p / "needle_edu").is_dir()), None)
    if assignment is None:
        raise SystemExit(f"no release with a needle_edu/ folder in {releases}: run `python -m autograder release`")
    # The student build installs its own kernel, run from a release folder as a student would.
    subprocess.run([str(python), "-m", MODULE, "--prefix", str(kernels)], cwd=assignment, check=True,
                   stdout=subprocess.DEVNULL)
    return config, kernels / "share" / "jupyter"


def lab_settings(root, releases):
    """Write the lab's Jupyter folders under ``root``; return the environment variables that use them."""
    root = Path(root).resolve()
    exchange, home = release_to_exchange(releases, root / "exchange"), root / "home"
    home.mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    config, kernels = student_jupyter(root, releases, exchange, assignment_dir=home)
    return {"JUPYTER_CONFIG_DIR": str(config), "JUPYTER_DATA_DIR": str(root / "data"),
            "JUPYTER_PATH": str(kernels), "JUPYTER_RUNTIME_DIR": str(root / "runtime")}


def command(home, port=None, extra=()):
    """The ``jupyter lab`` command line serving the student's ``home`` folder."""
    line = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={Path(home).resolve()}"]
    if port:
        line.append(f"--port={port}")
    if os.geteuid() == 0:
        line.append("--allow-root")
    return line + list(extra)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder.student_lab", description=__doc__.splitlines()[0])
    parser.add_argument("releases", nargs="?", default="course_build/release")
    parser.add_argument("--root", default="course_build/student_lab", help="the lab's own Jupyter folders")
    parser.add_argument("--port", type=int)
    options, extra = parser.parse_known_args(argv)
    root, releases = Path(options.root).resolve(), Path(options.releases).resolve()
    env = dict(os.environ, **lab_settings(root, releases))
    env.pop("PYTHONPATH", None)
    # Started from the lab's own folder: no nbgrader_config.py of the course is found there.
    os.chdir(root)
    os.execve(sys.executable, command(root / "home", options.port, extra), env)


if __name__ == "__main__":
    main()
