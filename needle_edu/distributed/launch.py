"""Start an MPI job from Python: ``mpirun -n P python ...``, with the flags this machine needs."""
import os
import shutil
import subprocess
import sys


def _is_open_mpi(mpirun_path):
    done = subprocess.run([mpirun_path, "--version"], capture_output=True, text=True, timeout=30)
    return "Open MPI" in done.stdout + done.stderr or "OpenRTE" in done.stdout + done.stderr


def mpirun_command(processes, *arguments):
    """The command that runs ``python *arguments`` in ``processes`` ranks.

    Open MPI refuses to run as root without ``--allow-run-as-root`` and more ranks than cores
    without ``--oversubscribe``; both are added for it.
    """
    path = shutil.which("mpirun")
    if path is None:
        raise FileNotFoundError("mpirun is not installed (Debian: apt-get install openmpi-bin)")
    flags = []
    if _is_open_mpi(path):
        flags = ["--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])
    return [path, "-n", str(processes), *flags, sys.executable, *map(str, arguments)]


def mpirun(processes, *arguments, timeout=300, env=None):
    """Run the job and return its ``CompletedProcess`` (stdout and stderr as text).

    A job still running after ``timeout`` seconds is killed and raises ``TimeoutExpired``.
    Each rank gets one compute thread, so P ranks use P cores, not P times all of them.
    """
    threads = {"OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run(mpirun_command(processes, *arguments), capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **threads, **(env or {})})
