"""The trusted verdict: a test cell's score from the values it recorded, compared outside the sandbox.

A cell with checks scores its points only when every expected check was recorded exactly once
and matches the value recorded from the instructor's solution; errors and stderr do not matter.
A cell without checks scores nbgrader's way, except that stderr (a warning) costs nothing.
"""
import copy

from needle_edu.check import MIME, compare, decode

from .. import notebooks


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
        return f"check {name!r} {'not recorded' if not found else 'recorded more than once'}"
    record = found[0]
    if "refused" in record or "value" not in record:
        return f"check {name!r}: {record.get('refused', 'no value')}"
    try:
        spec = dict(expected["spec"])
        if "labels" in spec:
            spec["labels"] = decode(spec["labels"])
        why = compare(expected["kind"], decode(record["value"]), decode(expected["expected"]), spec)
    except (ValueError, TypeError, KeyError) as error:
        why = f"malformed record ({error})"
    return f"check {name!r} failed: {why}" if why else None


def _summary(failures, width=300):
    """The failed checks in one short line: the unrecorded ones counted, the others quoted."""
    missing = [f for f in failures if f.endswith(" not recorded")]
    others = [f for f in failures if f not in missing]
    parts = others[:2] + ([f"{len(others) - 2} more checks failed"] if len(others) > 2 else [])
    if missing:
        parts.append(missing[0] if len(missing) == 1 else f"{len(missing)} checks not recorded")
    text = ", ".join(parts)  # "; " separates the reasons of different cells
    return text if len(text) <= width else text[:width - 3] + "..."


def _raised(cell):
    """The cell's last error as one short line ('' when it raised none)."""
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if not errors:
        return ""
    evalue = " ".join(str(errors[-1].get("evalue", "")).split())
    return f"{errors[-1].get('ename', 'Error')}: {evalue[:200]}".rstrip(": ")


def score(cell, checks):
    """``(score, reason)`` for an autograder test cell run by the grader; ``checks`` from :mod:`autograder.release.expected`.

    The reason is one line: the points lost, the checks that failed, and the error the cell raised.
    """
    from nbgrader.utils import determine_grade
    points = float(notebooks.nbgrader_meta(cell)["points"])
    if checks:
        found = records(cell)
        failures = [why for name, expected in checks.items() if (why := _check(name, expected, found.get(name, [])))]
        if not failures:
            return points, ""
        raised = _raised(cell)
        return 0.0, f"lost {points:g} of {points:g}: {_summary(failures)}" + (
            f" (the cell raised {raised})" if raised else "")
    quiet = copy.deepcopy(cell)
    quiet.outputs = [o for o in quiet.get("outputs", []) if not (o.get("output_type") == "stream"
                                                                  and o.get("name") == "stderr")]
    if raised := _raised(quiet):
        return 0.0, f"lost {points:g} of {points:g}: the cell raised {raised}"
    earned = float(determine_grade(quiet)[0])
    return earned, "" if earned >= points else f"lost {points - earned:g} of {points:g}"


def scores(notebook, expected_cells):
    """``{grade_id: (score, reason)}`` for every autograder test cell of a graded notebook."""
    cells = notebooks.by_grade_id(notebook)
    return {grade_id: score(cells[grade_id], checks) if grade_id in cells else (0.0, "the test cell is missing")
            for grade_id, checks in expected_cells.items()}


def student_reason(cell, checks, earned):
    """The reason a student reads in feedback: the points, how many checks failed, the error's type.

    Check names and error messages may quote hidden tests, so they stay in the instructor's reason.
    """
    points = float(notebooks.nbgrader_meta(cell)["points"])
    if earned >= points:
        return ""
    found = records(cell)
    failed = sum(1 for name, expected in checks.items() if _check(name, expected, found.get(name, [])))
    errors = [o.get("ename", "Error") for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    text = f"lost {points - earned:g} of {points:g}"
    text += f": {failed} of {len(checks)} checks failed" if checks else ""
    return text + (f" (the cell raised {errors[-1]})" if errors else "")
