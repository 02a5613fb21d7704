"""The check API and the trusted verdict, without a kernel: what is refused, what matches, what scores."""
import nbformat
import numpy as np
import pytest

from autograder.grading import verdict
from needle_edu import check


class AlwaysEqual:
    def __eq__(self, other):
        return True


class Agreeable(np.ndarray):
    def __eq__(self, other):
        return np.ones(self.shape, bool)


class FloatLike(float):
    pass


@pytest.mark.parametrize("value", [AlwaysEqual(), np.zeros(2).view(Agreeable), FloatLike(1.0),
                                   np.array([1, "a"], dtype=object), [1.0, AlwaysEqual()], 1j])
def test_values_that_are_not_plain_numbers_are_refused(value):
    with pytest.raises(check.Refused):
        check.encode(value)


@pytest.mark.parametrize("value", [True, 3, -2.5, np.float32(1.5), np.int64(7), (2, 3), [[1.0, 2.0]],
                                   np.arange(6.0).reshape(2, 3), "float32", np.array([np.nan, np.inf])])
def test_plain_values_survive_the_round_trip(value):
    decoded = check.decode(check.encode(value))
    if isinstance(value, str):
        assert decoded == value
    else:
        np.testing.assert_array_equal(decoded, np.asarray(value))
        assert decoded.dtype == np.asarray(value).dtype


def test_comparisons_are_strict_about_nan_shape_and_bounds():
    spec = {"rtol": 1e-7, "atol": 0.0}
    assert check.compare("close", np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9]), spec) is None
    assert check.compare("close", np.array([np.nan]), np.array([np.nan]), spec) == "NaN in the result"
    assert "shape" in check.compare("close", np.ones((2, 1)), np.ones(2), spec)
    assert check.compare("close", np.array(np.inf), np.array(np.inf), spec) is None
    assert check.compare("equal", np.array([1, 2]), np.array([1, 3]), {}) == "values differ"
    assert check.compare("equal", "float32", "float64", {}) is not None
    assert check.compare("at_least", np.array(np.nan), None, {"bound": 0.5}) is not None
    labels = np.array([0, 1, 2, 3])
    assert check.compare("accuracy", np.array([0, 1, 2, 0]), None, {"bound": 0.75, "labels": labels}) is None
    assert check.compare("accuracy", np.array([0, 1, 0, 0]), None, {"bound": 0.75, "labels": labels})


def test_local_checks_tell_the_student_and_records_carry_no_expected_value():
    check.close("fine", np.float64(1.0), 1.0)
    with pytest.raises(AssertionError, match="wrong: the value differs\n  got 1.0, expected 2.0"):
        check.close("wrong", 1.0, 2.0)
    with pytest.raises(AssertionError, match="is not a plain number"):
        check.equal("cheat", AlwaysEqual(), 1)
    with pytest.raises(AssertionError, match="0.5 < 0.83"):
        check.accuracy("acc", np.array([1, 0]), np.array([1, 1]), at_least=0.83)


def cell(records, points=2, outputs=()):
    data = [nbformat.v4.new_output("display_data", data={check.MIME: r}) for r in records]
    test = nbformat.v4.new_code_cell("")
    test.metadata["nbgrader"] = {"grade": True, "solution": False, "points": points, "grade_id": "t", "locked": True}
    test.outputs = data + list(outputs)
    return test


def record(name, value, kind="close", **spec):
    return {"name": name, "kind": kind, "spec": spec, "value": check.encode(value)}


EXPECTED = {"x": {"kind": "close", "spec": {"rtol": 1e-7, "atol": 0.0}, "expected": check.encode([1.0, 2.0])}}


def test_the_verdict_rests_on_records_only():
    error = nbformat.v4.new_output("error", ename="Boom", evalue="", traceback=[])
    warning = nbformat.v4.new_output("stream", name="stderr", text="UserWarning: harmless")
    assert verdict.score(cell([record("x", [1.0, 2.0])], outputs=[error, warning]), EXPECTED) == (2.0, "")
    assert verdict.score(cell([record("x", [1.0, 2.5])]), EXPECTED)[0] == 0
    assert "not recorded" in verdict.score(cell([]), EXPECTED)[1]
    assert "more than once" in verdict.score(cell([record("x", [1.0, 2.0])] * 2), EXPECTED)[1]
    refused = {"name": "x", "kind": "close", "spec": {}, "refused": "AlwaysEqual is not a plain number"}
    assert verdict.score(cell([refused]), EXPECTED)[0] == 0
    forged = {"name": "x", "kind": "close", "spec": {"rtol": 1e9}, "value": {"dtype": "|O", "shape": [], "b64": ""}}
    assert verdict.score(cell([forged]), EXPECTED)[0] == 0
    loose = record("x", [1.0, 2.5], rtol=10.0)  # the student's spec is ignored: the release's counts
    assert verdict.score(cell([loose]), EXPECTED)[0] == 0


def test_cells_without_checks_ignore_stderr_but_not_errors():
    warning = nbformat.v4.new_output("stream", name="stderr", text="UserWarning: harmless")
    error = nbformat.v4.new_output("error", ename="AssertionError", evalue="no", traceback=[])
    assert verdict.score(cell([], outputs=[warning]), {}) == (2.0, "")
    assert verdict.score(cell([], outputs=[warning, error]), {})[0] == 0
