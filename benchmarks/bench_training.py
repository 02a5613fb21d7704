"""Training steps, needle_edu on each device beside torch: an MLP epoch and an LSTM step.

The MLP: one epoch of a 784-100-10 MLP (forward, backward, SGD update) against torch and a
hand-written numpy epoch; target <= 1.5x torch's CPU time (issue 22; DESIGN §8 says 2x). Data
is Fashion-MNIST when installed, else random images of the same shape. The LSTM: one training
step of a 2-layer LSTM (hidden 256, sequence 64, batch 32), needle_edu's nn.LSTM against torch's
nn.LSTM; target <= 3x.

Each contender is timed in a fresh Python process, after a warm-up there: thread pools of two
libraries in one process slow each other down (needle_edu's epoch measured 0.53 s alone and
0.81 s after numpy's multithreaded BLAS had run in the same process). The contenders take turns,
round after round, so that a slow spell of a shared machine slows them all alike.
``--busy`` then times everything again with one spinning process per core (as bench_ndarray's).
Usage: ``python benchmarks/bench_training.py [--batches N] [--workloads mlp lstm] [--busy]``.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

# A contender's process loads only its own library: torch loaded beside needle_edu slows the
# cpu device's kernels (two OpenMP runtimes in one process), and needle_edu's thread policy
# (one BLAS thread, passive OpenMP waits) would apply to torch and numpy too.
CHILD = sys.argv[sys.argv.index("--contender") + 1] if "--contender" in sys.argv[:-1] else None
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
if CHILD is None or CHILD.startswith("needle_edu"):
    import needle_edu as ndl  # noqa: E402
    from needle_edu import nn, ops, optim  # noqa: E402

torch = None
if CHILD is None or CHILD == "torch":
    try:
        import torch
    except ImportError:
        pass

BATCH, HIDDEN, LR = 100, 100, 0.1
SAVED_IMAGES = {}  # the environment that points a contender's process at the parent's copy of the images
BUSY_SECONDS = 1800  # the competing load stops with --busy's runs, and after this at the latest


def images(batches):
    """``batches * BATCH`` training images and labels: Fashion-MNIST, or random ones without it.

    A contender's process reads the copy its parent saved (``NEEDLE_EDU_BENCH_IMAGES``), so that
    torch's and numpy's processes never load needle_edu."""
    if saved := os.environ.get("NEEDLE_EDU_BENCH_IMAGES"):
        with np.load(saved) as data:
            return data["X"][:batches * BATCH], data["y"][:batches * BATCH]
    try:
        from needle_edu.data import load_fashion_mnist
        X, y = load_fashion_mnist("train")
    except FileNotFoundError:
        rng = np.random.default_rng(0)
        X, y = rng.random((60000, 784), dtype=np.float32), rng.integers(0, 10, 60000)
    n = batches * BATCH
    return X[:n].astype(np.float32), y[:n].astype(np.int64)


def mlp_training_step(device):
    """``step(xb, yb)``: one forward, backward and SGD update of a new 784-HIDDEN-10 MLP on ``device``."""
    model = nn.Sequential(nn.Linear(784, HIDDEN, device=device), nn.ReLU(), nn.Linear(HIDDEN, 10, device=device))
    loss_fn = nn.SoftmaxLoss()
    optimizer = optim.SGD(model.parameters(), lr=LR)

    def step(xb, yb):
        loss = loss_fn(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def needle_batches(device, X, y):
    return [(ndl.Tensor(X[i:i + BATCH], device=device, requires_grad=False),
             ndl.Tensor(y[i:i + BATCH].astype(np.float32), device=device, requires_grad=False))
            for i in range(0, len(X), BATCH)]


def needle_epoch(device, X, y):
    """Seconds for one epoch with needle_edu's nn and optim.SGD on ``device``."""
    step, batches = mlp_training_step(device), needle_batches(device, X, y)
    start = time.perf_counter()
    for xb, yb in batches:
        step(xb, yb)
    return time.perf_counter() - start


def torch_epoch(X, y):
    model = torch.nn.Sequential(torch.nn.Linear(784, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    batches = [(torch.from_numpy(X[i:i + BATCH]), torch.from_numpy(y[i:i + BATCH])) for i in range(0, len(X), BATCH)]
    start = time.perf_counter()
    for xb, yb in batches:
        optimizer.zero_grad()
        loss_fn(model(xb), yb).backward()
        optimizer.step()
    return time.perf_counter() - start


def numpy_epoch(X, y):
    """The same epoch written by hand in numpy: the floor a library's overhead is measured against."""
    rng = np.random.default_rng(0)
    W1 = rng.standard_normal((784, HIDDEN), dtype=np.float32) * np.sqrt(2 / 784)
    W2 = rng.standard_normal((HIDDEN, 10), dtype=np.float32) * np.sqrt(2 / HIDDEN)
    start = time.perf_counter()
    for i in range(0, len(X), BATCH):
        xb, yb = X[i:i + BATCH], y[i:i + BATCH]
        hidden = np.maximum(xb @ W1, 0)
        logits = hidden @ W2
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        probabilities[np.arange(len(yb)), yb] -= 1
        g2 = probabilities / len(yb)
        g1 = (g2 @ W2.T) * (hidden > 0)
        W2 -= LR * hidden.T @ g2
        W1 -= LR * xb.T @ g1
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------
# An LSTM training step: a07's nn.LSTM against torch's nn.LSTM.

LSTM_LAYERS, LSTM_HIDDEN, LSTM_INPUT, LSTM_SEQ, LSTM_BATCH = 2, 256, 256, 64, 32


def lstm_training_step(device):
    """``step(X)``: forward over the sequence X (seq, batch, inputs), the mean squared output as
    the loss, backward and an SGD update of a stacked nn.LSTM."""
    lstm = nn.LSTM(LSTM_INPUT, LSTM_HIDDEN, num_layers=LSTM_LAYERS, device=device)
    optimizer = optim.SGD(lstm.parameters(), lr=LR)

    def step(X):
        out, _ = lstm(X)
        loss = ops.mean(out * out)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def lstm_data():
    return np.random.default_rng(0).standard_normal((LSTM_SEQ, LSTM_BATCH, LSTM_INPUT), dtype=np.float32)


def torch_lstm_step():
    lstm = torch.nn.LSTM(LSTM_INPUT, LSTM_HIDDEN, num_layers=LSTM_LAYERS)
    optimizer = torch.optim.SGD(lstm.parameters(), lr=LR)
    X = torch.from_numpy(lstm_data())

    def step():
        out, _ = lstm(X)
        loss = (out * out).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def needle_lstm_step(device):
    step, X = lstm_training_step(device), ndl.Tensor(lstm_data(), device=device, requires_grad=False)
    return lambda: step(X)


# ---------------------------------------------------------------------------------------
# Timing: each contender in a fresh process, taking turns round after round.


def epoch_seconds(contender, batches):
    """Seconds of one epoch after a warm-up epoch (numba compiles, pages fault in):
    ``contender`` is "hand-written numpy", "torch" or "needle_edu DEVICE"."""
    X, y = images(batches)
    if contender == "hand-written numpy":
        epoch = lambda: numpy_epoch(X, y)  # noqa: E731
    elif contender == "torch":
        epoch = lambda: torch_epoch(X, y)  # noqa: E731
    else:
        device = ndl.device(contender.removeprefix("needle_edu "))
        epoch = lambda: needle_epoch(device, X, y)  # noqa: E731
    epoch()
    return epoch()


def lstm_step_seconds(contender, steps):
    """Median seconds of an LSTM training step, after a warm-up step: ``contender`` is "torch"
    or "needle_edu DEVICE"."""
    if contender == "torch":
        step = torch_lstm_step()
    else:
        step = needle_lstm_step(ndl.device(contender.removeprefix("needle_edu ")))
    step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def in_fresh_process(workload, contender, size):
    """``epoch_seconds`` or ``lstm_step_seconds`` of ``contender``, in a new Python process."""
    command = [sys.executable, __file__, "--contender", contender, "--workload", workload, "--size", str(size)]
    run = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **SAVED_IMAGES})
    if run.returncode != 0:
        raise RuntimeError(f"the {contender} {workload} run failed:\n{run.stderr}")
    return float(run.stdout.split()[-1])


def compare(workload, contenders, size, repeats, target):
    """Median seconds of each contender over ``repeats`` rounds, printed with ratios to torch."""
    rounds = [{c: in_fresh_process(workload, c, size) for c in contenders} for _ in range(repeats)]
    results = {c: statistics.median(r[c] for r in rounds) for c in contenders}
    reference, cpu = results.get("torch"), results.get("needle_edu cpu")
    for name, seconds in results.items():
        ratio = "" if reference is None else f"{seconds / reference:6.2f}x torch"
        if name == "needle_edu cpu" and reference:
            ratio += f"  (target <= {target})"
        if name == "needle_edu numba" and cpu:
            ratio += f"  {seconds / cpu:.2f}x cpu (target <= 1.5)"
        print(f"  {name:<22} {seconds:7.3f} s  {ratio}", flush=True)
    return results


def run_workloads(args, with_torch, needle):
    """Time and print each workload of ``args``; their results by name."""
    report = {}
    if "mlp" in args.workloads:
        print(f"MLP 784-{HIDDEN}-10 epoch, {args.batches * BATCH} images in batches of {BATCH} "
              f"(median of {args.repeats} rounds, each epoch in a fresh process)")
        report["mlp_epoch_seconds"] = compare("mlp", ["hand-written numpy"] + with_torch + needle,
                                              args.batches, args.repeats, 1.5)
    if "lstm" in args.workloads:
        print(f"\nLSTM training step: {LSTM_LAYERS} layers, hidden {LSTM_HIDDEN}, inputs {LSTM_INPUT}, "
              f"sequence {LSTM_SEQ}, batch {LSTM_BATCH}; mean squared output as the loss, SGD\n"
              f"(nn.LSTM of each library. Median of "
              f"{args.lstm_steps} steps in a fresh process, median of {args.repeats} rounds)")
        report["lstm_step_seconds"] = compare("lstm", with_torch + needle, args.lstm_steps, args.repeats, 3.0)
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=600, help="batches of 100 per epoch (600 = all of it)")
    parser.add_argument("--lstm-steps", type=int, default=5, help="timed LSTM steps per process (median)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; the median is reported")
    parser.add_argument("--devices", nargs="+", default=["cpu", "numba", "numpy"])
    parser.add_argument("--workloads", nargs="+", default=["mlp", "lstm"], choices=["mlp", "lstm"])
    parser.add_argument("--busy", action="store_true",
                        help="then time everything again with a competing load on every core")
    parser.add_argument("--json", default=str(pathlib.Path(__file__).parent / "results" / "training.json"))
    # The child process: time this contender only.
    parser.add_argument("--contender", help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:
        seconds = (epoch_seconds(args.contender, args.size) if args.workload == "mlp"
                   else lstm_step_seconds(args.contender, args.size))
        print(seconds)
        return
    needle = [f"needle_edu {name}" for name in args.devices if ndl.device(name).enabled()]
    with_torch = ["torch"] if torch is not None else []
    with tempfile.TemporaryDirectory() as folder:
        X, y = images(args.batches)
        np.savez(pathlib.Path(folder) / "images.npz", X=X, y=y)
        SAVED_IMAGES["NEEDLE_EDU_BENCH_IMAGES"] = str(pathlib.Path(folder) / "images.npz")
        report = run_workloads(args, with_torch, needle)
        if args.busy:
            from bench_ndarray import competing_load  # the same load as the NDArray benchmark's --busy
            print(f"\nbusy machine: the same again with one spinning process per core ({os.cpu_count()})\n")
            with competing_load(BUSY_SECONDS):
                report["busy"] = run_workloads(args, with_torch, needle)
    if torch is None:
        print("\n  torch is not installed: `make setup` installs its CPU build where a package index has it")
    path = pathlib.Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"batches": args.batches, **report}, indent=2))


if __name__ == "__main__":
    main()
