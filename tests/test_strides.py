"""NDArray's stride rules: the reference (``strides``, written in a06) and the numpy-based rules
that builds before a06 carry (``strides_numpy``) against numpy's own views; ``as_strided``."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from test_ndarray_conformance import apply_ndarray, apply_numpy, view_recipes

import needle_edu as ndl
from needle_edu.backend_ndarray import ndarray as ndarray_module
from needle_edu.backend_ndarray import strides, strides_numpy

RULE_SETS = {"reference": strides, "numpy": strides_numpy}


@pytest.fixture(params=sorted(RULE_SETS))
def rules(request, monkeypatch):
    """NDArray computing its views with one rule set (the device: numpy, the oracle)."""
    monkeypatch.setattr(ndarray_module, "RULES", RULE_SETS[request.param])
    return RULE_SETS[request.param]


def test_the_library_uses_the_reference_rules():
    assert ndarray_module.RULES is strides


@settings(max_examples=80, deadline=None)
@given(view_recipes())
def test_views_of_each_rule_set_match_numpy(recipe):
    shape, seed, steps = recipe
    base = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    expected = apply_numpy(base, steps)
    for name, rules in RULE_SETS.items():
        ndarray_module.RULES = rules
        try:
            view = apply_ndarray(ndl.NDArray(base, device="numpy"), steps)
        finally:
            ndarray_module.RULES = strides
        np.testing.assert_array_equal(view.numpy(), expected, err_msg=name)
        assert view.shape == expected.shape
        if expected.size:  # numpy's strides of size-1 axes are arbitrary; where the view starts is not
            assert [s for s, d in zip(view.strides, view.shape) if d > 1] == \
                [s // 8 for s, d in zip(expected.strides, expected.shape) if d > 1], name
            start = expected.__array_interface__["data"][0] - base.__array_interface__["data"][0]
            assert view.offset == start // 8, name
        row_major = tuple(s // 8 for s in np.empty(view.shape).strides)
        assert view.is_compact() == (view.offset == 0 and view.size == base.size
                                     and view.strides == row_major), name


@pytest.mark.parametrize("shape", [(), (4,), (2, 3), (3, 1, 5), (0, 4), (2, 0, 3)])
def test_compact_strides_are_numpys_row_major_strides(shape):
    expected = tuple(s // 8 for s in np.empty(shape).strides) if 0 not in shape else None
    for rules in RULE_SETS.values():
        got = rules.compact_strides(shape)
        assert len(got) == len(shape)
        if expected is not None:
            assert got == expected
    assert strides.compact_strides(shape) == strides_numpy.compact_strides(shape)


def test_reshape_and_compact_with_each_rule_set(rules):
    a = ndl.NDArray(np.arange(24.0).reshape(2, 3, 4), device="numpy")
    t = a.permute((2, 0, 1))
    assert not t.is_compact()
    np.testing.assert_array_equal(t.reshape(4, 6).numpy(), np.arange(24.0).reshape(2, 3, 4).transpose(2, 0, 1).reshape(4, 6))
    assert a.reshape(6, 4).is_compact() and a.reshape(6, 4)._handle is a._handle


def test_as_strided_makes_a_checked_view():
    a = ndl.NDArray(np.arange(12.0, dtype=np.float32), device="numpy")
    windows = a.as_strided((5, 4), (2, 1))  # overlapping rows: a sliding window
    expected = np.lib.stride_tricks.sliding_window_view(np.arange(12.0), 4)[::2]
    np.testing.assert_array_equal(windows.numpy(), expected)
    assert windows._handle is a._handle
    backwards = a.as_strided((3,), (-4,), offset=11)
    np.testing.assert_array_equal(backwards.numpy(), [11.0, 7.0, 3.0])
    with pytest.raises(IndexError, match=r"as_strided: .*reaches elements 0\.\.12 of a buffer of 12"):
        a.as_strided((4, 4), (3, 1))
    with pytest.raises(IndexError, match="reaches elements -1"):
        a.as_strided((2,), (-1,), offset=0)
    with pytest.raises(ValueError, match="differ in length"):
        a.as_strided((2, 2), (1,))
    with pytest.raises(TypeError, match="as_strided: strides must be ints"):
        a.as_strided((2,), (1.5,))
    assert a.as_strided((0, 3), (100, 100)).shape == (0, 3)  # reaches nothing: nothing to check


def test_indexing_every_axis_gives_a_0d_view_with_each_rule_set(rules):
    a = ndl.NDArray(np.arange(12.0).reshape(3, 4), device="numpy")
    for index in [(1, 2), (-1, -4), (2, Ellipsis, 3)]:
        view = a[index]
        assert view.shape == () and view._handle is a._handle
        assert float(view) == np.arange(12.0).reshape(3, 4)[index]
    a[0, 1] = 7.0  # written through the 0-d view
    assert a.numpy()[0, 1] == 7.0
