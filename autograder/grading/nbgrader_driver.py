"""Runs nbgrader: each command in its own subprocess, from the repository root (its nbgrader_config.py).

A student's autograde is one subprocess with a wall-clock limit, so an nbgrader crash costs
that student only; grades are read here and written by :mod:`.gradebook`.
"""
import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..course import REPO
from .gradebook import opened, url


CONFIG_ERROR = "Exception while loading config file"  # nbgrader then goes on with its defaults
PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before any fork


def _die_with_parent():
    """In the child, before nbgrader starts: SIGKILL it when the thread that started it dies (a killed
    worker), so no autograde outlives its grader; its sandboxed kernel dies with it (bwrap --die-with-parent)."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Run:
    """What one nbgrader command did."""
    returncode: int
    output: str
    seconds: float
    timed_out: bool = False

    @property
    def ok(self):
        return self.returncode == 0 and not self.timed_out and CONFIG_ERROR not in self.output

    def reason(self):
        """The most telling line of a failed run, for the log and the table."""
        if self.timed_out:
            return f"stopped after the {self.seconds:.0f} s budget for a submission"
        if CONFIG_ERROR in self.output:
            return "nbgrader could not load nbgrader_config.py (see the log)"
        lines = [line.strip() for line in self.output.splitlines() if line.strip()]
        telling = [line for line in lines if "Error" in line or "died" in line]  # the exception, last
        return (telling or lines or [f"exit status {self.returncode}"])[-1][:300]


def nbgrader(course, *arguments, env=None, timeout=None, pass_fds=()):
    """``nbgrader <arguments>`` on ``course``; it and all it started are killed past ``timeout`` seconds.

    ``pass_fds``: descriptors it inherits (a sandbox slot's lock, held while it runs)."""
    command = [sys.executable, "-m", "autograder.grading.nbgrader_main", *arguments,
               f"--CourseDirectory.root={course.root}"]
    if not any(str(argument).startswith("--Execute.timeout=") for argument in arguments):
        command.append(f"--Execute.timeout={course.cell_timeout}")
    # nbgrader runs the environment's `alembic` script, so its bin/ goes on PATH
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    environment = {**os.environ, "PATH": path, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore",
                   **(env or {})}
    start = time.monotonic()
    process = subprocess.Popen(command, cwd=REPO, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True, pass_fds=pass_fds,
                               preexec_fn=_die_with_parent)
    try:
        output, _ = process.communicate(timeout=timeout)
        return Run(process.returncode, output, time.monotonic() - start)
    except subprocess.TimeoutExpired:
        for pid in [process.pid] + _descendants(process.pid):  # the kernel runs in its own session
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        output, _ = process.communicate()
        return Run(-signal.SIGKILL, output, time.monotonic() - start, timed_out=True)


def _descendants(pid):
    """Every process below ``pid`` (Linux /proc), children first."""
    found, todo = [], [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            todo += children
    return found


def generate_assignment(course, assignment):
    return nbgrader(course, "generate_assignment", assignment, "--force")


def autograde(course, assignment, student, options=(), env=None, timeout=None, pass_fds=()):
    """Autograde one submission with extra nbgrader ``options`` (its staging, gradebook, kernel)."""
    return nbgrader(course, "autograde", assignment, f"--student={student}", "--force", *options,
                    env=env, timeout=timeout, pass_fds=pass_fds)


def generate_feedback(course, assignment, student=None):
    student_option = [f"--student={student}"] if student else []
    return nbgrader(course, "generate_feedback", assignment, *student_option, "--force")


@dataclass
class CellGrade:
    name: str
    score: float
    max_score: float
    autograded: bool


@dataclass
class Grade:
    """A student's grade for one assignment, as the gradebook has it."""
    assignment: str
    student: str
    score: float
    max_score: float
    cells: list
    timestamp: str = ""


def grades(course, assignment=None):
    """Every graded submission in the gradebook (of ``assignment`` if given)."""
    if not (course.root / "gradebook.db").exists():
        return []
    result = []
    with opened(url(course.root / "gradebook.db")) as gradebook:
        for stored in gradebook.assignments:
            if assignment and stored.name != assignment:
                continue
            for submission in stored.submissions:
                cells = [CellGrade(g.name, g.score, g.max_score, g.auto_score is not None)
                         for notebook in submission.notebooks for g in notebook.grades]
                result.append(Grade(stored.name, submission.student.id, submission.score,
                                    submission.max_score, cells, str(submission.timestamp or "")))
    return sorted(result, key=lambda g: (g.assignment, g.student))


def write_log(path, run):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(run.output + ("" if run.ok else f"\n[course tool] FAILED: {run.reason()}\n"))
    return path
