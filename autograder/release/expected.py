"""Expected check values, recorded at release time by running the SOURCE notebook with the instructor library.

They live under the course root (``expected/<assignment>/<notebook>.json``), never in the
release; the grader compares student records with them (:mod:`autograder.grading.verdict`).
"""
import json
import math
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

from needle_edu.check import decode

from .. import notebooks
from ..grading.verdict import records


SLOWER = 3  # a student's cells may take this many times as long as the source's (time_limits)
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
    source = course.folder("source", assignment)
    for path in sorted(source.glob("*.ipynb")):
        notebook = notebooks.read(path)
        with tempfile.TemporaryDirectory(prefix=f"record-{assignment}-") as scratch:
            # a scratch copy of the folder: what the run writes never reaches the release beside it
            workdir = shutil.copytree(source, Path(scratch) / source.name)
            NotebookClient(notebook, kernel_name="python3", timeout=max(SOURCE_CELL_TIMEOUT, course.cell_timeout),
                           allow_errors=True, resources={"metadata": {"path": str(workdir)}}).execute()
        target = folder / f"{path.stem}.json"
        temporary = target.with_name(f".{target.name}.{os.getpid()}")
        temporary.write_text(json.dumps({"cells": from_notebook(notebook), "seconds": cell_seconds(notebook)}))
        os.replace(temporary, target)
        written.append(target)
    return written


def cell_seconds(notebook):
    """How long the source's code cells took, from the timestamps nbclient records: the longest
    one and all of them together."""
    times = []
    for cell in notebook.cells:
        execution = cell.get("metadata", {}).get("execution", {})
        if cell.cell_type == "code" and "iopub.execute_input" in execution and "shell.execute_reply" in execution:
            start, end = (datetime.fromisoformat(execution[key].replace("Z", "+00:00"))
                          for key in ("iopub.execute_input", "shell.execute_reply"))
            times.append(max(0.0, (end - start).total_seconds()))
    return {"longest_cell": max(times, default=0.0), "total": sum(times)}


def time_limits(course, assignment):
    """(seconds per cell, seconds per submission) for grading ``assignment``: the course's limits,
    raised where the source itself took long (a full-size training run), so that a student's
    code SLOWER times slower than the solution, on a busier machine, still finishes."""
    cell_timeout, budget = course.cell_timeout, course.submission_budget
    for path in sorted((course.root / "expected" / assignment).glob("*.json")):
        seconds = json.loads(path.read_text()).get("seconds")
        if seconds:
            cell_timeout = max(cell_timeout, math.ceil(SLOWER * seconds["longest_cell"]))
            budget = max(budget, math.ceil(SLOWER * seconds["total"]))
    return cell_timeout, budget


def load(course, assignment, notebook_name):
    """The expected cells of one notebook, or None when the release recorded none."""
    path = course.root / "expected" / assignment / f"{Path(notebook_name).stem}.json"
    return json.loads(path.read_text())["cells"] if path.exists() else None
