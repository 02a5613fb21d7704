"""The instructor's jobs on one assignment: release, examples, collect, grade, feedback, export.

Each job reads and writes the course root; nbgrader does the notebook work.
"""
import concurrent.futures
import csv
import os
import shutil
import tempfile
from pathlib import Path

from . import notebooks
from .grading import batch, gradebook, kernel, nbgrader_driver, outcomes, sandbox
from .grading import feedback as feedback_pages
from .release import examples, expected, student_build

IGNORED_IN_SUBMISSIONS = shutil.ignore_patterns("needle_edu", "__pycache__", ".ipynb_checkpoints")


class CourseError(RuntimeError):
    """A job could not be done; the message says why."""


def release(course, assignment):
    """Student build, source conversion and nbgrader's release of ``assignment``; the release folder.

    Recording the expected values (running the source notebook, most of the time) overlaps
    with the student build and nbgrader's generate_assignment: they share no files.
    """
    source = course.assignments()[assignment]
    kernel.install()
    notebooks.convert_sources(source, course.folder("source", assignment))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as recorder:
        recording = recorder.submit(expected.record, course, assignment)
        try:
            released = _build_release(course, assignment)
        finally:
            try:
                recording.result()
            except expected.SourceTestFailed as error:
                raise CourseError(f"{assignment}: {error}") from None
    return released


def _build_release(course, assignment):
    """The student build, and nbgrader's release of the converted source with the build beside it."""
    build = student_build.build(course.library, assignment, course.notebook_names(),
                                course.student_build(assignment))
    run = nbgrader_driver.generate_assignment(course, assignment)
    if not run.ok:
        raise CourseError(f"nbgrader generate_assignment {assignment} failed: {run.reason()}\n{run.output}")
    released = course.folder("release", assignment)
    shutil.copytree(build, released / build.name)
    for path in released.glob("*.ipynb"):  # nbgrader keeps the source's kernelspec; make sure
        notebook = notebooks.read(path)
        notebook.metadata["kernelspec"] = kernel.notebook_kernelspec()
        notebooks.write(notebook, path)
    return released


def make_examples(course, assignment):
    """The example submissions (correct, blank, wrong) of a released assignment, in the collect layout."""
    return examples.make_examples(course.folder("release", assignment), course.folder("source", assignment),
                                  course.root / "examples", assignment)


def collect(course, assignment, folder):
    """Copy ``<folder>/<student>/<assignment>/`` into the course's submitted/; the students found.

    Any ``needle_edu/`` a student included is dropped: grading uses the course's student build.
    """
    students = []
    for submission in sorted(Path(folder).glob(f"*/{assignment}")):
        if not submission.is_dir():
            continue
        student = submission.parent.name
        target = course.folder("submitted", assignment, student)
        if target.exists():
            shutil.rmtree(target)
        if (course.root / "gradebook.db").exists():
            gradebook.forget(course, assignment, student)  # a new submission: the old grade is stale
        shutil.copytree(submission, target, ignore=IGNORED_IN_SUBMISSIONS)
        students.append(student)
    return students


def submitted_students(course, assignment):
    return sorted(p.parent.name for p in (course.root / "submitted").glob(f"*/{assignment}") if p.is_dir())


def grade(course, assignment, students=None, report=print, cluster=None):
    """Autograde each submission in the sandbox, ``course.jobs`` at once; one failure never stops the others.

    ``cluster``: None grades on this machine's threads; ``"local"`` on a Dask LocalCluster of
    ``course.jobs`` worker processes; ``tcp://HOST:PORT`` on that Dask scheduler's workers. Refuses
    (CourseError) where student code cannot be sandboxed, unless ``course.sandboxed`` is False.
    """
    if not course.student_build(assignment).exists():
        raise CourseError(f"no student build of {assignment}: release it first")
    students = students or submitted_students(course, assignment)
    if cluster is None:
        if course.sandboxed and (why := sandbox.unavailable()):
            raise CourseError(f"refusing to run student code unsandboxed: {why}. Install bubblewrap "
                              f"(make setup), or pass --unsandboxed to grade without a sandbox, at your own risk")
        return batch.grade(course, assignment, students, course.sandboxed, report)
    from .grading.cluster import Cluster, ClusterError
    try:
        with Cluster(cluster, workers=course.jobs) as on:
            on.check(course, assignment, course.sandboxed)
            return batch.grade(course, assignment, students, course.sandboxed, report, runner=on.runner)
    except (ClusterError, batch.Interrupted) as error:
        raise CourseError(str(error)) from None


def feedback(course, assignment, student=None):
    """HTML feedback (no hidden tests, no CDN) under feedback/<student>/<assignment>/."""
    run = nbgrader_driver.generate_feedback(course, assignment, student)
    if not run.ok:
        raise CourseError(f"nbgrader generate_feedback {assignment} failed: {run.reason()}\n{run.output}")
    pages = sorted((course.root / "feedback").glob(f"{student or '*'}/{assignment}/*.html"))
    known = outcomes.load(course, assignment)
    for page in pages:  # the reasons of grades.csv, as far as a student may read them
        if (outcome := known.get(page.parent.parent.name)) is not None:
            feedback_pages.add_notes(page, outcome.student_reason)
    return pages


def export(course, path):
    """Write every grade to the CSV ``path`` atomically, and each ungraded submission; the number of rows.

    Status ``graded`` or ``zero`` (not gradable, e.g. a corrupt notebook) with the reason, or
    ``ungraded`` (the grader failed, or it was never graded) with no score.
    """
    path = Path(path).resolve()
    rows = nbgrader_driver.grades(course)
    known = {}
    for assignment in {row.assignment for row in rows} | {p.name for p in (course.root / "submitted").glob("*/*")}:
        known.update({(assignment, s): o for s, o in outcomes.load(course, assignment).items()})
    graded = {(row.assignment, row.student) for row in rows}
    ungraded = sorted((p.name, p.parent.name) for p in (course.root / "submitted").glob("*/*")
                      if p.is_dir() and (p.name, p.parent.name) not in graded)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["assignment", "student_id", "status", "score", "max_score", "timestamp", "reason"])
            for row in rows:
                outcome = known.get((row.assignment, row.student))
                status = outcome.status if outcome and outcome.status == "zero" else "graded"
                writer.writerow([row.assignment, row.student, status, f"{row.score:g}", f"{row.max_score:g}",
                                 row.timestamp, outcome.reason if outcome else ""])
            for assignment, student in ungraded:
                outcome = known.get((assignment, student))
                writer.writerow([assignment, student, "ungraded", "", "", "",
                                 outcome.reason if outcome else "not graded"])
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return len(rows) + len(ungraded)


def table(grades, results=(), assignment=""):
    """The grade table as text: one row per submission, failed submissions named with their reason."""
    failed = {o.student: o.reason for o in results if not o.ok}
    zero = {o.student: o.reason for o in results if o.status == "zero"}
    lines = [f"{'assignment':<26} {'student':<12} {'score':>7} {'max':>7}  cells"]
    for g in grades:
        if g.student in failed:
            continue
        cells = "  ".join(f"{c.name}={c.score:g}/{c.max_score:g}" + ("" if c.autograded else "(manual)")
                          for c in g.cells)
        cells = f"ZERO: {zero[g.student]}" if g.student in zero else cells
        lines.append(f"{g.assignment:<26} {g.student:<12} {g.score:>7g} {g.max_score:>7g}  {cells}")
    lines += [f"{assignment:<26} {student:<12} {'FAILED':>7} {'':>7}  {reason}" for student, reason in failed.items()]
    return "\n".join(lines)
