"""needle_edu.init: shapes, devices and dtypes, the seedable generator, and the statistics of
the random initializers against their formulas."""
import math

import numpy as np
import pytest

from needle_edu import init
from needle_edu.backend_ndarray import devices


@pytest.mark.parametrize("make", [init.uniform, init.normal, init.randb, init.ones, init.zeros,
                                  lambda *shape, **kw: init.constant(*shape, c=2.5, **kw)],
                         ids=["uniform", "normal", "randb", "ones", "zeros", "constant"])
def test_shapes_devices_and_dtypes(make):
    t = make(2, 3, device="numpy", dtype="float64")
    assert t.shape == (2, 3) and t.dtype == "float64" and t.device == devices.cpu_numpy()
    assert not t.requires_grad and make(2, 3, requires_grad=True).requires_grad
    assert make((4, 1)).shape == (4, 1) and make(4, 1).dtype == "float32"


def test_constants():
    np.testing.assert_array_equal(init.constant(2, 2, c=2.5).numpy(), np.full((2, 2), 2.5))
    np.testing.assert_array_equal(init.ones(3).numpy(), np.ones(3))
    np.testing.assert_array_equal(init.zeros(3).numpy(), np.zeros(3))


def test_manual_seed_repeats_every_draw_on_every_device_and_dtype():
    init.manual_seed(7)
    first = [init.uniform(3, device="numpy", dtype="float64"), init.normal(3), init.randb(5)]
    init.manual_seed(7)
    again = [init.uniform(3, device="cpu", dtype="float64"), init.normal(3), init.randb(5)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(init.uniform(3).numpy(), first[0].numpy())
    assert init.manual_seed(7) is init.default_generator


def test_random_distributions():
    init.manual_seed(0)
    u = init.uniform(100_000, low=-2.0, high=3.0, device="numpy").numpy()
    assert u.min() >= -2.0 and u.max() < 3.0 and abs(u.mean() - 0.5) < 0.02
    n = init.normal(100_000, mean=1.0, std=2.0, device="numpy").numpy()
    assert abs(n.mean() - 1.0) < 0.03 and abs(n.std() - 2.0) < 0.03
    b = init.randb(100_000, p=0.3, device="numpy").numpy()
    assert set(np.unique(b)) == {0.0, 1.0} and abs(b.mean() - 0.3) < 0.01


def test_one_hot():
    expected = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype="float32")
    np.testing.assert_array_equal(init.one_hot(3, [1, 2, 0]).numpy(), expected)
    np.testing.assert_array_equal(init.one_hot(3, init.constant(1, c=2.0)).numpy(), expected[1:2])
    with pytest.raises(ValueError, match=r"range\(3\)"):
        init.one_hot(3, [3])
    float64 = init.one_hot(3, np.array([2, 0]), device="numpy", dtype="float64")
    assert float64.dtype == "float64"
    np.testing.assert_array_equal(float64.numpy(), expected[[1, 2]])
    assert init.one_hot(3, []).shape == (0, 3)
    for bad in ([-1], [0.5], [[0, 1]]):
        with pytest.raises(ValueError, match=r"one_hot: labels must be a 1-D array of whole numbers in range\(3\)"):
            init.one_hot(3, bad)


# Each initializer: its standard deviation by formula, for fan_in 300 and fan_out 200.
FAN_IN, FAN_OUT = 300, 200
INITIALIZERS = {
    "xavier_uniform": (lambda **kw: init.xavier_uniform(FAN_IN, FAN_OUT, gain=2.0, **kw),
                       2.0 * math.sqrt(6 / (FAN_IN + FAN_OUT)) / math.sqrt(3)),
    "xavier_normal": (lambda **kw: init.xavier_normal(FAN_IN, FAN_OUT, gain=2.0, **kw),
                      2.0 * math.sqrt(2 / (FAN_IN + FAN_OUT))),
    "kaiming_uniform": (lambda **kw: init.kaiming_uniform(FAN_IN, FAN_OUT, **kw),
                        math.sqrt(2) * math.sqrt(3 / FAN_IN) / math.sqrt(3)),
    "kaiming_normal": (lambda **kw: init.kaiming_normal(FAN_IN, FAN_OUT, **kw),
                       math.sqrt(2 / FAN_IN)),
    "kaiming_normal_tanh": (lambda **kw: init.kaiming_normal(FAN_IN, FAN_OUT, "tanh", **kw),
                            5 / 3 / math.sqrt(FAN_IN)),
}


@pytest.mark.parametrize("name", INITIALIZERS)
def test_initializer_statistics(name):
    make, std = INITIALIZERS[name]
    init.manual_seed(0)
    w = make(device="numpy", dtype="float64").numpy()
    assert w.shape == (FAN_IN, FAN_OUT)
    np.testing.assert_allclose(w.std(), std, rtol=0.01)
    assert abs(w.mean()) < 0.01 * std
    if "uniform" in name:
        assert np.abs(w).max() <= std * math.sqrt(3)


def test_initializers_take_a_shape_and_refuse_unknown_nonlinearities():
    assert init.kaiming_uniform(3, 4, shape=(4, 3, 2, 2)).shape == (4, 3, 2, 2)
    assert init.xavier_normal(3, 4, shape=(5,), device="numpy").device == devices.cpu_numpy()
    assert init.calculate_gain("relu") == math.sqrt(2)
    with pytest.raises(ValueError, match="unknown nonlinearity 'gelu'"):
        init.kaiming_normal(3, 4, nonlinearity="gelu")


@pytest.mark.parametrize("make", [init.uniform, init.normal, init.randb, init.ones, init.zeros, init.constant])
def test_every_maker_takes_shape_by_keyword_and_refuses_two_shapes_or_bad_ones(make):
    assert make(shape=(2, 3)).shape == (2, 3) and make(shape=4).shape == (4,)
    with pytest.raises(TypeError, match="not both"):
        make(2, shape=(2,))
    with pytest.raises(ValueError, match="whole numbers >= 0"):
        make(shape=(2, -1))
    with pytest.raises(ValueError, match="whole numbers >= 0"):
        make(2.5)


@pytest.mark.parametrize("name", ["xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal"])
def test_initializers_refuse_fans_that_are_not_positive_whole_numbers(name):
    with pytest.raises(ValueError, match=f"{name}: fan_in must be a whole number >= 1"):
        getattr(init, name)(0, 4)
    with pytest.raises(ValueError, match=f"{name}: fan_out must be a whole number >= 1"):
        getattr(init, name)(3, 2.0)


def test_initializers_match_torch_for_the_same_fans():
    """torch stores a Linear weight as (fan_out, fan_in): its bound and std are ours for the transpose."""
    torch = pytest.importorskip("torch", reason="torch (CPU wheel) compares the initializers' scales")
    w = torch.empty(FAN_OUT, FAN_IN, dtype=torch.float64)
    torch.manual_seed(0)
    for name, make, torch_init in [
            ("xavier_uniform", lambda: init.xavier_uniform(FAN_IN, FAN_OUT, gain=2.0), lambda: torch.nn.init.xavier_uniform_(w, gain=2.0)),
            ("kaiming_normal", lambda: init.kaiming_normal(FAN_IN, FAN_OUT), lambda: torch.nn.init.kaiming_normal_(w, nonlinearity="relu"))]:
        ours = make().numpy()
        theirs = torch_init().numpy()
        np.testing.assert_allclose(ours.std(), theirs.std(), rtol=0.02, err_msg=name)
        if "uniform" in name:
            np.testing.assert_allclose(np.abs(ours).max(), np.abs(theirs).max(), rtol=0.01, err_msg=name)
