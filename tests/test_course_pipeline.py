"""The course model (DESIGN §4) proved through nbgrader for every assignment, and grading robustness.

For each assignment: the source notebook autogrades to full marks, the release as given to 0 on
every graded cell, a simulated student (the source's solutions pasted into the release) to full
marks against the student build; nothing secret reaches the release, the library or feedback.
"""
import csv
import re
import shutil

import pytest

from autograder import cli, notebooks, pipeline
from autograder.course import KERNEL_NAME, REPO, Course
from autograder.grading import nbgrader_driver, sandbox
from autograder.release import examples, leaks

FIXTURES = REPO / "tests" / "fixtures" / "notebooks"
NOTEBOOK_DIRS = [FIXTURES, REPO / "notebooks"]
ASSIGNMENTS = list(Course(notebook_dirs=NOTEBOOK_DIRS).assignments())
CDN = re.compile(r"<script[^>]+src=[\"']https?://", re.IGNORECASE)


def make_course(tmp_path, **limits):
    return Course(root=tmp_path / "course_build", notebook_dirs=NOTEBOOK_DIRS, **limits)


def by_student(course, assignment):
    return {g.student: g for g in nbgrader_driver.grades(course, assignment)}


def autograded(grade):
    return [(c.name, c.score, c.max_score) for c in grade.cells if c.autograded]


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_course_model_holds(assignment, tmp_path):
    course = make_course(tmp_path)
    released = pipeline.release(course, assignment)
    for path in released.glob("*.ipynb"):
        assert notebooks.read(path).metadata["kernelspec"]["name"] == KERNEL_NAME
    assert (released / "needle_edu" / "__init__.py").exists()
    submissions = pipeline.make_examples(course, assignment)
    shutil.copytree(course.folder("source", assignment), submissions / "source" / assignment)
    # What a student might hand in beside the notebook must not be what grading imports.
    shutil.copytree(released / "needle_edu", submissions / "correct" / assignment / "needle_edu")
    students = ["source", "blank", "correct"]
    assert set(students) <= set(pipeline.collect(course, assignment, submissions))
    assert not (course.folder("submitted", assignment, "correct") / "needle_edu").exists()

    outcomes = pipeline.grade(course, assignment, students)
    assert [(o.student, o.ok) for o in outcomes] == [(s, True) for s in students]
    reasons = {o.student: o.reason for o in outcomes}
    assert not reasons["source"] and not reasons["correct"] and reasons["blank"], reasons  # lost points explained
    grades = by_student(course, assignment)
    for student in ("source", "correct"):
        cells = autograded(grades[student])
        assert cells and all(score == top for _, score, top in cells), (student, cells)
    assert all(score == 0 for _, score, _ in autograded(grades["blank"])), autograded(grades["blank"])

    feedback = pipeline.feedback(course, assignment)
    assert {p.parts[-3] for p in feedback} == set(students)
    assert not [p for p in feedback if CDN.search(p.read_text())]
    assert leaks.check(course, assignment, blank=("blank",)) == []


def fixture_variant(tmp_path, old, new):
    """A copy of the fixture assignment with ``old`` replaced by ``new`` in its source."""
    folder = shutil.copytree(FIXTURES / "a00_fixture", tmp_path / "variant" / "a00_fixture")
    source = folder / "a00_fixture.md"
    assert old in source.read_text()
    source.write_text(source.read_text().replace(old, new, 1))
    return Course(root=tmp_path / "course_build", notebook_dirs=[folder.parent, REPO / "notebooks"])


@pytest.mark.slow
def test_release_records_in_a_scratch_folder_and_refuses_a_source_failing_its_tests(tmp_path):
    """Recording the expected values runs beside nbgrader's release: a file the source's run
    writes reaches neither the release nor the source folder; a failing source is refused."""
    writes = fixture_variant(tmp_path / "writes", "import needle_edu\n",
                             "import needle_edu\nopen('written_by_the_run.txt', 'w').write('x')\n")
    released = pipeline.release(writes, "a00_fixture")
    assert (writes.root / "expected" / "a00_fixture" / "a00_fixture.json").exists()
    assert not list(writes.root.rglob("written_by_the_run.txt")), "the source's run wrote into the course"
    assert (released / "needle_edu").is_dir()

    broken = fixture_variant(tmp_path / "broken", "return exponentials / exponentials.sum(axis=1, keepdims=True)",
                             "return exponentials")
    with pytest.raises(pipeline.CourseError, match="a00_fixture: the source fails its test cell test_softmax"):
        pipeline.release(broken, "a00_fixture")


def test_secrets_cover_solutions_hidden_tests_and_library_regions(tmp_path):
    course = make_course(tmp_path)
    notebooks.convert_sources(FIXTURES / "a00_fixture", course.folder("source", "a00_fixture"))
    solutions, hidden = leaks.secrets(course, "a00_fixture")
    assert "exponentials = np.exp(shifted)" in solutions
    assert 'assert softmax(np.array([[0.0, 0.0]]))[0, 0] == 0.5, "fixture hidden message"' in hidden
    assert 'check.close("softmax of zeros", softmax(np.zeros((2, 4))), np.full((2, 4), 0.25))' not in hidden


def test_a_library_line_repeated_outside_its_region_is_no_secret(tmp_path):
    """A line of a stubbed region that the public code of its file also has is what students see
    anyway: not a secret, while the region's own lines are."""
    library = tmp_path / "needle_edu"
    library.mkdir()
    (library / "shapes.py").write_text(
        "def public(image):\n"
        "    batch_size, image_height = image.shape[:2]\n"
        "    return batch_size * image_height\n\n\n"
        "def graded(image):\n"
        "    # BEGIN SOLUTION a01\n"
        "    batch_size, image_height = image.shape[:2]\n"
        "    return batch_size + image_height * image_height\n"
        "    # END SOLUTION\n")
    course = Course(root=tmp_path / "course_build", notebook_dirs=NOTEBOOK_DIRS, library=library)
    solutions, _ = leaks.secrets(course, "a01_softmax_regression")
    assert "return batch_size + image_height * image_height" in solutions
    assert "batch_size, image_height = image.shape[:2]" not in solutions


def test_nbgrader_starts_without_the_iri_checker():
    """Each autograde is an nbgrader process: it starts without the module that cost 1.6 s of CPU,
    and nbgrader runs."""
    import subprocess
    import sys
    code = ("import runpy, sys\nsys.argv = ['nbgrader', '--version']\ntry:\n"
            "    runpy.run_module('autograder.grading.nbgrader_main', run_name='__main__')\n"
            "except SystemExit:\n    pass\nimport jsonschema\n"
            "print('iri checker:', sys.modules.get('rfc3987_syntax', 'never imported'))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "nbgrader version" in done.stdout, done.stderr[-2000:]
    assert "iri checker: None" in done.stdout or "iri checker: never imported" in done.stdout, done.stdout


def test_wrong_example_runs_but_gives_wrong_results():
    import numpy as np
    cell = ('def scale(x, factor):\n    """Doc."""\n    ### BEGIN SOLUTION\n    return x * factor\n'
            '    ### END SOLUTION\n\n\ndef step(theta, g):\n    ### BEGIN SOLUTION\n    theta -= g\n'
            '    ### END SOLUTION\n')
    top_level = "### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION\n"
    namespace = {}
    exec(notebooks.without_markers(examples.make_wrong(cell + top_level)), namespace)
    assert namespace["scale"](2.0, 3.0) != 6.0 and namespace["answer"] != 42
    theta = np.zeros(2)
    namespace["step"](theta, np.ones(2))
    assert not np.allclose(theta, -1.0)
    assert examples.make_wrong("%%bash\necho hi\n") == "%%bash\necho hi\n"


def corrupt(folder):
    folder.mkdir(parents=True)
    (folder / "a00_fixture.ipynb").write_text('{"cells": [ this is not json')


def dies(folder, release, source):
    """The correct answers, plus a kernel that exits in the middle of the notebook."""
    notebook = notebooks.paste_solutions(release, source)
    cell = next(c for c in notebook.cells if notebooks.is_solution(c))
    cell.source += "\nimport os\nos._exit(1)\n"
    notebooks.write(notebook, folder / "a00_fixture.ipynb")


def hangs(folder, release, source):
    notebook = notebooks.paste_solutions(release, source)
    cell = next(c for c in notebook.cells if notebooks.is_solution(c))
    cell.source += "\nimport time\ntime.sleep(600)\n"
    notebooks.write(notebook, folder / "a00_fixture.ipynb")


@pytest.mark.slow
def test_broken_submissions_cost_only_themselves_and_say_why(tmp_path, capsys):
    course = make_course(tmp_path)
    options = ["--course-root", str(course.root), "--budget", "25", "--cell-timeout", "100"]
    options += [option for folder in NOTEBOOK_DIRS for option in ("--notebooks", str(folder))]
    assert cli.main(options + ["release", "a00"]) == 0
    assert (course.root / "expected" / "a00_fixture" / "a00_fixture.json").exists()
    assert not list(course.folder("release", "a00_fixture").rglob("*.json"))
    submissions = pipeline.make_examples(course, "a00_fixture")
    release = notebooks.read(course.folder("release", "a00_fixture") / "a00_fixture.ipynb")
    source = notebooks.read(course.folder("source", "a00_fixture") / "a00_fixture.ipynb")
    corrupt(submissions / "corrupt" / "a00_fixture")
    for make in (dies, hangs):
        make(submissions / make.__name__ / "a00_fixture", release, source)
    assert cli.main(options + ["collect", "a00", str(submissions)]) == 0
    capsys.readouterr()

    assert cli.main(options + ["grade", "a00"]) == 0
    printed = capsys.readouterr().out
    assert "zero (not gradable) for: corrupt" in printed and "grading failed" not in printed
    assert re.search(r"hangs .*not run from test_softmax on: the submission's 25 s budget was spent", printed)
    assert re.search(r"dies .*the kernel died .*kernel restarted", printed)
    grades = by_student(course, "a00_fixture")
    assert set(grades) == {"blank", "correct", "wrong", "corrupt", "dies", "hangs"}
    assert grades["correct"].score == grades["correct"].max_score == 4
    assert grades["blank"].score == 0 and grades["wrong"].score < 4
    assert (grades["corrupt"].score, grades["dies"].score, grades["hangs"].score) == (0, 1, 0)
    graded = notebooks.read(course.folder("autograded", "a00_fixture", "correct") / "a00_fixture.ipynb")
    printed_path = graded.cells[-1].outputs[0].text.strip()  # the fixture's last cell prints needle_edu.__file__
    assert printed_path == f"{sandbox.INSIDE_BUILD}/needle_edu/__init__.py"  # the student build, mounted there
    for student in ("corrupt", "dies", "hangs"):
        assert (course.root / "logs" / "a00_fixture" / f"{student}.log").read_text()

    output = tmp_path / "grades.csv"
    assert cli.main(options + ["export", "--output", str(output)]) == 0
    rows = list(csv.DictReader(output.open()))
    assert {(r["student_id"], r["status"], r["score"], r["max_score"]) for r in rows} == {
        ("correct", "graded", "4", "4"), ("blank", "graded", "0", "4"),
        ("wrong", "graded", f"{grades['wrong'].score:g}", "4"), ("corrupt", "zero", "0", "4"),
        ("dies", "graded", "1", "4"), ("hangs", "graded", "0", "4")}
    assert "not a valid notebook" in next(r["reason"] for r in rows if r["student_id"] == "corrupt")
    assert not list(tmp_path.glob(".grades.csv.*"))

    assert cli.main(options + ["feedback", "a00", "--student", "blank"]) == 0
    html = (course.root / "feedback" / "blank" / "a00_fixture" / "a00_fixture.html").read_text()
    assert "fixture_hidden" not in html and "fixture hidden message" not in html
    assert "NotImplementedError" in html and not CDN.search(html)
