"""nbgrader's exchange on a course server: release to it, collect from it, return feedback through it.

On a JupyterHub (``deploy/jupyterhub/``) students fetch and submit in JupyterLab's Assignments
tab; these are the instructor's side of the same folder, each done by nbgrader's own exchange
command (``release_assignment``, ``collect``, ``release_feedback``) on the course root.
"""
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from . import pipeline
from .grading import nbgrader_driver

COURSE_ID = "needle-edu"


class ExchangeError(RuntimeError):
    """An nbgrader exchange command failed; the message holds its reason and output."""


def _run(course, command, assignment, exchange, *extra):
    run = nbgrader_driver.nbgrader(course, command, assignment, f"--Exchange.root={Path(exchange).resolve()}",
                                   f"--CourseDirectory.course_id={COURSE_ID}", *extra)
    if not run.ok:
        raise ExchangeError(f"nbgrader {command} {assignment} failed: {run.reason()}\n{run.output}")
    return run


def publish(course, assignment, exchange):
    """Put the release of ``assignment`` in the exchange's outbound folder, replacing an earlier one."""
    _run(course, "release_assignment", assignment, exchange, "--force")
    return Path(exchange) / COURSE_ID / "outbound" / assignment


def stage_submissions(course, assignment, exchange, folder):
    """Collect each student's latest submission of ``assignment`` from the exchange into
    ``folder/<student>/<assignment>/`` (the layout of ``pipeline.collect``), leaving out those the
    course already holds (same ``timestamp.txt``); the students staged."""
    folder, inbound = Path(folder), Path(exchange) / COURSE_ID / "inbound"
    if not inbound.is_dir():
        raise ExchangeError(f"no {inbound}: nothing was published to the exchange {exchange} "
                            f"(python -m autograder publish {assignment} --exchange {exchange})")
    # nbgrader collects into a course root's submitted/; the staging root is a throwaway one
    # that reads due dates from the course's gradebook.
    staging = replace(course, root=folder / ".nbgrader")
    _run(staging, "collect", assignment, exchange, f"--CourseDirectory.db_url=sqlite:///{course.root / 'gradebook.db'}")
    students = []
    for submission in sorted((staging.root / "submitted").glob(f"*/{assignment}")):
        student = submission.parent.name
        held = course.folder("submitted", assignment, student) / "timestamp.txt"
        if held.exists() and held.read_text() == (submission / "timestamp.txt").read_text():
            continue
        (folder / student).mkdir(exist_ok=True)
        submission.rename(folder / student / assignment)
        students.append(student)
    shutil.rmtree(staging.root)
    return students


def collect(course, assignment, exchange):
    """``pipeline.collect`` of the new submissions in the exchange; the students collected."""
    with tempfile.TemporaryDirectory(prefix="needle-edu-collect-") as folder:
        stage_submissions(course, assignment, exchange, folder)
        return pipeline.collect(course, assignment, folder)


def return_feedback(course, assignment, exchange, student=None):
    """Release the feedback pages of ``assignment`` (``pipeline.feedback``'s) to the exchange, where
    each student's Fetch Feedback finds only their own (nbgrader names them by a hash of the
    submission's secret)."""
    _run(course, "release_feedback", assignment, exchange, *([f"--student={student}"] if student else []))
    return Path(exchange) / COURSE_ID / "feedback"
