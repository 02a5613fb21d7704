"""Grading a batch of submissions in parallel: workers run nbgrader, the main thread alone writes grades.

Each submission is staged in ``grading/<assignment>/<student>/`` (a repaired copy, a throwaway
gradebook, nbgrader's output), autograded by its own nbgrader process in the sandbox, on a thread
here or as a task on a cluster (:mod:`.cluster`), then judged here by :mod:`.verdict`.
"""
import dataclasses
import json
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from .. import notebooks
from ..course import SANDBOX_KERNEL_NAME
from ..release import expected
from . import gradebook, nbgrader_driver, outcomes, preflight, sandbox, verdict
from .student_kernel import BUILD_VARIABLE

GRACE = 120  # seconds past the budget before the worker's nbgrader process is killed


class Interrupted(RuntimeError):
    """Grading stopped before every submission came back (the cluster went away); the message says why."""


@dataclass
class Staged:
    """What a worker hands back to the main thread."""
    student: str
    workspace: Path
    notes: list = field(default_factory=list)
    zero: str = ""
    run: nbgrader_driver.Run = None
    seconds: float = 0.0
    where: str = ""  # the cluster worker and attempt that graded it; "" for this machine's threads


def _events(workspace):
    """One line per thing that happened to the kernel, naming the cell by grade_id."""
    path = workspace / "events.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    notes = []
    for event in map(json.loads, lines):
        name = event.get("name", f"cell {event['cell']}")
        if event["event"] == "restart":
            notes.append(f"{name}: {event['reason']}; kernel restarted")
        elif event["event"] == "timeout":
            notes.append(f"{name}: timed out after {event['seconds']} s and was interrupted")
        elif not any(n.startswith("not run from") for n in notes):
            notes.append(f"not run from {name} on: {event['reason']}")
    return notes


def work(course, assignment, student, workspace, snapshot, sandboxed, env=None):
    """Stage and autograde one submission in ``workspace``, on any machine that sees the course root.

    It writes nothing outside ``workspace`` (nbgrader's autograded notebooks included); ``env``:
    variables for nbgrader and the kernel beyond this process's own.
    """
    start = time.monotonic()
    staged = _stage(course, assignment, student, Path(workspace), snapshot, sandboxed, env or {})
    staged.seconds = time.monotonic() - start
    return staged


def _stage(course, assignment, student, workspace, snapshot, sandboxed, env):
    shutil.rmtree(workspace, ignore_errors=True)
    staged = workspace / "submitted" / student / assignment
    shutil.copytree(course.folder("submitted", assignment, student), staged)
    try:
        notes = preflight.repair(staged, course.folder("release", assignment))
    except preflight.Ungradable as error:
        return Staged(student, workspace, zero=str(error))
    shutil.copyfile(snapshot, workspace / "gradebook.db")
    cell_timeout, budget = expected.time_limits(course, assignment)
    # A kernel's CPU seconds count all its threads: a budget raised for long training raises them too.
    limits = dataclasses.replace(course.limits, cpu_seconds=max(course.limits.cpu_seconds, 2 * budget))
    with sandbox.slot() as (slot, lock):
        ipc = Path(tempfile.mkdtemp(prefix="ng", dir="/tmp"))  # short: socket paths have a length limit
        try:
            env = {**env, BUILD_VARIABLE: str(course.student_build(assignment)),
                   "NEEDLE_EDU_GRADING_EVENTS": str(workspace / "events.jsonl")}
            relative = workspace.relative_to(course.root)
            options = [f"--CourseDirectory.submitted_directory={relative / 'submitted'}",
                       f"--CourseDirectory.autograded_directory={relative / 'autograded'}",
                       f"--CourseDirectory.db_url={gradebook.url(workspace / 'gradebook.db')}",
                       f"--SurvivingExecute.budget={budget}", f"--Execute.timeout={cell_timeout}"]
            if sandboxed:
                env["NEEDLE_EDU_SANDBOX"] = sandbox.settings(sandbox.UID_BASE + slot, ipc, limits)
                options += [f"--Execute.kernel_name={SANDBOX_KERNEL_NAME}", "--KernelManager.transport=ipc",
                            f"--KernelManager.ip={ipc}/kernel"]
            run = nbgrader_driver.autograde(course, assignment, student, options, env,
                                            timeout=budget + GRACE, pass_fds=(lock,))
        finally:
            shutil.rmtree(ipc, ignore_errors=True)
    return Staged(student, workspace, notes + _events(workspace), run=run)


def _adopt(course, assignment, staged):
    """Move the staged autograded notebooks to autograded/<student>/<assignment>/, where feedback reads them."""
    target = course.folder("autograded", assignment, staged.student)
    shutil.rmtree(target, ignore_errors=True)
    source = staged.workspace / "autograded" / staged.student / assignment
    if source.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, target)


def _verdicts(course, assignment, student):
    """``{(notebook, grade_id): score}``, the reasons of lost points, and the students' version of them."""
    scores, reasons, told = {}, [], []
    for path in sorted(course.folder("release", assignment).glob("*.ipynb")):
        graded = notebooks.read(course.folder("autograded", assignment, student) / path.name)
        expected_cells = expected.load(course, assignment, path.name)
        if expected_cells is None:  # released before checks were recorded: every test cell, nbgrader's way
            expected_cells = {notebooks.nbgrader_meta(c)["grade_id"]: {} for c in notebooks.read(path).cells
                              if notebooks.is_test(c) and notebooks.nbgrader_meta(c).get("points")}
        cells = notebooks.by_grade_id(graded)
        for grade_id, (score, why) in verdict.scores(graded, expected_cells).items():
            scores[(path.stem, grade_id)] = score
            reasons += [f"{grade_id}: {why}"] if why else []
            if why:
                safe = (verdict.student_reason(cells[grade_id], expected_cells[grade_id], score)
                        if grade_id in cells else why)
                told.append(f"{grade_id}: {safe}")
    return scores, reasons, told


def _judge(course, assignment, staged):
    """Write the grade of one staged submission (main thread only); its Outcome."""
    seconds = staged.seconds
    log = course.root / "logs" / assignment / f"{staged.student}.log"
    if staged.zero:
        gradebook.record(course, assignment, staged.student, {})
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"[course tool] zero: {staged.zero}\n")
        return outcomes.Outcome(staged.student, "zero", seconds, staged.zero, str(log), student_reason=staged.zero)
    nbgrader_driver.write_log(log, staged.run)
    if staged.where:
        with log.open("a") as file:
            file.write(f"[course tool] graded on {staged.where}\n")
    _adopt(course, assignment, staged)
    if not staged.run.ok:
        gradebook.forget(course, assignment, staged.student)
        return outcomes.Outcome(staged.student, "ungraded", seconds, staged.run.reason(), str(log))
    scores, reasons, told = _verdicts(course, assignment, staged.student)
    worker = gradebook.url(staged.workspace / "gradebook.db")
    gradebook.record(course, assignment, staged.student, scores, worker)
    return outcomes.Outcome(staged.student, "graded", seconds, "; ".join(staged.notes + reasons), str(log),
                            student_reason="; ".join(staged.notes + told))


def on_threads(course, assignment, students, snapshot, sandboxed):
    """Stage and autograde on ``course.jobs`` threads here; yield ``(student, future)`` as each finishes."""
    with ThreadPoolExecutor(max_workers=course.jobs) as pool:
        started = {pool.submit(work, course, assignment, s, course.root / "grading" / assignment / s,
                               snapshot, sandboxed): s for s in students}
        for future in as_completed(started):
            yield started[future], future


def grade(course, assignment, students, sandboxed, report=print, runner=on_threads):
    """Grade ``students``; one Outcome each, in the order given.

    ``runner(course, assignment, students, snapshot, sandboxed)`` stages and autogrades them (this
    machine's threads, or a cluster: :mod:`.cluster`) and yields ``(student, future)`` as each
    finishes; this thread alone judges and writes grades. A runner that raises Interrupted leaves
    the grades of the submissions that finished, and the others ungraded.
    """
    for student in students:  # a grade that is not redone now must not look current
        gradebook.forget(course, assignment, student)
    work_folder = course.root / "grading" / assignment
    work_folder.mkdir(parents=True, exist_ok=True)
    snapshot = gradebook.snapshot(course, work_folder / "gradebook-snapshot.db")
    results, start = {}, time.monotonic()
    try:
        for student, future in runner(course, assignment, students, snapshot, sandboxed):
            try:
                outcome = _judge(course, assignment, future.result())
            except Exception as error:  # a bug or a broken course must not stop the other students
                gradebook.forget(course, assignment, student)
                outcome = outcomes.Outcome(student, "ungraded", time.monotonic() - start,
                                           f"grader error: {type(error).__name__}: {error}")
            outcomes.save(course, assignment, outcome)
            results[student] = outcome
            status = {"graded": "graded", "zero": "ZERO"}.get(outcome.status, "FAILED")
            detail = f": {outcome.reason}" if outcome.reason else ""
            report(f"  {assignment} {student:<12} {status}{detail} [{outcome.seconds:.1f} s]")
    except Interrupted as stop:
        for student in students:
            if student not in results:
                outcomes.save(course, assignment, outcomes.Outcome(student, "ungraded", 0.0, f"not graded: {stop}"))
        raise Interrupted(f"{stop}; the gradebook holds the {len(results)} of {len(students)} submissions that "
                          f"finished, grade the others again") from None
    finally:
        shutil.rmtree(work_folder, ignore_errors=True)
    return [results[s] for s in students]
