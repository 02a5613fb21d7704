"""needle_edu.train: a small MLP learns a synthetic problem, the metrics add up, and nothing is
ever written to stderr (nbgrader fails a test cell that writes to stderr)."""
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest

from needle_edu import init, nn
from needle_edu.autograd import no_grad
from needle_edu.data import DataLoader, NDArrayDataset
from needle_edu.train import Metrics, evaluate, train_epoch


class PlainSGD:
    """The least an optimizer must do for train_epoch (needle_edu.optim comes with issue 6)."""

    def __init__(self, params, lr):
        self.params, self.lr = list(params), lr

    def reset_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        with no_grad():
            for p in self.params:
                p.data = p.data - self.lr * p.grad


def blobs(n=240, seed=0):
    """Three Gaussian clusters in the plane, one per class."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=n)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    points = centers[labels] + 0.6 * rng.standard_normal((n, 2))
    return NDArrayDataset(points.astype("float32"), labels)


def mlp():
    return nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.1),
                         nn.Linear(16, 3))


def test_an_mlp_learns_three_blobs():
    init.manual_seed(0)
    model, loss_fn = mlp(), nn.SoftmaxLoss()
    train = DataLoader(blobs(), batch_size=16, shuffle=True)
    test = DataLoader(blobs(seed=1), batch_size=50)
    optimizer = PlainSGD(model.parameters(), lr=0.1)
    before = evaluate(model, test, loss_fn)
    history = [train_epoch(model, train, loss_fn, optimizer) for _ in range(4)]
    after = evaluate(model, test, loss_fn)
    assert history[-1].loss < history[0].loss and after.loss < before.loss / 2
    assert history[-1].accuracy > history[0].accuracy and after.accuracy > max(0.9, before.accuracy)
    assert not model.training and not model[3].training  # evaluate leaves eval mode on
    for metrics in history + [after]:
        assert isinstance(metrics, Metrics) and metrics.samples == 240
        assert metrics.error == pytest.approx(1 - metrics.accuracy)
        assert metrics.seconds > 0 and metrics.samples_per_second > 0


def test_metrics_are_averages_over_samples():
    init.manual_seed(0)
    model, loss_fn = nn.Linear(2, 3), nn.SoftmaxLoss()
    data = blobs(n=25)
    metrics = evaluate(model, DataLoader(data, batch_size=10), loss_fn)  # batches of 10, 10, 5
    points, labels = data.arrays
    logits = points @ model.weight.numpy() + model.bias.numpy()
    shifted = logits - logits.max(axis=1, keepdims=True)
    losses = np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(25), labels]
    assert metrics.samples == 25
    assert metrics.loss == pytest.approx(losses.mean(), rel=1e-5)
    assert metrics.accuracy == pytest.approx(np.mean(logits.argmax(axis=1) == labels))


def test_without_an_optimizer_nothing_changes():
    init.manual_seed(0)
    model = mlp()
    weights = [p.numpy().copy() for p in model.parameters()]
    train_epoch(model, DataLoader(blobs(n=32), batch_size=8), nn.SoftmaxLoss())
    assert model.training
    for p, w in zip(model.parameters(), weights):
        np.testing.assert_array_equal(p.numpy(), w)


def test_an_empty_loader_is_an_error():
    loader = DataLoader(blobs(n=5), batch_size=8, drop_last=True)
    with pytest.raises(ValueError, match="the loader gave no batches"):
        evaluate(nn.Linear(2, 3), loader, nn.SoftmaxLoss())


def test_progress_bars_write_to_stdout_only_and_only_when_watched(capsys, monkeypatch):
    model, loader, loss_fn = nn.Linear(2, 3), DataLoader(blobs(n=20), batch_size=5), nn.SoftmaxLoss()
    evaluate(model, loader, loss_fn)
    assert capsys.readouterr() == ("", "")  # not a terminal, not Jupyter: no bar
    evaluate(model, loader, loss_fn, progress=True, desc="checking")
    out, err = capsys.readouterr()
    assert "checking" in out and err == ""
    monkeypatch.setitem(sys.modules, "ipykernel.zmqshell", types.ModuleType("ipykernel.zmqshell"))
    train_epoch(model, loader, loss_fn, PlainSGD(model.parameters(), 0.1))
    out, err = capsys.readouterr()
    assert "train" in out and err == ""  # in Jupyter the bar shows, on stdout


def test_a_training_run_under_a_pipe_writes_nothing_to_stderr():
    script = textwrap.dedent("""
        import sys
        sys.path.insert(0, sys.argv[1])
        from test_train import PlainSGD, blobs, mlp
        from needle_edu import nn
        from needle_edu.data import DataLoader
        from needle_edu.train import evaluate, train_epoch
        model, loader = mlp(), DataLoader(blobs(n=40), batch_size=8, shuffle=True)
        train_epoch(model, loader, nn.SoftmaxLoss(), PlainSGD(model.parameters(), 0.1))
        train_epoch(model, loader, nn.SoftmaxLoss(), PlainSGD(model.parameters(), 0.1), progress=True)
        print("accuracy", evaluate(model, loader, nn.SoftmaxLoss()).accuracy)
    """)
    done = subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == ""
    assert "train" in done.stdout and "accuracy" in done.stdout


def test_in_a_jupyter_kernel_the_bar_is_a_widget_and_stderr_stays_empty():
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("ipykernel")
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_train import PlainSGD, blobs, mlp
        from needle_edu import nn
        from needle_edu.data import DataLoader
        from needle_edu.train import evaluate, train_epoch
        model, loader = mlp(), DataLoader(blobs(n=40), batch_size=8, shuffle=True)
        train_epoch(model, loader, nn.SoftmaxLoss(), PlainSGD(model.parameters(), 0.1))
        print(evaluate(model, loader, nn.SoftmaxLoss()).samples)
    """)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(notebook, kernel_name="python3", timeout=120).execute()
    outputs = notebook.cells[0].outputs
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"], outputs
    assert [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert [o.text for o in outputs if o.output_type == "stream"] == ["40\n"]
