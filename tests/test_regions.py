"""Library regions and the student build, on a small fake package and on needle_edu itself."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autograder.course import REPO, Course
from autograder.notebooks import distinctive
from autograder.release import student_build
from autograder.release.leaks import public_lines, visible_text
from autograder.release.regions import MarkerError, find_regions, region_lines

NOTEBOOKS = {"a01": "a01_first", "a02": "a02_second", "a03": "a03_third"}

MODULE = '''\
import math


def area(r):
    # BEGIN SOLUTION a01
    return math.pi * r * r
    # END SOLUTION


def hypotenuse(a, b):
    """Given."""
    # BEGIN SOLUTION a02
    squares_of_the_sides = a * a + b * b
    return math.sqrt(squares_of_the_sides)
    # END SOLUTION


class Op:
    def compute(self, x):
        if x is None:
            return None
        # BEGIN SOLUTION a03
        return x * 3 + 1
        # END SOLUTION


def given(r):
    return area(r) + 1
'''


@pytest.fixture
def fakelib(tmp_path):
    package = tmp_path / "src" / "fakelib"
    (package / "__pycache__").mkdir(parents=True)
    (package / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"stale")
    (package / "__init__.py").write_text("from .mod import Op, area, given, hypotenuse\n")
    (package / "mod.py").write_text(MODULE)
    return package


def build(fakelib, assignment, **options):
    return student_build.build(fakelib, assignment, NOTEBOOKS, fakelib.parent.parent / "build", **options)


def run_python(code, path):
    """Run ``code`` in a fresh interpreter with ``path`` first on sys.path."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(path)}, cwd=path)


def test_regions_are_found_with_their_functions(fakelib):
    regions = find_regions(fakelib / "mod.py", set(NOTEBOOKS))
    assert [(r.tag, r.function, r.begin, r.end) for r in regions] == [
        ("a01", "area", 5, 7), ("a02", "hypotenuse", 12, 15), ("a03", "Op.compute", 22, 24)]
    assert region_lines(regions[1]) == ["    squares_of_the_sides = a * a + b * b",
                                        "    return math.sqrt(squares_of_the_sides)"]


def test_build_stubs_this_and_later_assignments_and_keeps_earlier_ones(fakelib):
    package = build(fakelib, "a02")
    source = (package / "mod.py").read_text()
    assert "return math.pi * r * r" in source
    assert "squares_of_the_sides" not in source and "x * 3 + 1" not in source
    hypotenuse = ("fakelib.mod.hypotenuse is yours to write in notebook a02_second: write it there, then run "
                  "needle_edu.course.install('a02', hypotenuse=hypotenuse) (and run it again after each change)")
    assert f'    raise NotImplementedError("{hypotenuse}")' in source.splitlines()
    assert ('        raise NotImplementedError("fakelib.mod.Op.compute is yours to write in notebook a03_third: '
            'write it there, then run needle_edu.course.install(\'a03\', **{\'Op.compute\': your_function}) '
            '(and run it again after each change)")' in source.splitlines())
    assert not list(package.rglob("__pycache__"))
    result = run_python('''
        import fakelib
        assert round(fakelib.given(1.0), 6) == round(3.141593 + 1, 6)
        assert fakelib.Op().compute(None) is None
        try:
            fakelib.hypotenuse(3, 4)
        except NotImplementedError as error:
            print(error)
        ''', package.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == hypotenuse


def test_build_for_the_first_assignment_stubs_everything_and_copies_extensions(fakelib, tmp_path):
    compiled = tmp_path / "_ext.so"
    compiled.write_bytes(b"\x7fELF")
    package = build(fakelib, "a01", extensions={Path("_ext.so"): compiled})
    assert (package / "_ext.so").read_bytes() == b"\x7fELF"
    assert "math.pi" not in (package / "mod.py").read_text()
    assert build(fakelib, "a03", extensions={}) == package  # a rebuild replaces the old build
    assert "math.sqrt" in (package / "mod.py").read_text() and not (package / "_ext.so").exists()


MALFORMED = {
    "never closed": ("def f():\n    # BEGIN SOLUTION a01\n    return 1\n", 2, "never closed"),
    "end without begin": ("def f():\n    return 1\n    # END SOLUTION\n", 3, "END SOLUTION without"),
    "nested": ("def f():\n    # BEGIN SOLUTION a01\n    # BEGIN SOLUTION a02\n    return 1\n"
               "    # END SOLUTION\n    # END SOLUTION\n", 3, "nested"),
    "no tag": ("def f():\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION\n", 2, "without an assignment tag"),
    "bad tag": ("def f():\n    # BEGIN SOLUTION a1\n    return 1\n    # END SOLUTION\n", 2, "bad assignment tag"),
    "unknown tag": ("def f():\n    # BEGIN SOLUTION a09\n    return 1\n    # END SOLUTION\n", 2,
                    "tag a09 names no existing assignment"),
    "outside a function": ("# BEGIN SOLUTION a01\nx = 1\n# END SOLUTION\n", 1, "not inside a function"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_markers_are_refused_with_file_and_line_and_nothing_is_built(fakelib, case):
    text, line, message = MALFORMED[case]
    broken = fakelib / "sub" / "broken.py"
    broken.parent.mkdir()
    broken.write_text(text)
    with pytest.raises(MarkerError, match=f"{broken}:{line}: .*{message}"):
        build(fakelib, "a02", extensions={})
    assert not (fakelib.parent.parent / "build").exists() or not any((fakelib.parent.parent / "build").iterdir())


REAL_COURSE = Course()


@pytest.mark.parametrize("assignment", list(REAL_COURSE.assignments()) or
                         [pytest.param("none", marks=pytest.mark.skip("no assignment in notebooks/"))])
def test_student_build_of_needle_edu_imports_in_the_student_kernel(assignment, tmp_path):
    notebooks = REAL_COURSE.notebook_names()
    package = student_build.build(REAL_COURSE.library, assignment, notebooks, tmp_path)
    stubbed = student_build.stubbed_regions(REAL_COURSE.library, assignment, notebooks)
    built = "\n".join(visible_text(p) for p in package.rglob("*.py"))
    public = public_lines(stubbed)
    for region in stubbed:
        secret = distinctive(region_lines(region), public)
        assert not [line for line in secret if line in built], region
        assert f"is yours to write in notebook {notebooks[region.tag]}: write it there, then run " in built
    # The launcher's isolation, in a fresh interpreter where the editable install is active.
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(f'''
        from autograder.grading.student_kernel import isolate
        isolate({str(tmp_path)!r})
        import needle_edu, numpy
        from needle_edu.backend_ndarray import _backend_cpu
        assert needle_edu.__file__.startswith({str(package)!r}), needle_edu.__file__
        assert _backend_cpu.__file__.startswith({str(package)!r}), _backend_cpu.__file__
        x = needle_edu.NDArray(numpy.ones((2, 3), dtype="float32"), device=needle_edu.cpu())
        try:
            assert float((x @ x.permute((1, 0))).numpy()[0, 0]) == 3.0
        except NotImplementedError as error:  # views and the cpu kernels are a06's to write
            assert {assignment!r} == "a06_hardware_acceleration" and {assignment!r} in str(error), error
        ''')], capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr


def test_student_kernel_refuses_to_start_without_a_student_build(tmp_path):
    result = subprocess.run([sys.executable, "-m", "autograder.grading.student_kernel", "-f", str(tmp_path / "c.json")],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(REPO), "NEEDLE_EDU_STUDENT_BUILD": str(tmp_path)})
    assert result.returncode != 0
    assert f"not to the student build in {tmp_path / 'needle_edu'}" in result.stderr
