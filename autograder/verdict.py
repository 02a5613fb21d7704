"""The trusted verdict: a test cell's score from the values it recorded, compared outside the sandbox.

A cell with checks scores its points only when every expected check was recorded exactly once
and matches the value recorded from the instructor's solution; errors and stderr do not matter.
A cell without checks scores nbgrader's way, except that stderr (a warning) costs nothing.
"""
import copy

from needle_edu.check import MIME, compare, decode

from . import notebooks


def records(cell):
    """``{name: [record, ...]}`` of the check records in a cell's outputs (malformed ones dropped)."""
    found = {}
    for output in cell.get("outputs", []):
        record = output.get("data", {}).get(MIME) if output.get("output_type") == "display_data" else None
        if isinstance(record, dict) and isinstance(record.get("name"), str):
            found.setdefault(record["name"], []).append(record)
    return found


def _check(name, expected, found):
    if len(found) != 1:
        return f"{name}: {'not recorded' if not found else 'recorded more than once'}"
    record = found[0]
    if "refused" in record or "value" not in record:
        return f"{name}: {record.get('refused', 'no value')}"
    try:
        spec = dict(expected["spec"])
        if "labels" in spec:
            spec["labels"] = decode(spec["labels"])
        why = compare(expected["kind"], decode(record["value"]), decode(expected["expected"]), spec)
    except (ValueError, TypeError, KeyError) as error:
        why = f"malformed record ({error})"
    return f"{name}: {why}" if why else None


def score(cell, checks):
    """``(score, reason)`` for an autograder test cell run by the grader; ``checks`` from :mod:`.expected`."""
    from nbgrader.utils import determine_grade
    points = float(notebooks.nbgrader_meta(cell)["points"])
    if checks:
        found = records(cell)
        failures = [why for name, expected in checks.items() if (why := _check(name, expected, found.get(name, [])))]
        return (0.0, "; ".join(failures)[:500]) if failures else (points, "")
    quiet = copy.deepcopy(cell)
    quiet.outputs = [o for o in quiet.get("outputs", []) if not (o.get("output_type") == "stream"
                                                                  and o.get("name") == "stderr")]
    errors = [o for o in quiet.outputs if o.get("output_type") == "error"]
    if errors:
        return 0.0, f"{errors[-1].get('ename', 'Error')}: {str(errors[-1].get('evalue', ''))[:200]}"
    return float(determine_grade(quiet)[0]), ""


def scores(notebook, expected_cells):
    """``{grade_id: (score, reason)}`` for every autograder test cell of a graded notebook."""
    cells = notebooks.by_grade_id(notebook)
    return {grade_id: score(cells[grade_id], checks) if grade_id in cells else (0.0, "test cell missing")
            for grade_id, checks in expected_cells.items()}
