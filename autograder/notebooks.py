"""Notebook handling: converting sources, reading nbgrader cell metadata, pasting solutions.

nbgrader marks a solution inside a cell with ``### BEGIN SOLUTION`` / ``### END SOLUTION`` and
hidden tests with ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``.
"""
import re
import shutil
from pathlib import Path

import nbformat

from .course import is_notebook
from .grading.kernel import notebook_kernelspec

SOLUTION_BEGIN, SOLUTION_END = "BEGIN SOLUTION", "END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
DISTINCTIVE = 16  # a secret line shorter than this (e.g. "return x") proves nothing when found


def read(path):
    """A notebook from ``.ipynb`` or jupytext ``.md``."""
    path = Path(path)
    if path.suffix == ".md":
        import jupytext
        return jupytext.read(path)
    return nbformat.read(path, as_version=4)


def write(notebook, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)


def convert_sources(source_folder, target_folder):
    """Copy an assignment's source folder to the course root, notebooks as ``.ipynb``.

    Each notebook gets the student kernelspec; other files are copied as they are.
    """
    source_folder, target_folder = Path(source_folder), Path(target_folder)
    if target_folder.exists():
        shutil.rmtree(target_folder)
    target_folder.mkdir(parents=True)
    for path in sorted(source_folder.iterdir()):
        if path.name.startswith(".") or path.name in ("__pycache__", "needle_edu"):
            continue
        if is_notebook(path):
            notebook = read(path)
            notebook.metadata["kernelspec"] = notebook_kernelspec()
            notebook.metadata.pop("jupytext", None)
            write(notebook, target_folder / (path.stem + ".ipynb"))
        elif path.is_dir():
            shutil.copytree(path, target_folder / path.name)
        else:
            shutil.copy2(path, target_folder / path.name)
    return sorted(target_folder.glob("*.ipynb"))


def nbgrader_meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def by_grade_id(notebook):
    """``{grade_id: cell}`` for the cells nbgrader tracks."""
    return {meta["grade_id"]: cell for cell in notebook.cells
            if (meta := nbgrader_meta(cell)).get("grade_id")}


def is_solution(cell):
    return bool(nbgrader_meta(cell).get("solution"))


def is_test(cell):
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


def _marker(line, word):
    """``### BEGIN SOLUTION``, or ``// ### BEGIN SOLUTION`` in a C++ (``%%cpu_kernel``) cell."""
    return re.match(rf"^\s*(//\s*)?#+\s*{word}\s*$", line) is not None


def regions(source, begin, end):
    """``[(first, last)]`` 0-based line indices of the marker lines of each region in ``source``."""
    found, start = [], None
    for index, line in enumerate(source.splitlines()):
        if _marker(line, begin):
            start = index
        elif _marker(line, end) and start is not None:
            found.append((start, index))
            start = None
    return found


def without_markers(source):
    """The solution as a student would write it: the solution markers dropped."""
    return "\n".join(line for line in source.splitlines()
                     if not (_marker(line, SOLUTION_BEGIN) or _marker(line, SOLUTION_END)))


def paste_solutions(release, source, transform=None):
    """A copy of ``release`` whose solution cells hold the solutions of ``source`` (matched by grade_id).

    ``transform(source text)`` may alter each pasted solution (the wrong example does).
    """
    pasted = nbformat.from_dict(release)
    answers = by_grade_id(source)
    for cell in pasted.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if is_solution(cell) and grade_id in answers:
            text = answers[grade_id].source
            text = transform(text) if transform and cell.cell_type == "code" else text
            cell.source = without_markers(text)
    return pasted


def _region_lines(notebook, begin, end, cells):
    lines = []
    for cell in notebook.cells:
        if cells(cell):
            source = cell.source.splitlines()
            for first, last in regions(cell.source, begin, end):
                lines += source[first + 1:last]
    return lines


def secret_lines(source):
    """Distinctive lines of a source notebook: ``(solution lines, hidden-test lines)``.

    Lines that also occur outside those regions (shared boilerplate) are left out.
    """
    public = set()
    for cell in source.cells:
        inside = set()
        for begin, end in ((SOLUTION_BEGIN, SOLUTION_END), (HIDDEN_BEGIN, HIDDEN_END)):
            for first, last in regions(cell.source, begin, end):
                inside.update(range(first, last + 1))
        public.update(line.strip() for i, line in enumerate(cell.source.splitlines()) if i not in inside)
    return tuple(distinctive(_region_lines(source, begin, end, cells), public)
                 for begin, end, cells in ((SOLUTION_BEGIN, SOLUTION_END, lambda c: True),
                                           (HIDDEN_BEGIN, HIDDEN_END, is_test)))


def distinctive(lines, public=()):
    """The stripped ``lines`` long enough to prove a leak, that are not comments or ``public``."""
    return sorted({line.strip() for line in lines} - set(public)
                  - {line for line in map(str.strip, lines) if len(line) < DISTINCTIVE or line.startswith("#")})
