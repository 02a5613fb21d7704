"""Grading limits follow the source: a cell the instructor's run took long (a full-size training
run) gets a timeout that fits it, so a correct submission is never cut off by the course default."""
import json

import nbformat

from autograder.course import Course
from autograder.release import expected


def timed_cell(start, end):
    cell = nbformat.v4.new_code_cell("pass")
    cell.metadata["execution"] = {"iopub.execute_input": start, "shell.execute_reply": end}
    return cell


def test_cell_seconds_read_nbclients_timestamps():
    notebook = nbformat.v4.new_notebook(cells=[
        timed_cell("2026-12-07T10:00:00.000000Z", "2026-12-07T10:00:02.500000Z"),
        nbformat.v4.new_markdown_cell("text"),
        timed_cell("2026-12-07T10:00:03.000000Z", "2026-12-07T10:04:03.000000Z"),
        nbformat.v4.new_code_cell("never run"),
    ])
    assert expected.cell_seconds(notebook) == {"longest_cell": 240.0, "total": 242.5}


def test_limits_rise_with_the_sources_longest_cell_and_total(tmp_path):
    course = Course(root=tmp_path)
    assert expected.time_limits(course, "a07_x") == (course.cell_timeout, course.submission_budget)
    folder = tmp_path / "expected" / "a07_x"
    folder.mkdir(parents=True)
    (folder / "a07_x.json").write_text(json.dumps({"cells": {}, "seconds": {"longest_cell": 5.0, "total": 20.0}}))
    assert expected.time_limits(course, "a07_x") == (course.cell_timeout, course.submission_budget)  # quick cells
    (folder / "a07_x.json").write_text(json.dumps({"cells": {}, "seconds": {"longest_cell": 280.0, "total": 400.0}}))
    cell_timeout, budget = expected.time_limits(course, "a07_x")
    assert cell_timeout == expected.SLOWER * 280 and budget == expected.SLOWER * 400
    (folder / "old.json").write_text(json.dumps({"cells": {}}))  # recorded before timings were kept
    assert expected.time_limits(course, "a07_x") == (cell_timeout, budget)
