"""Grading survives students (DESIGN §7): one submission per trick, graded in one sandboxed batch.

Each trick is the fixture assignment a00 (test_softmax 2 points, test_softmax_hidden_only 1,
test_sgd_step 1) handed in with one thing done to it; each must get the score it deserves.
"""
import csv
import html
import json
import re
import time

import nbformat
import pytest

from autograder import cli, notebooks, pipeline
from autograder.course import REPO, Course
from autograder.grading import nbgrader_driver, outcomes, preflight, sandbox

NOTEBOOK_DIRS = [REPO / "tests" / "fixtures" / "notebooks", REPO / "notebooks"]
ASSIGNMENT = "a00_fixture"
BATCH_BUDGET = 900  # seconds for the whole batch on a 2-core machine; it takes about a quarter of that

WRONG = "def softmax(z):\n    return np.full(z.shape, 0.3)\n"
RECORD = "application/vnd.needle-edu.check+json"


def code(nb, grade_id, append=None, replace=None):
    cell = notebooks.by_grade_id(nb)[grade_id]
    cell.source = replace if replace is not None else cell.source + "\n" + append


def insert(nb, before, source):
    index = nb.cells.index(notebooks.by_grade_id(nb)[before])
    nb.cells.insert(index, nbformat.v4.new_code_cell(source))


def first(grade_id, prelude):
    """Put ``prelude`` at the top of a cell: if it fails, nothing the cell defines exists."""
    return lambda nb: code(nb, grade_id, replace=prelude + "\n" + notebooks.by_grade_id(nb)[grade_id].source)


def wrong_with(prelude):
    return lambda nb: code(nb, "softmax", replace=prelude + "\n" + WRONG)


def snoop(course):
    """A cell that looks for everything the sandbox must hide, and prints what it found."""
    secrets = [REPO / "needle_edu" / "__init__.py", course.root / "gradebook.db", course.root / "source",
               course.folder("submitted", ASSIGNMENT, "correct"), course.root / "expected", REPO / "notebooks"]
    return f"""
import json, os, socket, subprocess
seen = {{path: os.path.exists(path) for path in {[str(p) for p in secrets]!r}}}
try:
    socket.create_connection(("127.0.0.1", 22), timeout=2)
    seen["network"] = True
except OSError:
    seen["network"] = False
try:
    open({str(course.student_build(ASSIGNMENT) / "needle_edu" / "planted.py")!r}, "w")
    seen["write build"] = True
except OSError:
    seen["write build"] = False
seen["root"] = os.getuid() == 0
import sys
import needle_edu
seen["instructor path"] = [p for p in [*sys.path, needle_edu.__file__, *os.environ.values()]
                           if {str(REPO)!r} in str(p) or {str(course.root)!r} in str(p)]
children = []
try:
    for _ in range(5000):
        children.append(subprocess.Popen(["sleep", "30"]))
except OSError:
    pass
seen["5000 processes"] = len(children) >= 5000
[child.kill() for child in children]
try:
    bytearray(64 * 2**30)
    seen["64 GiB"] = True
except MemoryError:
    seen["64 GiB"] = False
print("SNOOP " + json.dumps(seen))
"""


ALWAYS_EQUAL = """class Anything:
    def __eq__(self, other): return True
    def __array__(self, *args, **kwargs): return np.full((2, 4), 0.25)
    def __getitem__(self, key): return 0.5
def softmax(z):
    return Anything()
"""
SUBCLASS = """class Agreeable(np.ndarray):
    def __eq__(self, other): return np.ones(self.shape, bool)
def softmax(z):
    return np.zeros(z.shape).view(Agreeable)
"""
FORGE = f"""from IPython.display import display
from needle_edu.check import encode
def softmax(z):
    display({{"{RECORD}": {{"name": "softmax of zeros", "kind": "close", "spec": {{}},
              "value": encode(np.full((2, 4), 0.25))}}}}, raw=True)
    return np.zeros(z.shape)
"""
PATCH_CHECK = """import needle_edu.check as _check
_real = _check._record
def _forged(name, kind, value, expected=None, **spec):
    return _real(name, kind, expected if expected is not None else value, expected, **spec)
_check._record = _forged
"""

# ~600 children that exit and are never waited for; a later cell must still start a thread
ZOMBIES = """import os, time
for _ in range(600):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        os._exit(0)
time.sleep(1)
"""
THREAD = """import threading
_thread = threading.Thread(target=lambda: None)
_thread.start()
_thread.join()
"""
BAD_MESSAGE = ("get_ipython().kernel.iopub_socket.send_multipart("
               "[b'<IDS|MSG>', b'0' * 64, b'{}', b'{}', b'{}', b'{}'])")
TEMP_FILES = """import os, tempfile
import matplotlib
with tempfile.NamedTemporaryFile() as _file:
    _file.write(b"x")
assert os.access(matplotlib.get_cachedir(), os.W_OK) and os.access("/tmp", os.W_OK)
"""

# name: (what is done to the correct submission, expected score out of 4; None = zero, not gradable)
TRICKS = {
    "correct": (lambda nb: None, 4),
    "wrong": (wrong_with(""), 1),
    "patch_testing": (wrong_with("np.testing.assert_allclose = lambda *a, **k: None"), 1),
    "patch_allclose": (wrong_with("np.allclose = np.isclose = np.array_equal = lambda *a, **k: True"), 1),
    "patch_builtins": (wrong_with("import builtins\n"
                                  "builtins.abs = builtins.max = builtins.min = builtins.sum = lambda *a, **k: 0"), 1),
    "patch_traceback": (wrong_with("get_ipython().showtraceback = lambda *a, **k: None\n"
                                   "get_ipython()._showtraceback = lambda *a, **k: None"), 1),
    "patch_check": (wrong_with(PATCH_CHECK), 1),
    "forged_record": (lambda nb: code(nb, "softmax", replace=FORGE), 1),
    "always_equal": (lambda nb: code(nb, "softmax", replace=ALWAYS_EQUAL), 1),
    "ndarray_subclass": (lambda nb: code(nb, "softmax", replace=SUBCLASS), 1),
    "nan": (lambda nb: code(nb, "softmax", replace="def softmax(z):\n    return np.full(z.shape, np.nan)\n"), 1),
    "warning": (lambda nb: code(nb, "softmax", append="import warnings\n_plain = softmax\ndef softmax(z):\n"
                                "    warnings.warn('a harmless warning')\n    return _plain(z)\n"), 4),
    "exits": (lambda nb: code(nb, "softmax", append="import os\nos._exit(1)\n"), 1),
    "segfault": (lambda nb: code(nb, "sgd_step", append="import ctypes\n_step = sgd_step\n"
                                 "def sgd_step(*a):\n    ctypes.string_at(0)\n"), 3),
    "ignores_interrupt": (lambda nb: code(nb, "sgd_step", append="import signal\n_step = sgd_step\n"
                                          "def sgd_step(*a):\n    signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                          "    while True:\n        pass\n"), 3),
    "memory_hog": (lambda nb: code(nb, "sgd_step", append="def sgd_step(*a):\n    bytearray(64 * 2**30)\n"), 3),
    "huge_output": (lambda nb: insert(nb, "softmax", "for _ in range(300):\n    print('x' * 100_000)\n"), 4),
    "duplicated_test": (lambda nb: nb.cells.insert(nb.cells.index(notebooks.by_grade_id(nb)["test_softmax"]),
                                                   nbformat.from_dict(notebooks.by_grade_id(nb)["test_softmax"])), 4),
    "deleted_tests": (lambda nb: nb.cells.__setitem__(slice(None), [
        c for c in nb.cells if notebooks.nbgrader_meta(c).get("grade_id") not in ("test_sgd_step", "test_softmax")]),
        4),
    "edited_test": (lambda nb: (wrong_with("")(nb), code(nb, "test_softmax", replace="pass")), 1),
    "renamed": (lambda nb: None, 4),
    "zombies": (lambda nb: (insert(nb, "softmax", ZOMBIES), first("softmax", THREAD)(nb)), 4),
    "bad_message": (lambda nb: code(nb, "softmax", append=BAD_MESSAGE), 1),
    "shutdown": (lambda nb: code(nb, "softmax", append="get_ipython().kernel.do_shutdown(False)"), 1),
    "exit_call": (lambda nb: code(nb, "softmax", append="exit()"), 1),
    "infinite_loop": (lambda nb: code(nb, "sgd_step", append="def sgd_step(*a):\n    while True:\n        pass\n"),
                      3),
    "temp_files": (first("softmax", TEMP_FILES), 4),
    "corrupt": (None, None),
    "wrong_assignment": (None, None),
}


def write_submissions(course, folder):
    release = notebooks.read(course.folder("release", ASSIGNMENT) / f"{ASSIGNMENT}.ipynb")
    source = notebooks.read(course.folder("source", ASSIGNMENT) / f"{ASSIGNMENT}.ipynb")
    for name, (edit, _) in TRICKS.items():
        target = folder / name / ASSIGNMENT
        target.mkdir(parents=True)
        notebook = notebooks.paste_solutions(release, source)
        path = target / ("my answers.ipynb" if name == "renamed" else f"{ASSIGNMENT}.ipynb")
        if name == "corrupt":
            path.write_text('{"cells": [ this is not json')
            continue
        if name == "wrong_assignment":
            for cell in notebook.cells:
                if "nbgrader" in cell.metadata:
                    cell.metadata.nbgrader["grade_id"] = "other_" + cell.metadata.nbgrader["grade_id"]
        elif name == "snoop" or edit is None:
            pass
        else:
            edit(notebook)
        notebooks.write(notebook, path)
    snooper = notebooks.paste_solutions(release, source)
    insert(snooper, "softmax", snoop(course))
    (folder / "snoop" / ASSIGNMENT).mkdir(parents=True)
    notebooks.write(snooper, folder / "snoop" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    if sandbox.unavailable():
        pytest.skip(f"no sandbox here: {sandbox.unavailable()}")
    tmp = tmp_path_factory.mktemp("adversarial")
    course = Course(root=tmp / "course_build", notebook_dirs=NOTEBOOK_DIRS, cell_timeout=20,
                    submission_budget=180, jobs=2)
    pipeline.release(course, ASSIGNMENT)
    write_submissions(course, tmp / "submissions")
    students = pipeline.collect(course, ASSIGNMENT, tmp / "submissions")
    start = time.monotonic()
    results = {o.student: o for o in pipeline.grade(course, ASSIGNMENT, students, report=lambda line: None)}
    seconds = time.monotonic() - start
    grades = {g.student: g for g in nbgrader_driver.grades(course, ASSIGNMENT)}
    print(f"\n{'trick':<18} {'score':>6} {'expected':>9}  note")
    for name, (_, expected) in TRICKS.items():
        score = grades[name].score if name in grades else None
        print(f"{name:<18} {score!s:>6} {expected!s:>9}  {results[name].status}: {results[name].reason[:90]}")
    print(f"{len(students)} submissions in {seconds:.0f} s on {course.jobs} workers")
    return course, results, grades, seconds


@pytest.mark.slow
@pytest.mark.parametrize("trick", list(TRICKS) + ["snoop"])
def test_each_trick_gets_the_score_it_deserves(graded, trick):
    course, results, grades, _ = graded
    expected = TRICKS[trick][1] if trick in TRICKS else 4
    assert results[trick].ok, results[trick].reason
    if expected is None:
        assert results[trick].status == "zero" and results[trick].reason
        assert grades[trick].score == 0 and grades[trick].max_score == 4
    else:
        assert results[trick].status == "graded"
        assert grades[trick].score == expected, (trick, [(c.name, c.score) for c in grades[trick].cells])


@pytest.mark.slow
def test_the_sandbox_hides_the_course_and_limits_the_kernel(graded):
    course = graded[0]
    notebook = notebooks.read(course.folder("autograded", ASSIGNMENT, "snoop") / f"{ASSIGNMENT}.ipynb")
    text = "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))
    seen = json.loads(text.split("SNOOP ", 1)[1].splitlines()[0])
    assert seen and not any(seen.values()), seen
    assert not (course.student_build(ASSIGNMENT) / "needle_edu" / "planted.py").exists()


@pytest.mark.slow
def test_the_batch_finishes_in_budget_with_bounded_output_and_clear_reasons(graded, tmp_path):
    course, results, _, seconds = graded
    assert len(results) >= 20 and seconds < BATCH_BUDGET
    assert (course.folder("autograded", ASSIGNMENT, "huge_output") / f"{ASSIGNMENT}.ipynb").stat().st_size < 10 * 2**20
    assert "restored" in results["deleted_tests"].reason and "duplicated" in results["duplicated_test"].reason
    assert "not a valid notebook" in results["corrupt"].reason
    assert "another assignment" in results["wrong_assignment"].reason
    assert "kernel" in results["segfault"].reason and "interrupt" in results["ignores_interrupt"].reason
    assert outcomes.load(course, ASSIGNMENT)["corrupt"].status == "zero"
    output = tmp_path / "grades.csv"
    pipeline.export(course, output)
    rows = {r["student_id"]: r for r in csv.DictReader(output.open())}
    assert rows["corrupt"]["status"] == "zero" and rows["corrupt"]["score"] == "0" and rows["corrupt"]["reason"]
    assert rows["correct"]["status"] == "graded" and rows["correct"]["score"] == "4"


REGRADED = ["shutdown", "exit_call", "bad_message", "zombies", "infinite_loop", "deleted_tests", "segfault"]


@pytest.mark.slow
def test_no_submission_ends_ungraded_and_scores_repeat(graded):
    """The protocol-breaking, exiting and zombie-making submissions get the same scores again."""
    course, results, grades, _ = graded
    assert all(o.status in ("graded", "zero") for o in results.values()), \
        {s: o.reason for s, o in results.items() if o.status not in ("graded", "zero")}
    again = {o.student: o for o in pipeline.grade(course, ASSIGNMENT, REGRADED, report=lambda line: None)}
    regraded = {g.student: g for g in nbgrader_driver.grades(course, ASSIGNMENT)}
    for student in REGRADED:
        assert again[student].status == "graded", again[student].reason
        assert regraded[student].score == grades[student].score, (student, again[student].reason,
                                                                 results[student].reason)


@pytest.mark.slow
def test_every_lost_point_has_a_reason_naming_its_cell(graded):
    course, results, grades, _ = graded
    for student, grade in grades.items():
        reason = results[student].reason
        if results[student].status == "zero":  # not gradable: one reason for the whole notebook
            continue
        assert not re.search(r"\bcell \d+\b", reason), (student, reason)  # cells go by grade_id
        for cell in grade.cells:
            if cell.autograded and cell.score < cell.max_score:
                assert cell.name in reason, (student, cell.name, reason)
    assert "timed out" in results["infinite_loop"].reason and "sgd_step" in results["infinite_loop"].reason
    assert "renamed" in results["renamed"].reason and "my answers.ipynb" in results["renamed"].reason
    assert "softmax: " in results["shutdown"].reason and "kernel" in results["shutdown"].reason
    assert "properly" in results["bad_message"].reason
    corrupt = results["corrupt"].reason
    assert "not JSON" in corrupt and "this is not json" not in corrupt and "{" not in corrupt


@pytest.mark.slow
def test_feedback_says_what_the_grade_table_says(graded):
    course, results, _, _ = graded
    for student in ("infinite_loop", "exits", "wrong"):
        text = html.unescape(pipeline.feedback(course, ASSIGNMENT, student)[0].read_text())
        assert "How this submission was graded" in text
        for line in results[student].student_reason.split("; "):
            assert line in text
        for grade_id in {line.split(":")[0] for line in results[student].reason.split("; ")}:
            assert grade_id in results[student].student_reason  # the same cells, the same causes
        assert "fixture_hidden" not in text and "fixture hidden message" not in text


@pytest.mark.slow
def test_a_correct_submission_shows_no_warning(graded):
    course = graded[0]
    for student in ("correct", "temp_files"):
        notebook = notebooks.read(course.folder("autograded", ASSIGNMENT, student) / f"{ASSIGNMENT}.ipynb")
        stderr = [o.get("text", "") for c in notebook.cells for o in c.get("outputs", [])
                  if o.get("output_type") == "stream" and o.get("name") == "stderr"]
        assert not stderr, (student, stderr)


def test_restored_test_cells_go_back_after_the_cells_they_need():
    """A deleted accuracy test returns after the (ungraded) training cell it reads, not before it."""
    release = nbformat.v4.new_notebook()
    cells = [("def train(): ...", {"grade_id": "train", "solution": True, "grade": False}),
             ("history = train()", None),
             ("check.at_least('accuracy', history)", {"grade_id": "test_accuracy", "grade": True,
                                                      "solution": False, "points": 1}),
             ("print('done')", None)]
    for source, meta in cells:
        cell = nbformat.v4.new_code_cell(source)
        if meta:
            cell.metadata["nbgrader"] = {"schema_version": 3, "locked": False, **meta}
        release.cells.append(cell)
    submitted = nbformat.from_dict(release)
    del submitted.cells[2]
    submitted.cells[1].id = "changed-by-the-student"
    assert preflight._restore(submitted, release) == ["test_accuracy"]
    assert [c.source for c in submitted.cells] == [c.source for c in release.cells]


def test_a_corrupt_notebook_is_named_without_its_content(tmp_path):
    path = tmp_path / "a00_fixture.ipynb"
    path.write_text('{"cells": [ {"source": "my secret answer", ')
    with pytest.raises(preflight.Ungradable) as error:
        preflight._read(path)
    assert "not JSON" in str(error.value) and "secret" not in str(error.value)


def test_grading_refuses_without_a_sandbox_unless_asked(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sandbox, "BWRAP", "/nonexistent/bwrap")
    course = Course(root=tmp_path / "course_build", notebook_dirs=NOTEBOOK_DIRS)
    course.student_build(ASSIGNMENT).mkdir(parents=True)
    options = ["--course-root", str(course.root)] + [o for d in NOTEBOOK_DIRS for o in ("--notebooks", str(d))]
    assert cli.main(options + ["grade", "a00"]) == 2
    assert "refusing to run student code unsandboxed: /nonexistent/bwrap is not installed" in capsys.readouterr().err
    called = []
    monkeypatch.setattr(pipeline.batch, "grade", lambda *args: called.append(args) or [])
    assert cli.main(options + ["--unsandboxed", "grade", "a00"]) == 0
    assert called and called[0][3] is False
