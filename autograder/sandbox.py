"""The sandbox a student's kernel runs in: prlimit, then bubblewrap, then setpriv to an unprivileged uid.

The kernel sees a read-only system and Python, the student build (read-only), a size-limited
copy of its submission folder and its own ipc folder; no network, no course root, no repository.
"""
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

BWRAP = "bwrap"
STUDENT_KERNEL = Path(__file__).resolve().parent / "student_kernel.py"
# Paths inside the sandbox's own mount namespace (bwrap creates them), not on this machine:
INSIDE_KERNEL = "/opt/needle-edu/student_kernel.py"
SUBMISSION, SUBMISSION_IN = "/submission", "/submission.in"
UID_BASE = 61000  # worker slot i runs as uid UID_BASE + i, so process limits are per worker
SYSTEM = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib64", "/lib32")  # the host's, bound read-only
PASSED_ENV = ("NUMBA_", "OMP_", "OPENBLAS_", "MKL_", "NEEDLE_EDU_")
GiB, MiB = 2**30, 2**20


@dataclass
class Limits:
    """Per-kernel limits; prlimit applies all but ``scratch``, the size of the submission's tmpfs."""
    address_space: int = 8 * GiB
    cpu_seconds: int = 1800
    processes: int = 512
    file_size: int = 256 * MiB
    open_files: int = 512
    scratch: int = 512 * MiB


def _python_roots():
    """The folders the kernel's interpreter needs: the venv and the Python it was made from."""
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(os.path.realpath(sys.executable)).parent.parent}
    return sorted({r for r in roots if not any(p in r.parents for p in roots)})


def _system_binds():
    binds = []
    for path in SYSTEM:
        if os.path.islink(path):
            binds += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            binds += ["--ro-bind", path, path]
    return binds


def _parents(paths):
    """bwrap arguments that make each missing parent of ``paths`` traversable (bwrap would make it 0700)."""
    parents = sorted({str(p) for path in paths for p in Path(path).parents if str(p) not in ("/", "/tmp")})
    return [item for p in parents if not p.startswith(SYSTEM) for item in ("--perms", "0755", "--dir", p)]


def _environment(build, thread_count):
    python_bin = str(Path(sys.executable).parent)
    env = {"PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin", "HOME": SUBMISSION, "TMPDIR": "/tmp",
           "LANG": "C.UTF-8", "MPLCONFIGDIR": "/tmp/matplotlib", "NUMBA_CACHE_DIR": "/tmp/numba",
           "PYTHONDONTWRITEBYTECODE": "1", "XDG_CACHE_HOME": "/tmp/cache",
           "OMP_NUM_THREADS": str(thread_count), "OPENBLAS_NUM_THREADS": str(thread_count),
           "NUMBA_NUM_THREADS": str(thread_count)}
    env.update({k: v for k, v in os.environ.items() if k.startswith(PASSED_ENV) and k not in env})
    env["NEEDLE_EDU_STUDENT_BUILD"] = str(build)
    env.pop("NEEDLE_EDU_SANDBOX", None)
    return [item for key, value in sorted(env.items()) for item in ("--setenv", key, value)]


def command(kernel_arguments, *, workdir, build, ipc_dir, uid, limits=Limits(), threads=1):
    """The argv that runs the student kernel (``python student_kernel.py <kernel_arguments>``) sandboxed.

    ``workdir`` is copied into the sandbox's tmpfs; ``build`` holds ``needle_edu/``; ``ipc_dir``
    holds the connection file and sockets, at the same path inside.
    """
    limit = [f"--as={limits.address_space}", f"--cpu={limits.cpu_seconds}", f"--nproc={limits.processes}",
             f"--fsize={limits.file_size}", f"--nofile={limits.open_files}", "--core=0"]
    data = os.environ.get("NEEDLE_EDU_DATA")
    data = [data] if data and os.path.isdir(data) else []
    wrap = [BWRAP, "--die-with-parent", "--new-session", "--unshare-net", "--unshare-pid", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try", "--clearenv", *_system_binds(),
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
            *_parents([*_python_roots(), build, ipc_dir, INSIDE_KERNEL, *data])]
    for root in [*_python_roots(), *data, build]:
        wrap += ["--ro-bind", str(root), str(root)]
    wrap += ["--ro-bind", str(STUDENT_KERNEL), INSIDE_KERNEL, "--ro-bind", str(workdir), SUBMISSION_IN,
             "--perms", "0777", "--size", str(limits.scratch), "--tmpfs", SUBMISSION,
             "--bind", str(ipc_dir), str(ipc_dir), "--chdir", SUBMISSION, *_environment(build, threads)]
    if os.geteuid() == 0:
        wrap += ["--", "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    else:
        wrap += ["--unshare-user", "--cap-drop", "ALL", "--"]
    copy = f'cp -R {SUBMISSION_IN}/. {SUBMISSION}/ 2>/dev/null; exec "$@"'
    return ["prlimit", *limit, "--", *wrap, "sh", "-c", copy, "sh", sys.executable, INSIDE_KERNEL,
            *kernel_arguments]


@lru_cache(maxsize=None)
def _probe(bwrap):
    for tool in (bwrap, "prlimit", "setpriv"):
        if not shutil.which(tool):
            return f"{tool} is not installed (Debian: apt-get install bubblewrap util-linux)"
    probe = [bwrap, "--die-with-parent", "--unshare-net", "--unshare-pid", "--ro-bind", "/", "/", "true"]
    try:
        result = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap could not run: {error}"
    if result.returncode != 0:
        return f"bubblewrap cannot make namespaces here (no user namespaces?): {result.stderr.strip()[:300]}"
    return None


def unavailable():
    """Why student code cannot be sandboxed on this machine, or None when it can."""
    return _probe(BWRAP)


def settings(uid, ipc_dir, limits=Limits(), threads=1):
    """What the kernel launcher needs, as one environment variable's JSON value."""
    import json
    return json.dumps({"uid": uid, "ipc_dir": str(ipc_dir), "limits": asdict(limits), "threads": threads})
