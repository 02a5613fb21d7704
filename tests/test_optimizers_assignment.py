"""Assignment a04 (optimizers and initialization): its figures, its student build and its notebook."""
import io
import math
from pathlib import Path

import numpy as np
import pytest
from assignment_checks import check_nbgrader_source, check_student_build, read_source, run_source

from needle_edu import course, init, optim
from needle_edu.viz import (OPTIMIZERS, SURFACES, WeightTracker, animate_optimizer_paths,
                            compare_optimizers, layer_norms, lr_sensitivity, optimizer_path,
                            plot_layer_norms, plot_lr_sensitivity, plot_optimizer_paths,
                            plot_weight_changes)

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "a04_optimizers_and_initialization" / "a04_optimizers_and_initialization.md"
PIECES = ["Adam.update", "RMSProp.update", "SGD.update", "kaiming_normal", "kaiming_uniform",
          "xavier_normal", "xavier_uniform"]


# ------------------------------------------------------------------ optimizer paths

def test_every_surface_has_its_minimum_where_it_says():
    for key, surface in SURFACES.items():
        for x, y in surface.minima:
            around = [surface(x + dx, y + dy) for dx, dy in [(1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3)]]
            assert min(around) > surface(x, y), key


def test_optimizer_paths_reach_the_minimum_of_the_quadratic_and_stop_when_they_diverge():
    paths = compare_optimizers("quadratic")
    assert list(paths) == list(OPTIMIZERS)
    for name, points in paths.items():
        assert points.shape == (61, 2) and tuple(points[0]) == SURFACES["quadratic"].start
        assert SURFACES["quadratic"](*points[-1]) < 0.05, name
    diverging = optimizer_path(SURFACES["quadratic"], lambda p: optim.SGD(p, lr=0.5), steps=200)
    assert len(diverging) < 201 and np.all(np.isfinite(diverging))


def test_adaptive_methods_escape_the_saddle_faster_than_gradient_descent():
    paths = compare_optimizers("saddle")
    escaped = {name: abs(points[-1, 1]) for name, points in paths.items()}
    assert escaped["Adam"] > 0.9 and escaped["RMSProp"] > 0.9 and escaped["GD"] < 0.1


def test_plot_optimizer_paths_draws_one_line_per_optimizer():
    paths = compare_optimizers("rosenbrock", {k: OPTIMIZERS[k] for k in ("GD", "Adam")})
    fig = plot_optimizer_paths(SURFACES["rosenbrock"], paths)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["GD", "Adam"]
    drawn = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(drawn["Adam"].get_xydata(), paths["Adam"])
    fig.savefig(io.BytesIO(), format="png")


def test_the_animation_is_self_contained_html_with_one_frame_each():
    paths = compare_optimizers("quadratic", {"GD": OPTIMIZERS["GD"]})
    html = animate_optimizer_paths(SURFACES["quadratic"], paths, frames=5)
    assert html.count("data:image/png;base64") == 5
    assert "http://" not in html and "https://" not in html


def test_lr_sensitivity_marks_divergence_and_plots_one_curve_per_optimizer():
    rates = [0.01, 0.05, 0.5]
    found = lr_sensitivity(SURFACES["quadratic"], {k: OPTIMIZERS[k] for k in ("GD", "Adam")}, rates, steps=60)
    assert math.isinf(found["GD"][2]) and all(math.isfinite(v) for v in found["Adam"])
    assert found["GD"][1] < found["GD"][0]  # a larger stable rate gets further in 60 steps
    fig = plot_lr_sensitivity(rates, found)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["GD", "Adam"]
    fig.savefig(io.BytesIO(), format="png")


# ------------------------------------------------------------------ norms

def test_layer_norms_keep_the_signal_with_kaiming_and_lose_it_with_variance_1_over_n():
    kaiming = layer_norms(init.kaiming_normal, depth=30, width=80)
    small = layer_norms(lambda i, o: init.normal(i, o, std=math.sqrt(1 / i)), depth=30, width=80)
    assert len(kaiming["activation"]) == len(kaiming["gradient"]) == 30
    assert 0.1 < kaiming["activation"][-1] / kaiming["activation"][0] < 10
    # each layer halves the squared norm: 2^-29 in norm over 29 layers is about 2e-5
    assert small["activation"][-1] / small["activation"][0] < 1e-3
    assert small["gradient"][0] < 1e-3 * kaiming["gradient"][0]
    fig = plot_layer_norms({"Kaiming": kaiming, "1/n": small})
    assert [len(ax.get_lines()) for ax in fig.axes] == [2, 2]
    assert fig.axes[0].get_yscale() == "log"


def test_layer_norms_match_a_numpy_forward_pass():
    found = layer_norms(init.kaiming_normal, depth=3, width=5, batch=4, seed=3)
    init.manual_seed(3)
    rng = np.random.default_rng(3)
    weights = [init.kaiming_normal(5, 5).numpy().astype(np.float64) for _ in range(3)]
    x = rng.standard_normal((4, 5))
    for w, norm in zip(weights, found["activation"]):
        x = np.maximum(x @ w, 0)
        np.testing.assert_allclose(norm, np.sqrt((x ** 2).sum() / 4), rtol=1e-5)


def test_weight_tracker_records_relative_changes():
    w = init.ones(2, 2, device="numpy", dtype="float64")
    tracker = WeightTracker({"w": w})
    w.data = w.data * 3.0
    tracker.record()
    assert tracker.history["w"] == [0.0, pytest.approx(2.0)]
    fig = plot_weight_changes(tracker.history, every=10)
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_xdata(), [0, 10])


# ------------------------------------------------------------------ the student build

def test_a04_pieces_are_the_intended_ones():
    assert course.pieces("a04") == PIECES


def test_installing_a_function_also_replaces_its_re_exports():
    """``init.kaiming_uniform`` (the package's name) and nn.Linear use what the notebook installs."""
    from needle_edu import nn
    from needle_edu.init import init_initializers

    original = init_initializers.kaiming_uniform
    calls = []

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    try:
        course.install("a04", kaiming_uniform=counted)
        assert init.kaiming_uniform is counted and init_initializers.kaiming_uniform is counted
        nn.Linear(3, 2)
        assert calls == [(3, 2), (2, 1)]
    finally:
        course.install("a04", kaiming_uniform=original)
    assert init.kaiming_uniform is original


def test_the_student_build_stubs_the_a04_pieces_and_keeps_the_rest(tmp_path):
    setup = """
        from needle_edu import init, nn, optim, Tensor
        w = nn.Parameter(Tensor(np.ones(2), device="numpy"))
        w.grad = Tensor(np.ones(2), device="numpy", requires_grad=False)
    """
    rest = """
        optim.Adagrad([w], lr=0.5).step()  # not a piece of a04: the reference works
        np.testing.assert_allclose(w.numpy(), 0.5)
    """
    check_student_build(NOTEBOOK, PIECES, tmp_path, REPO, setup,
                        ["optim.SGD([w]).step()", "optim.Adam([w]).step()", "optim.RMSProp([w]).step()",
                         "init.xavier_uniform(2, 3)", "init.kaiming_normal(2, 3)", "nn.Linear(2, 3)"], rest)


# ------------------------------------------------------------------ the notebook

def test_the_notebook_is_a_valid_nbgrader_source():
    check_nbgrader_source(read_source(NOTEBOOK),
                          ["adaptive_update", "answer_initialization", "answer_learning_rate",
                           "initializers", "sgd_update"], hidden_cells=3, total=50)


@pytest.mark.slow
def test_the_source_notebook_runs_and_every_optimizer_learns(tmp_path):
    printed, images = run_source(read_source(NOTEBOOK), tmp_path, timeout=300)
    accuracies = {name: float(value) / 100 for name, value in
                  __import__("re").findall(r"(\w+): test accuracy ([\d.]+)%", printed)}
    assert set(accuracies) == {"SGD", "momentum", "Nesterov", "RMSProp", "Adam", "AdamW"}, printed
    assert max(accuracies.values()) >= 0.83 and min(accuracies.values()) >= 0.78, accuracies
    assert images >= 7, images  # paths (2), sensitivity, norms, loss curves, weight changes (2)
