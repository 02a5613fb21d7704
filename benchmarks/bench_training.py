"""One training epoch of a 784-100-10 MLP, needle_edu on each device beside torch and numpy.

The DESIGN §8 target: needle_edu's epoch (forward, backward, SGD update) within 2x torch's
CPU time. Data is Fashion-MNIST when installed, else random images of the same shape.
Each epoch is timed in a fresh Python process, after one warm-up epoch there: thread pools of two
libraries in one process slow each other down (needle_edu's epoch measured 0.53 s alone and
0.81 s after numpy's multithreaded BLAS had run in the same process). The contenders take turns,
round after round, so that a slow spell of a shared machine slows them all alike.
Usage: ``python benchmarks/bench_training.py [--batches N]``.
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import needle_edu as ndl  # noqa: E402
from needle_edu import nn, optim  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

BATCH, HIDDEN, LR = 100, 100, 0.1


def images(batches):
    try:
        from needle_edu.data import load_fashion_mnist
        X, y = load_fashion_mnist("train")
    except FileNotFoundError:
        rng = np.random.default_rng(0)
        X, y = rng.random((60000, 784), dtype=np.float32), rng.integers(0, 10, 60000)
    n = batches * BATCH
    return X[:n].astype(np.float32), y[:n].astype(np.int64)


def needle_epoch(device, X, y):
    """Seconds for one epoch with needle_edu's nn and optim.SGD on ``device``."""
    model = nn.Sequential(nn.Linear(784, HIDDEN, device=device), nn.ReLU(), nn.Linear(HIDDEN, 10, device=device))
    loss_fn = nn.SoftmaxLoss()
    batches = [(ndl.Tensor(X[i:i + BATCH], device=device, requires_grad=False),
                ndl.Tensor(y[i:i + BATCH].astype(np.float32), device=device, requires_grad=False))
               for i in range(0, len(X), BATCH)]
    optimizer = optim.SGD(model.parameters(), lr=LR)
    start = time.perf_counter()
    for xb, yb in batches:
        loss = loss_fn(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
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


def in_fresh_process(contender, batches):
    """``epoch_seconds`` of ``contender``, in a new Python process."""
    command = [sys.executable, __file__, "--contender", contender, "--batches", str(batches)]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"the {contender} epoch failed:\n{run.stderr}")
    return float(run.stdout.split()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=600, help="batches of 100 per epoch (600 = all of it)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; the median is reported")
    parser.add_argument("--devices", nargs="+", default=["cpu", "numba", "numpy"])
    parser.add_argument("--json", default=str(pathlib.Path(__file__).parent / "results" / "training.json"))
    parser.add_argument("--contender", help=argparse.SUPPRESS)  # the child process: time this one only
    args = parser.parse_args()
    if args.contender:
        print(epoch_seconds(args.contender, args.batches))
        return
    print(f"MLP 784-{HIDDEN}-10 epoch, {args.batches * BATCH} images in batches of {BATCH} "
          f"(median of {args.repeats} rounds, each epoch in a fresh process)\n")
    contenders = ["hand-written numpy"] + (["torch"] if torch is not None else [])
    contenders += [f"needle_edu {name}" for name in args.devices if ndl.device(name).enabled()]
    rounds = [{c: in_fresh_process(c, args.batches) for c in contenders} for _ in range(args.repeats)]
    results = {c: statistics.median(r[c] for r in rounds) for c in contenders}
    reference, cpu = results.get("torch"), results.get("needle_edu cpu")
    for name, seconds in results.items():
        ratio = "" if reference is None else f"{seconds / reference:6.2f}x torch"
        if name == "needle_edu cpu" and reference:
            ratio += "  (target <= 2.0)"
        if name == "needle_edu numba" and cpu:
            ratio += f"  {seconds / cpu:.2f}x cpu (target <= 1.5)"
        print(f"  {name:<22} {seconds:7.3f} s  {ratio}")
    if reference is None:
        print("\n  torch is not installed: `make setup` installs its CPU build where a package index has it")
    path = pathlib.Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"batches": args.batches, "seconds": results}, indent=2))


if __name__ == "__main__":
    main()
