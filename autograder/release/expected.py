"""Expected check values, recorded at release time by running the SOURCE notebook with the instructor library.

They live under the course root (``expected/<assignment>/<notebook>.json``), never in the
release; the grader compares student records with them (:mod:`autograder.grading.verdict`).
"""
import json
import math
import os
from pathlib import Path

from needle_edu.check import decode

from .. import notebooks
from ..grading.verdict import records


SOURCE_CELL_TIMEOUT = 900  # seconds per cell of the instructor's own run: trusted, maybe on a busy machine


class SourceTestFailed(RuntimeError):
    """The source notebook fails its own test cell, or records a value no student can match."""


def _expected(grade_id, found):
    checks = {}
    for name, recorded in found.items():
        if len(recorded) != 1 or "refused" in recorded[0]:
            raise SourceTestFailed(f"{grade_id}: check {name!r} is recorded {len(recorded)} times or refused")
        record = recorded[0]
        value = record["value"]
        array = decode(value)
        if not isinstance(array, str) and array.dtype.kind == "f" and any(map(math.isnan, array.ravel())):
            raise SourceTestFailed(f"{grade_id}: check {name!r} expects NaN")
        checks[name] = {"kind": record["kind"], "spec": record.get("spec", {}), "expected": value}
    return checks


def from_notebook(executed):
    """``{grade_id: {check name: expected}}`` of every autograder test cell of an executed source notebook."""
    cells = {}
    for cell in executed.cells:
        if not (notebooks.is_test(cell) and notebooks.nbgrader_meta(cell).get("points")):
            continue
        grade_id = notebooks.nbgrader_meta(cell)["grade_id"]
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            raise SourceTestFailed(f"the source fails its test cell {grade_id}: "
                                   f"{errors[0].get('ename')}: {errors[0].get('evalue')}")
        cells[grade_id] = _expected(grade_id, records(cell))
    return cells


def record(course, assignment):
    """Run each source notebook of ``assignment`` (instructor library) and write its expected values."""
    from nbclient import NotebookClient
    folder = course.root / "expected" / assignment
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(course.folder("source", assignment).glob("*.ipynb")):
        notebook = notebooks.read(path)
        NotebookClient(notebook, kernel_name="python3", timeout=max(SOURCE_CELL_TIMEOUT, course.cell_timeout),
                       allow_errors=True,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        target = folder / f"{path.stem}.json"
        temporary = target.with_name(f".{target.name}.{os.getpid()}")
        temporary.write_text(json.dumps({"cells": from_notebook(notebook)}))
        os.replace(temporary, target)
        written.append(target)
    return written


def load(course, assignment, notebook_name):
    """The expected cells of one notebook, or None when the release recorded none."""
    path = course.root / "expected" / assignment / f"{Path(notebook_name).stem}.json"
    return json.loads(path.read_text())["cells"] if path.exists() else None
