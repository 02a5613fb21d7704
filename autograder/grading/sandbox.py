"""The sandbox a student's kernel runs in: prlimit, then bubblewrap, then setpriv to an unprivileged uid.

The kernel sees a read-only system and Python, the venv and the student build (read-only, at
neutral paths under /opt/needle-edu, so no instructor path shows), a size-limited copy of its
submission folder with a private temp folder in it, and its own ipc folder; no network, no
course root, no repository. ``sandbox_init.py`` runs first inside: it reaps zombie children and
makes a kernel that asks to stop from a cell stop in that cell.
"""
import fcntl
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

BWRAP = "bwrap"
STUDENT_KERNEL = Path(__file__).resolve().parent / "student_kernel.py"
SANDBOX_INIT = Path(__file__).resolve().parent / "sandbox_init.py"
# Paths inside the sandbox's own mount namespace (bwrap creates them), not on this machine; what the
# grader mounts goes under INSIDE, so no path of the instructor's checkout shows to student code.
INSIDE = "/opt/needle-edu"
INSIDE_KERNEL, INSIDE_INIT = f"{INSIDE}/student_kernel.py", f"{INSIDE}/sandbox_init.py"
INSIDE_VENV, INSIDE_BUILD = f"{INSIDE}/venv", f"{INSIDE}/build"
SUBMISSION, SUBMISSION_IN = "/submission", "/submission.in"
TEMP = f"{SUBMISSION}/.tmp"  # the kernel's private temp folder, inside the size-limited scratch
UID_BASE = 61000  # worker slot i runs as uid UID_BASE + i, so process limits are per worker
SLOTS, SLOT_COUNT = Path(f"/tmp/needle-edu-slots-{os.getuid()}"), 1024  # slot i: SLOTS/i.lock locked
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
    """The folders the kernel's interpreter needs: the Python the venv was made from (the venv aside)."""
    roots = {Path(sys.base_prefix), Path(os.path.realpath(sys.executable)).parent.parent}
    if not _venv():
        roots.add(Path(sys.prefix))
    return sorted({r for r in roots if not any(p in r.parents for p in roots)})


def _venv():
    """The virtual environment the grader runs in (it may live in the instructor's checkout), or None."""
    return Path(sys.prefix) if sys.prefix != sys.base_prefix else None


def _venv_binds():
    """The venv, read-only at INSIDE_VENV, with editable installs' import hooks (.pth) made empty."""
    venv = _venv()
    if venv is None:
        return []
    binds = ["--ro-bind", str(venv), INSIDE_VENV]
    for hook in sorted(venv.glob("lib/python*/site-packages/*.pth")):
        if "editable" in hook.name:
            binds += ["--ro-bind", "/dev/null", f"{INSIDE_VENV}/{hook.relative_to(venv)}"]
    return binds


def _python():
    """The kernel's interpreter as the sandbox sees it."""
    return f"{INSIDE_VENV}/bin/{Path(sys.executable).name}" if _venv() else sys.executable


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


def _environment(thread_count):
    python_bin = str(Path(_python()).parent)
    env = {"PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin", "HOME": SUBMISSION, "TMPDIR": TEMP,
           "LANG": "C.UTF-8", "MPLCONFIGDIR": f"{TEMP}/matplotlib", "NUMBA_CACHE_DIR": f"{TEMP}/numba",
           "PYTHONDONTWRITEBYTECODE": "1", "XDG_CACHE_HOME": f"{TEMP}/cache",
           "OMP_NUM_THREADS": str(thread_count), "OPENBLAS_NUM_THREADS": str(thread_count),
           "NUMBA_NUM_THREADS": str(thread_count)}
    env.update({k: v for k, v in os.environ.items() if k.startswith(PASSED_ENV) and k not in env})
    env["NEEDLE_EDU_STUDENT_BUILD"] = INSIDE_BUILD
    for grader_only in ("NEEDLE_EDU_SANDBOX", "NEEDLE_EDU_GRADING_EVENTS"):
        env.pop(grader_only, None)
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
            "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(limits.scratch), "--tmpfs", "/tmp",
            *_parents([*_python_roots(), INSIDE_VENV, INSIDE_BUILD, ipc_dir, INSIDE_KERNEL, *data])]
    for root in [*_python_roots(), *data]:
        wrap += ["--ro-bind", str(root), str(root)]
    wrap += [*_venv_binds(), "--ro-bind", str(build), INSIDE_BUILD]
    wrap += ["--ro-bind", str(STUDENT_KERNEL), INSIDE_KERNEL, "--ro-bind", str(SANDBOX_INIT), INSIDE_INIT,
             "--ro-bind", str(workdir), SUBMISSION_IN,
             "--perms", "0777", "--size", str(limits.scratch), "--tmpfs", SUBMISSION,
             "--bind", str(ipc_dir), str(ipc_dir), "--chdir", SUBMISSION, *_environment(threads)]
    if os.geteuid() == 0:
        wrap += ["--", "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    else:
        wrap += ["--unshare-user", "--cap-drop", "ALL", "--"]
    copy = f'cp -R {SUBMISSION_IN}/. {SUBMISSION}/ 2>/dev/null; mkdir -p {TEMP}; exec "$@"'
    return ["prlimit", *limit, "--", *wrap, "sh", "-c", copy, "sh", _python(), INSIDE_INIT, INSIDE_KERNEL,
            *kernel_arguments]


@contextmanager
def slot():
    """A worker slot no other grading on this machine holds: ``(number, fd)``.

    The slot is an flock on ``SLOTS/<number>.lock``; a process that inherits ``fd`` keeps it taken,
    so a grader's kernel left running by a killed worker never shares its uid with the next one.
    """
    SLOTS.mkdir(mode=0o700, exist_ok=True)
    for number in range(SLOT_COUNT):
        fd = os.open(SLOTS / f"{number}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            yield number, fd
        finally:
            os.close(fd)
        return
    raise RuntimeError(f"all {SLOT_COUNT} grading slots in {SLOTS} are taken")


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
