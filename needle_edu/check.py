"""Checks for test cells: each records a plain value for the trusted grader and asserts locally.

In a notebook, ``close("loss", value, expected)`` tells a student at once whether ``value`` is
right; when the notebook is graded, only the recorded ``value`` counts: the grader compares it,
outside the student's kernel, with the value the instructor's solution recorded at release.
"""
import base64
import math
import sys

import numpy as np

MIME = "application/vnd.needle-edu.check+json"
KINDS = ("close", "equal", "at_least", "accuracy")


class Refused(TypeError):
    """A value that is not plain numbers, booleans, strings or a numeric ndarray."""


class CheckFailed(AssertionError):
    """A check that failed in the notebook; its traceback stops at the cell that called the check."""


SHOWN_WHOLE = 25  # arrays of at most this many values are printed whole in a failed check


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
        return f"shape {value.shape} {value.dtype}, expected shape {np.shape(expected)} {np.asarray(expected).dtype}"
    if kind == "equal":
        return None if np.array_equal(value, expected) else "values differ"
    if np.isnan(value.astype(np.float64)).any():
        return "NaN in the result"
    wrong = _differ(kind, value, expected, spec)
    if not wrong.any():
        return None
    if not wrong.shape:
        return "the value differs"
    return f"{wrong.sum()} of {wrong.size} values differ, the first at {_first(wrong)}"


def _differ(kind, value, expected, spec):
    """Where ``value`` fails ``expected`` (same shapes): exactly for "equal", within tolerance for "close"."""
    if kind == "equal":
        return np.asarray(value != expected)
    value, expected = np.asarray(value, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        close = np.abs(value - expected) <= spec.get("atol", 0.0) + spec.get("rtol", 1e-7) * np.abs(expected)
    return ~(close | (np.isinf(expected) & (value == expected)))


def _first(wrong):
    """The index of the first True in ``wrong``, as plain ints: ``(0, 1)``."""
    return tuple(int(i) for i in np.unravel_index(np.argmax(wrong), wrong.shape)) if wrong.shape else ()


def _details(kind, value, expected, spec):
    """The values behind a failed local check: the first that differs, whole arrays when small.

    Only for checks given ``expected`` in the cell (the student sees it there anyway); the
    grader's reasons, which reach feedback, come from :func:`compare` alone and show no values.
    """
    value, expected = np.asarray(value), np.asarray(expected)
    lines = []
    if value.shape == expected.shape and value.size:
        wrong = _differ(kind, value, expected, spec)
        if wrong.any():
            at = _first(wrong)
            lines.append(f"{f'at {at}: ' if at else ''}got {_item(value[at])}, expected {_item(expected[at])}")
    if value.shape or expected.shape:
        for label, array in (("got", value), ("expected", expected)):
            if array.size <= SHOWN_WHOLE:
                text = np.array2string(array, separator=", ", precision=8)
                lines.append(f"{label + ':':<10}" + text.replace("\n", "\n" + " " * 12))
    return lines


def _item(scalar):
    """A numpy scalar written as Python writes the number (``-1.0``, not ``np.float64(-1.0)``)."""
    return repr(scalar.item()) if isinstance(scalar, np.generic) else repr(scalar)


def _record(name, kind, value, expected=None, **spec):
    """Show the record (``value`` only: an expected value never leaves the cell) and check it locally."""
    __tracebackhide__ = True  # pytest and IPython leave this frame out of tracebacks
    record = {"name": str(name), "kind": kind, "spec": spec}
    try:
        record["value"] = encode(value)
    except Refused as error:
        record["refused"] = str(error)
    if _ipython() is not None:  # in plain Python only the local check runs
        from IPython.display import display
        display({MIME: record, "text/plain": f"recorded for grading: {name}"}, raw=True)
    if "refused" in record:
        raise CheckFailed(f"{name}: {record['refused']}")
    if expected is not None or kind in ("at_least", "accuracy"):
        if "labels" in spec:
            spec = {**spec, "labels": decode(spec["labels"])}
        got, wanted = decode(record["value"]), None if expected is None else decode(encode(expected))
        why = compare(kind, got, wanted, spec)
        if why:
            details = [] if wanted is None or isinstance(wanted, str) or isinstance(got, str) else _details(kind, got, wanted, spec)
            raise CheckFailed("\n".join([f"{name}: {why}"] + ["  " + line for line in details]))


def _ipython():
    """The IPython shell we run in, or None; in a shell, a failed check's traceback is set to show
    none of this module's frames (once per kernel, never replacing a handler someone else set)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if shell is not None and shell.custom_exceptions == ():
        shell.set_custom_exc((CheckFailed,), _show_without_check_frames)
    return shell


def _show_without_check_frames(shell, etype, value, tb, tb_offset=None):
    frames = []
    while tb is not None:
        frames.append(tb)
        tb = tb.tb_next
    inside = [i for i, frame in enumerate(frames) if frame.tb_frame.f_globals.get("__name__") == __name__]
    if inside and inside[0] > 0:
        frames[inside[0] - 1].tb_next = None  # the traceback ends at the line that called the check
    shell.showtraceback((etype, value, frames[0] if frames else None), tb_offset=tb_offset)


def close(name, value, expected=None, rtol=1e-7, atol=0.0):
    """Record ``value`` (numbers or an array) to compare within ``atol + rtol * |expected|``."""
    __tracebackhide__ = True
    _record(name, "close", value, expected, rtol=rtol, atol=atol)


def equal(name, value, expected=None):
    """Record ``value`` (integers, booleans, a shape, a string) to compare exactly."""
    __tracebackhide__ = True
    _record(name, "equal", value, expected)


def at_least(name, value, bound):
    """Record the number ``value``, which must be at least ``bound``."""
    __tracebackhide__ = True
    _record(name, "at_least", value, bound=float(bound))


def accuracy(name, predictions, labels, at_least):
    """Record the class ``predictions``; the share equal to ``labels`` must be at least ``at_least``."""
    __tracebackhide__ = True
    _record(name, "accuracy", predictions, bound=float(at_least), labels=encode(labels))


def needs(*names, made_by="the cell above"):
    """Stop a test cell at once, saying which cell to run, when a value it tests was never made.

    ``check.needs("history", made_by="the training cell above")`` first in a test cell turns the
    NameError a student would meet further down into the cause: that cell failed or did not run.
    """
    __tracebackhide__ = True
    _ipython()
    namespace = sys._getframe(1).f_globals
    missing = [name for name in names if name not in namespace]
    if missing:
        raise CheckFailed(f"this test needs {', '.join(missing)} from {made_by}: run that cell first "
                          f"(it failed or did not run), then this one")
