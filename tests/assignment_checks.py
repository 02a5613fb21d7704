"""Checks shared by the tests of every assignment: its source notebook and its library pieces."""
import contextlib
import copy
import re
import subprocess
import sys
import textwrap

import pytest

from needle_edu import course


def read_source(path):
    """The jupytext source notebook at ``path`` as an nbformat notebook."""
    return pytest.importorskip("jupytext").read(path)


def check_nbgrader_source(notebook, solution_ids, hidden_cells, total):
    """Valid nbgrader metadata, solution cells ``solution_ids`` (manually graded answers among
    them), locked tests and answers worth ``total`` (stated at the top)."""
    from nbgrader.nbgraderformat import MetadataValidator

    MetadataValidator().validate_nb(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    cells = [cell for cell in notebook.cells if "nbgrader" in cell.metadata]
    grade_ids = [cell.metadata.nbgrader.grade_id for cell in cells]
    assert len(grade_ids) == len(set(grade_ids))
    solutions = [cell for cell in cells if cell.metadata.nbgrader.solution]
    assert sorted(cell.metadata.nbgrader.grade_id for cell in solutions) == sorted(solution_ids)
    for cell in solutions:
        assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
    graded = [cell for cell in cells if cell.metadata.nbgrader.grade]
    tests = [cell for cell in graded if not cell.metadata.nbgrader.solution]
    for cell in tests:
        assert cell.cell_type == "code"
        assert cell.metadata.nbgrader.locked and cell.metadata.nbgrader.points > 0
    for cell in graded:  # manually graded answers are graded solution cells, in markdown
        if cell.metadata.nbgrader.solution:
            assert cell.cell_type == "markdown" and cell.metadata.nbgrader.points > 0
    hidden = [cell for cell in tests if "### BEGIN HIDDEN TESTS" in cell.source]
    assert len(hidden) == hidden_cells
    assert all("### END HIDDEN TESTS" in cell.source for cell in hidden)
    points = sum(cell.metadata.nbgrader.points for cell in graded)
    assert points == total and f"**Total: {total} points.**" in notebook.cells[0].source


def run_source(notebook, tmp_path, timeout=120):
    """Run the notebook top to bottom (instructor library); return (printed text, image count).

    Fails on any error output or any stderr output (which would zero a test cell in nbgrader).
    """
    nbclient = pytest.importorskip("nbclient")
    executed = nbclient.NotebookClient(copy.deepcopy(notebook), kernel_name="python3", timeout=timeout,
                                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [output for cell in executed.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    assert not [output.text for output in outputs
                if output.output_type == "stream" and output.name == "stderr"]
    printed = "".join(output.text for output in outputs if output.output_type == "stream")
    images = sum(1 for output in outputs if "image/png" in output.get("data", {}))
    return printed, images


def printed_accuracy(printed):
    """The fraction in the notebook's ``test accuracy: 83.8%`` line."""
    return float(re.search(r"test accuracy: ([\d.]+)%", printed).group(1)) / 100


def printed_number(label, printed):
    """The number after ``label:`` in the notebook's output (``validation perplexity: 5.97``)."""
    return float(re.search(rf"{re.escape(label)}: ([\d.]+)", printed).group(1))


def run_quick(path, tmp_path, timeout, images):
    """Run the source notebook at ``path`` in quick mode, which conftest sets (the short run, with
    its own thresholds); it must draw ``images`` figures or more. What it printed."""
    printed, drawn = run_source(read_source(path), tmp_path, timeout=timeout)
    assert "quick mode" in printed
    assert drawn >= images, drawn
    return printed


@contextlib.contextmanager
def counting_calls(module, assignment, pieces):
    """Install wrappers of ``module``'s ``pieces`` that record each call; restore the originals after."""
    originals = {name: getattr(module, name) for name in pieces}
    calls = []

    def counted(name):
        def wrapper(*args, **kwargs):
            calls.append(name)
            return originals[name](*args, **kwargs)
        return wrapper

    course.install(assignment, **{name: counted(name) for name in pieces})
    try:
        yield calls
    finally:
        course.install(assignment, **originals)


def assert_silent(script):
    """Run ``script`` in a fresh interpreter with warnings as errors: it must pass and print nothing to stderr."""
    result = subprocess.run([sys.executable, "-W", "error", "-c", textwrap.dedent(script)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def build_student_library(assignment, folder):
    """Build the student library of ``assignment`` into ``folder``; the regions it stubs for ``assignment``."""
    from autograder.release import student_build
    from autograder.course import Course

    real = Course()
    student_build.build(real.library, assignment, real.notebook_names(), folder)
    stubbed = student_build.stubbed_regions(real.library, assignment, real.notebook_names())
    return [r for r in stubbed if r.tag == assignment]


def _run_script(script, cwd):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def run_in_student_build(assignment, script, folder, cwd):
    """Build the student library of ``assignment`` into ``folder``; run ``script`` (formatted with
    ``folder``) there in a fresh interpreter; return its tagged regions and the finished process."""
    stubbed = build_student_library(assignment, folder)
    return stubbed, _run_script(script.format(folder=str(folder)), cwd)


STUBS_AND_REST = """\
from autograder.grading.student_kernel import isolate
isolate({folder!r})
import numpy as np
import needle_edu
assert needle_edu.__file__.startswith({folder!r}), needle_edu.__file__
{setup}
for call in [{calls}]:
    try:
        call()
    except NotImplementedError as error:
        assert {notebook!r} in str(error), error
    else:
        raise AssertionError("not stubbed")
{rest}
print("{assignment} build ok")
"""


def check_student_build(notebook, pieces, folder, cwd, setup, calls, rest):
    """The student build of ``notebook``'s assignment, built into ``folder``, stubs exactly ``pieces``.

    Run there after ``setup`` (code), each of ``calls`` (expressions) must raise the stub's
    NotImplementedError naming the notebook; ``rest`` (code) then shows that what the
    assignment does not ask for is the working reference.
    """
    assignment = notebook.stem.split("_")[0]
    stubbed = build_student_library(assignment, folder)
    assert sorted(r.function for r in stubbed) == sorted(pieces)
    script = STUBS_AND_REST.format(folder=str(folder), notebook=notebook.stem, assignment=assignment,
                                   setup=textwrap.dedent(setup).strip(), rest=textwrap.dedent(rest).strip(),
                                   calls=", ".join(f"lambda: {call}" for call in calls))
    done = _run_script(script, cwd)
    assert done.returncode == 0 and f"{assignment} build ok" in done.stdout, done.stdout + done.stderr
