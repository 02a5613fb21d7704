"""Checks for test cells: each records a plain value for the trusted grader and asserts locally.

In a notebook, ``close("loss", value, expected)`` tells a student at once whether ``value`` is
right; when the notebook is graded, only the recorded ``value`` counts: the grader compares it,
outside the student's kernel, with the value the instructor's solution recorded at release.
"""
import base64
import math

import numpy as np

MIME = "application/vnd.needle-edu.check+json"
KINDS = ("close", "equal", "at_least", "accuracy")


class Refused(TypeError):
    """A value that is not plain numbers, booleans, strings or a numeric ndarray."""


def _leaf(value):
    kind = type(value)
    if kind in (bool, int, float) or (kind.__module__ == "numpy" and isinstance(value, np.generic)
                                      and value.dtype.kind in "biuf"):
        return value
    raise Refused(f"{kind.__module__}.{kind.__qualname__} is not a plain number")


def _leaves(value):
    if type(value) in (list, tuple):
        return [_leaves(v) for v in value]
    return _leaf(value)


def encode(value):
    """``value`` as JSON-safe data; Refused unless it is a str, a number, a list of them or an ndarray."""
    if type(value) is str:
        return {"str": value}
    if type(value) is np.ndarray:
        if value.dtype.kind not in "biuf" or value.dtype.hasobject:
            raise Refused(f"an array of {value.dtype} is not numeric")
        array = value
    else:
        array = np.asarray(_leaves(value))
        if array.dtype.kind not in "biuf":
            raise Refused("a ragged or non-numeric sequence")
    array = np.array(array, dtype=array.dtype.newbyteorder("<"), order="C")
    return {"dtype": array.dtype.str, "shape": list(array.shape),
            "b64": base64.b64encode(array.tobytes()).decode("ascii")}


def decode(data):
    """The str or ndarray that :func:`encode` wrote; ValueError when ``data`` is malformed."""
    if not isinstance(data, dict):
        raise ValueError("not an encoded value")
    if set(data) == {"str"} and type(data["str"]) is str:
        return data["str"]
    dtype = np.dtype(str(data["dtype"]))
    shape = tuple(int(n) for n in data["shape"])
    if dtype.kind not in "biuf":
        raise ValueError(f"dtype {dtype} is not numeric")
    raw = base64.b64decode(str(data["b64"]), validate=True)
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def compare(kind, value, expected, spec):
    """Why ``value`` fails the check against the trusted ``expected`` and ``spec``, or None. NaN never passes."""
    if isinstance(expected, str) or isinstance(value, str):
        return None if type(value) is type(expected) and value == expected else f"{value!r} != {expected!r}"
    value = np.asarray(value)
    if kind in ("at_least", "accuracy"):
        if kind == "accuracy":
            labels = np.asarray(spec["labels"])
            if value.shape != labels.shape:
                return f"{value.shape} predictions for {labels.shape} labels"
            value = np.asarray(np.mean(value == labels))
        if value.shape != () or not math.isfinite(float(value)):
            return f"{value!r} is not a finite number"
        return None if float(value) >= float(spec["bound"]) else f"{float(value):.6g} < {spec['bound']}"
    if value.shape != np.shape(expected):
        return f"shape {value.shape}, expected {np.shape(expected)}"
    if kind == "equal":
        return None if np.array_equal(value, expected) else "values differ"
    value, expected = value.astype(np.float64), np.asarray(expected, dtype=np.float64)
    if np.isnan(value).any():
        return "NaN in the result"
    with np.errstate(invalid="ignore", over="ignore"):
        close = np.abs(value - expected) <= spec.get("atol", 0.0) + spec.get("rtol", 1e-7) * np.abs(expected)
    close |= np.isinf(expected) & (value == expected)
    if close.all():
        return None
    worst = np.unravel_index(np.argmax(~close), close.shape) if close.shape else ()
    return f"{(~close).sum()} of {close.size} values differ, e.g. at {worst}"


def _record(name, kind, value, expected=None, **spec):
    """Show the record (``value`` only: an expected value never leaves the cell) and check it locally."""
    record = {"name": str(name), "kind": kind, "spec": spec}
    try:
        record["value"] = encode(value)
    except Refused as error:
        record["refused"] = str(error)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None
    if get_ipython and get_ipython() is not None:  # in plain Python only the local check runs
        display({MIME: record, "text/plain": f"recorded for grading: {name}"}, raw=True)
    if "refused" in record:
        raise AssertionError(f"{name}: {record['refused']}")
    if expected is not None or kind in ("at_least", "accuracy"):
        if "labels" in spec:
            spec = {**spec, "labels": decode(spec["labels"])}
        why = compare(kind, decode(record["value"]), None if expected is None else decode(encode(expected)), spec)
        if why:
            raise AssertionError(f"{name}: {why}")


def close(name, value, expected=None, rtol=1e-7, atol=0.0):
    """Record ``value`` (numbers or an array) to compare within ``atol + rtol * |expected|``."""
    _record(name, "close", value, expected, rtol=rtol, atol=atol)


def equal(name, value, expected=None):
    """Record ``value`` (integers, booleans, a shape, a string) to compare exactly."""
    _record(name, "equal", value, expected)


def at_least(name, value, bound):
    """Record the number ``value``, which must be at least ``bound``."""
    _record(name, "at_least", value, bound=float(bound))


def accuracy(name, predictions, labels, at_least):
    """Record the class ``predictions``; the share equal to ``labels`` must be at least ``at_least``."""
    _record(name, "accuracy", predictions, bound=float(at_least), labels=encode(labels))
