"""The one writer of the gradebook: the course tool's main process, after each submission is graded.

nbgrader's autograde writes only a throwaway copy (one per submission); the grades it found are
copied from there, with every autograder test cell's score replaced by the trusted verdict.
"""
import shutil
import warnings
from contextlib import contextmanager


@contextmanager
def opened(url):
    warnings.simplefilter("ignore")  # SQLAlchemy 2.1 deprecation warnings; grades are fine
    from nbgrader.api import Gradebook
    with warnings.catch_warnings(), Gradebook(url) as gradebook:
        yield gradebook


def url(path):
    return f"sqlite:///{path}"


def snapshot(course, target):
    """Copy the gradebook to ``target`` (before any worker starts; the main process writes it only between)."""
    shutil.copyfile(course.root / "gradebook.db", target)
    return target


def forget(course, assignment, student):
    """Remove a submission's grades, so that no stale grade looks current."""
    from nbgrader.api import MissingEntry
    with opened(url(course.root / "gradebook.db")) as gradebook:
        try:
            gradebook.remove_submission(assignment, student)
        except MissingEntry:
            pass


def _found(worker_url, assignment, student):
    """``{(notebook, grade name): (auto_score, needs_manual_grade)}`` and the timestamp nbgrader stored."""
    if worker_url is None:
        return {}, None
    with opened(worker_url) as gradebook:
        submission = gradebook.find_submission(assignment, student)
        grades = {(n.name, g.name): (g.auto_score, g.needs_manual_grade)
                  for n in submission.notebooks for g in n.grades}
        return grades, submission.timestamp


def record(course, assignment, student, verdicts, worker_url=None):
    """Write a submission's grades: nbgrader's from ``worker_url`` (if any), test cells from ``verdicts``.

    ``verdicts``: ``{(notebook, grade_id): score}``; every other grade is 0 when there is no worker.
    """
    found, timestamp = _found(worker_url, assignment, student)
    forget(course, assignment, student)
    with opened(url(course.root / "gradebook.db")) as gradebook:
        gradebook.update_or_create_student(student)
        submission = gradebook.add_submission(assignment, student, **({"timestamp": timestamp} if timestamp else {}))
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                key = (notebook.name, grade.name)
                if key in verdicts:
                    grade.auto_score, grade.needs_manual_grade = verdicts[key], False
                elif key in found:
                    grade.auto_score, grade.needs_manual_grade = found[key]
                else:
                    grade.auto_score, grade.needs_manual_grade = 0.0, False
        gradebook.db.commit()
