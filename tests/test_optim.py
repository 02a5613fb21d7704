"""needle_edu.optim: every optimizer's steps against torch.optim where the definitions coincide,
against the formulas computed step by step in numpy where they differ, and its errors."""
import math

import numpy as np
import pytest

import needle_edu as ndl
from needle_edu import optim
from needle_edu.backend_ndarray import devices

SHAPES = [(3, 4), (5,)]
STEPS = 6


def gradients(seed=0):
    """A fixed sequence of gradients per parameter: STEPS lists of arrays shaped as SHAPES."""
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(shape) for shape in SHAPES] for _ in range(STEPS)]


def initial(seed=1):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in SHAPES]


def run_ours(make, device="numpy", dtype="float64", grads=None):
    """The parameters after STEPS steps of the optimizer ``make(params)`` fed the fixed gradients."""
    params = [ndl.nn.Parameter(ndl.Tensor(a, device=device, dtype=dtype)) for a in initial()]
    optimizer = make(params)
    for step in grads or gradients():
        for p, g in zip(params, step):
            p.grad = ndl.Tensor(g, device=device, dtype=dtype, requires_grad=False)
        optimizer.step()
    return [p.numpy() for p in params]


def run_torch(make):
    torch = pytest.importorskip("torch", reason="torch (CPU wheel) is the reference for these optimizers")
    params = [torch.tensor(a, requires_grad=True) for a in initial()]
    optimizer = make(torch.optim, params)
    for step in gradients():
        for p, g in zip(params, step):
            p.grad = torch.tensor(g)
        optimizer.step()
    return [p.detach().numpy() for p in params]


def assert_same(ours, theirs, rtol=1e-10, atol=1e-12):
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# (ours, torch's): the course's SGD(lr=a, momentum=b) is torch's SGD(lr=a (1 - b), momentum=b).
AGAINST_TORCH = {
    "sgd": (lambda p: optim.SGD(p, lr=0.1), lambda o, p: o.SGD(p, lr=0.1)),
    "sgd_weight_decay": (lambda p: optim.SGD(p, lr=0.1, weight_decay=0.01),
                         lambda o, p: o.SGD(p, lr=0.1, weight_decay=0.01)),
    "sgd_momentum": (lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
                     lambda o, p: o.SGD(p, lr=0.1 * (1 - 0.9), momentum=0.9)),
    "sgd_nesterov_weight_decay": (lambda p: optim.SGD(p, lr=0.2, momentum=0.8, nesterov=True, weight_decay=0.05),
                                  lambda o, p: o.SGD(p, lr=0.2 * (1 - 0.8), momentum=0.8, nesterov=True,
                                                     weight_decay=0.05)),
    "rmsprop": (lambda p: optim.RMSProp(p, lr=0.01, alpha=0.9, eps=1e-8, weight_decay=0.1),
                lambda o, p: o.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-8, weight_decay=0.1)),
    "adagrad": (lambda p: optim.Adagrad(p, lr=0.05, weight_decay=0.01),
                lambda o, p: o.Adagrad(p, lr=0.05, weight_decay=0.01)),
    "adam": (lambda p: optim.Adam(p, lr=0.01, beta1=0.8, beta2=0.95, weight_decay=0.02),
             lambda o, p: o.Adam(p, lr=0.01, betas=(0.8, 0.95), weight_decay=0.02)),
    "adamw": (lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.1),
              lambda o, p: o.AdamW(p, lr=0.01, weight_decay=0.1)),
}


@pytest.mark.parametrize("name", AGAINST_TORCH)
def test_steps_match_torch(name):
    ours, theirs = AGAINST_TORCH[name]
    assert_same(run_ours(ours), run_torch(theirs))


def by_hand(rule):
    """STEPS steps of ``rule(theta, g, t, state)`` in numpy, from the same start and gradients."""
    thetas = initial()
    states = [{} for _ in thetas]
    for t, step in enumerate(gradients(), start=1):
        thetas = [rule(theta, g, t, state) for theta, g, state in zip(thetas, step, states)]
    return thetas


def momentum_rule(lr, b, unbiased=False, nesterov=False):
    def rule(theta, g, t, state):
        state["u"] = b * state.get("u", 0.0) + (1 - b) * g
        direction = b * state["u"] + (1 - b) * g if nesterov else state["u"]
        return theta - lr * direction / ((1 - b ** t) if unbiased else 1.0)
    return rule


def adam_rule(lr, b1, b2, eps, corrected):
    def rule(theta, g, t, state):
        state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
        state["v"] = b2 * state.get("v", 0.0) + (1 - b2) * g * g
        m, v = state["m"], state["v"]
        if corrected:
            m, v = m / (1 - b1 ** t), v / (1 - b2 ** t)
        return theta - lr * m / (np.sqrt(v) + eps)
    return rule


BY_HAND = {
    "momentum": (lambda p: optim.SGD(p, lr=0.1, momentum=0.9), momentum_rule(0.1, 0.9)),
    "unbiased_momentum": (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, unbiased=True),
                          momentum_rule(0.1, 0.9, unbiased=True)),
    "unbiased_nesterov": (lambda p: optim.SGD(p, lr=0.1, momentum=0.5, unbiased=True, nesterov=True),
                          momentum_rule(0.1, 0.5, unbiased=True, nesterov=True)),
    "adam_uncorrected": (lambda p: optim.Adam(p, lr=0.01, bias_correction=False),
                         adam_rule(0.01, 0.9, 0.999, 1e-8, corrected=False)),
    "adam": (lambda p: optim.Adam(p, lr=0.01), adam_rule(0.01, 0.9, 0.999, 1e-8, corrected=True)),
}


@pytest.mark.parametrize("name", BY_HAND)
def test_steps_match_the_formulas_computed_by_hand(name):
    ours, rule = BY_HAND[name]
    assert_same(run_ours(ours), by_hand(rule))


def test_unbiased_momentum_takes_a_full_first_step():
    """u_1 = (1 - b) g is 10x too small at b = 0.9; dividing by 1 - b^1 restores the gradient's size."""
    start, grad = initial(), gradients()[0]
    for unbiased, factor in [(False, 0.1), (True, 1.0)]:
        moved = run_ours(lambda p: optim.SGD(p, lr=1.0, momentum=0.9, unbiased=unbiased), grads=[grad])
        assert_same([s - m for s, m in zip(start, moved)], [factor * g for g in grad])


@pytest.mark.parametrize("device", [d.name for d in devices.all_devices()])
def test_every_device_and_float32_agree_with_float64_numpy(device):
    if not ndl.device(device).enabled():
        pytest.skip(f"{device}: {ndl.device(device).reason}")
    for make in [AGAINST_TORCH["sgd_nesterov_weight_decay"][0], BY_HAND["adam"][0],
                 AGAINST_TORCH["rmsprop"][0]]:
        found = run_ours(make, device=device, dtype="float32")
        assert all(a.dtype == np.float32 for a in found)
        assert_same(found, run_ours(make), rtol=1e-4, atol=1e-5)


def test_parameters_without_gradient_stay_and_zero_grad_clears():
    params = [ndl.nn.Parameter(ndl.Tensor(a, device="numpy")) for a in initial()]
    before = [p.numpy().copy() for p in params]
    optimizer = optim.Adam(params, lr=0.1)
    params[0].grad = ndl.Tensor(np.ones(SHAPES[0]), device="numpy", requires_grad=False)
    optimizer.step()
    assert not np.array_equal(params[0].numpy(), before[0])
    np.testing.assert_array_equal(params[1].numpy(), before[1])
    assert set(optimizer.state[0]) == {"m", "v"} and optimizer.state[1] == {}
    optimizer.zero_grad()
    assert all(p.grad is None for p in params)
    assert optim.SGD.reset_grad is optim.SGD.zero_grad


def test_a_step_records_no_graph_and_keeps_the_dtype():
    w = ndl.nn.Parameter(ndl.Tensor(np.ones(3), device="numpy", dtype="float32"))
    (w * w).sum().backward()
    optim.SGD([w], lr=0.5, momentum=0.5).step()
    assert w.op is None and not w.inputs and w.dtype == "float32"
    np.testing.assert_allclose(w.numpy(), 1 - 0.5 * 0.5 * 2)


def test_state_dict_continues_training_exactly():
    grads = gradients()
    params = [ndl.nn.Parameter(ndl.Tensor(a, device="numpy", dtype="float64")) for a in initial()]
    optimizer = optim.Adam(params, lr=0.01)
    for t, step in enumerate(grads):
        if t == 3:  # a checkpoint, then a new optimizer over copies of the parameters
            saved = optimizer.state_dict()
            params = [ndl.nn.Parameter(ndl.Tensor(p.numpy(), device="numpy", dtype="float64")) for p in params]
            optimizer = optim.Adam(params, lr=123.0)
            optimizer.load_state_dict(saved)
            assert optimizer.lr == 0.01 and optimizer.steps == 3
        for p, g in zip(params, step):
            p.grad = ndl.Tensor(g, device="numpy", dtype="float64", requires_grad=False)
        optimizer.step()
    assert_same([p.numpy() for p in params], run_ours(BY_HAND["adam"][0]))
    saved = optimizer.state_dict()
    saved["state"][0]["m"] = np.zeros((2, 2))
    with pytest.raises(ValueError, match=r"buffer 'm' of parameter 0 has shape \(2, 2\)"):
        optimizer.load_state_dict(saved)


def test_bad_settings_and_parameters_are_refused_with_the_optimizer_named():
    p = [ndl.nn.Parameter(ndl.Tensor(np.ones(2), device="numpy"))]
    cases = [(lambda: optim.SGD(p, lr=-1), ValueError, r"SGD: lr must be a number in \[0.0, inf\]"),
             (lambda: optim.SGD(p, momentum=1.0), ValueError, r"SGD: momentum must be a number in \[0.0, 1.0\)"),
             (lambda: optim.SGD(p, nesterov=True), ValueError, "nesterov=True needs a momentum"),
             (lambda: optim.Adam(p, beta2="0.9"), ValueError, "Adam: beta2 must be a number"),
             (lambda: optim.RMSProp([]), ValueError, "RMSProp: got an empty list of parameters"),
             (lambda: optim.Adagrad([np.ones(2)]), TypeError, "Adagrad: parameter 0 is a ndarray"),
             (lambda: optim.AdamW(p + p), ValueError, "AdamW: a parameter appears twice")]
    for make, error, message in cases:
        with pytest.raises(error, match=message):
            make()


def test_an_update_of_the_wrong_shape_is_named():
    class Broken(optim.Optimizer):
        def update(self, param, grad, state):
            return param.sum()

    w = ndl.nn.Parameter(ndl.Tensor(np.ones((2, 3)), device="numpy"))
    w.grad = ndl.Tensor(np.ones((2, 3)), device="numpy", requires_grad=False)
    with pytest.raises(ValueError, match=r"Broken.update returned \(\) for parameter 0 of shape \(2, 3\)"):
        Broken([w], lr=0.1).step()


# ------------------------------------------------------------------ clipping and schedules

def test_clip_grad_norm_matches_torch_and_leaves_small_gradients_alone():
    grads = gradients()[0]
    params = [ndl.nn.Parameter(ndl.Tensor(a, device="numpy", dtype="float64")) for a in initial()]
    for p, g in zip(params, grads):
        p.grad = ndl.Tensor(g, device="numpy", dtype="float64", requires_grad=False)
    norm = optim.clip_grad_norm(params, max_norm=1.0)
    assert math.isclose(norm, math.sqrt(sum((g ** 2).sum() for g in grads)))
    total = math.sqrt(sum((p.grad.numpy() ** 2).sum() for p in params))
    assert math.isclose(total, 1.0, rel_tol=1e-5)
    torch = pytest.importorskip("torch", reason="torch is the reference for the clipping factor")
    theirs = [torch.tensor(a, requires_grad=True) for a in initial()]
    for p, g in zip(theirs, grads):
        p.grad = torch.tensor(g)
    assert math.isclose(float(torch.nn.utils.clip_grad_norm_(theirs, 1.0)), norm)
    assert_same([p.grad.numpy() for p in params], [p.grad.numpy() for p in theirs])
    assert optim.clip_grad_norm(params, max_norm=10.0) == pytest.approx(1.0, rel=1e-5)
    assert_same([p.grad.numpy() for p in params], [p.grad.numpy() for p in theirs])
    with pytest.raises(ValueError, match="max_norm must be > 0"):
        optim.clip_grad_norm(params, 0)


SCHEDULES = {
    "step": (lambda o: optim.StepLR(o, step_size=3, gamma=0.5),
             lambda s, o: s.StepLR(o, step_size=3, gamma=0.5)),
    "cosine": (lambda o: optim.CosineAnnealingLR(o, T_max=7, eta_min=0.01),
               lambda s, o: s.CosineAnnealingLR(o, T_max=7, eta_min=0.01)),
    "warmup": (lambda o: optim.LinearLR(o, start_factor=0.1, total_iters=4),
               lambda s, o: s.LinearLR(o, start_factor=0.1, total_iters=4)),
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedules_match_torch(name):
    torch = pytest.importorskip("torch", reason="torch is the reference for the schedules")
    ours_make, theirs_make = SCHEDULES[name]
    ours = ours_make(optim.SGD([ndl.nn.Parameter(ndl.Tensor(np.ones(1), device="numpy"))], lr=0.3))
    theirs_optimizer = torch.optim.SGD([torch.ones(1, requires_grad=True)], lr=0.3)
    theirs = theirs_make(torch.optim.lr_scheduler, theirs_optimizer)
    for t in range(10):
        if name == "cosine" and t > 7:  # torch's cosine climbs again after T_max; ours stays at eta_min
            assert ours.get_last_lr() == pytest.approx(0.01, rel=1e-12)
        else:
            assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr()[0], rel=1e-12)
        theirs_optimizer.step()
        ours.step()
        theirs.step()
    again = ours_make(optim.SGD([ndl.nn.Parameter(ndl.Tensor(np.ones(1), device="numpy"))], lr=0.3))
    again.load_state_dict(ours.state_dict())
    assert again.get_last_lr() == ours.get_last_lr()


def test_an_optimizer_trains_a_network_on_a_problem_it_can_solve():
    """Adam fits y = x W_true through a Linear layer: the loss falls by far."""
    ndl.init.manual_seed(0)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 5))
    Y = X @ rng.standard_normal((5, 2))
    model = ndl.nn.Linear(5, 2, device="numpy", dtype="float64")
    optimizer = optim.Adam(model.parameters(), lr=0.05)
    x, y = (ndl.Tensor(a, device="numpy", dtype="float64", requires_grad=False) for a in (X, Y))
    losses = []
    for _ in range(200):
        loss = ((model(x) - y) ** 2).sum() / 64
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 1e-3 * losses[0]
