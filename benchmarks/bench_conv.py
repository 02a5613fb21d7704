"""Convolution forward + backward on the layer shapes of needle's ResNet9 (batch 32, 32 x 32
CIFAR-sized input), needle_edu's ``ops.conv`` beside torch's ``conv2d`` on the CPU.

torch runs twice: with its default NCHW layout and with ``channels_last`` (NHWC, as needle_edu
stores images). Printed: milliseconds per forward+backward and the ratio needle_edu / torch for
each layer shape; DESIGN §8's target is <= 2x torch on the ``cpu`` device. The ``numba`` device
runs the same convolutions, printed as its ratio to ``cpu``. The first layer's input is a batch
of images, which needs no gradient (so neither library computes one).

Both libraries run on ``--threads`` threads (1 by default) and each step is timed in CPU time
of the process: on a shared, busy machine wall-clock times of small kernels swing by 10x and
more (a thread waits for a core), and torch's own thread pool spins while it waits (its layer-1
step measured 310 ms with two threads on busy cores, 0.9 ms with one). With one thread, CPU time
is the work itself. Each contender runs in a fresh Python process of its own: with torch loaded in the same
process (its own OpenMP runtime beside needle_edu's), needle_edu's cpu kernels measured 20x
slower. Each time is the median over rounds. Usage: ``python benchmarks/bench_conv.py
[--batch 32] [--rounds 7] [--threads 1] [--devices cpu numba]``.
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import time

import numpy as np

# (input side, c_in, c_out, kernel, stride): ResNet9's convolutions on a 32 x 32 image.
RESNET9_LAYERS = [(32, 3, 16, 7, 4), (8, 16, 32, 3, 2), (4, 32, 32, 3, 1), (4, 32, 64, 3, 2),
                  (2, 64, 128, 3, 2), (1, 128, 128, 3, 1)]
TORCH = ("torch", "torch_cl")


def layer_arrays(batch, side, c_in, c_out, k, seed):
    """The input (N, C_in, H, W) and torch-layout weights (C_out, C_in, K, K) of one layer."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, c_in, side, side)).astype("float32")
    w = (rng.standard_normal((c_out, c_in, k, k)) / np.sqrt(k * k * c_in)).astype("float32")
    return x, w


def needle_step(device, x, w, stride, input_grad):
    """``step()``: one forward and backward of ops.conv on ``device`` (NHWC, (K, K, C_in, C_out))."""
    import needle_edu as ndl
    from needle_edu import ops

    k = w.shape[2]
    X = ndl.Tensor(x.transpose(0, 2, 3, 1), device=device, requires_grad=input_grad)
    W = ndl.Tensor(w.transpose(2, 3, 1, 0), device=device)
    g = ndl.Tensor(np.ones(ops.conv(X, W, stride=stride, padding=k // 2).shape, "float32"), device=device,
                   requires_grad=False)

    def step():
        W.grad = X.grad = None
        ops.conv(X, W, stride=stride, padding=k // 2).backward(g)

    return step


def torch_step(x, w, stride, input_grad, channels_last):
    import torch

    memory = torch.channels_last if channels_last else torch.contiguous_format
    X = torch.tensor(x).to(memory_format=memory).requires_grad_(input_grad)
    W = torch.tensor(w).to(memory_format=memory).requires_grad_(True)
    k = w.shape[2]

    def step():
        W.grad = X.grad = None
        y = torch.nn.functional.conv2d(X, W, stride=stride, padding=k // 2)
        y.backward(torch.ones_like(y))

    return step


def worker(contender, batch, rounds, threads):
    """Time ``contender`` on every layer in this process: a list of CPU milliseconds per step."""
    if contender in TORCH:
        import torch
        torch.set_num_threads(threads)
    else:
        sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
        import needle_edu
        needle_edu.threads.set_num_threads(threads)
    found = []
    for index, (side, c_in, c_out, k, stride) in enumerate(RESNET9_LAYERS):
        x, w = layer_arrays(batch, side, c_in, c_out, k, index)
        if contender in TORCH:
            step = torch_step(x, w, stride, index > 0, contender == "torch_cl")
        else:
            step = needle_step(contender, x, w, stride, index > 0)
        step()  # warm-up: numba compiles, caches fill
        start = time.process_time()
        step()
        repeats = max(1, int(0.05 / max(time.process_time() - start, 1e-5)))
        times = []
        for _ in range(rounds):
            start = time.process_time()
            for _ in range(repeats):
                step()
            times.append((time.process_time() - start) / repeats)
        found.append(1000 * statistics.median(times))
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--devices", nargs="+", default=["cpu", "numba"])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.batch, args.rounds, args.threads)))
        return
    contenders = list(args.devices)
    try:
        import importlib.util
        if importlib.util.find_spec("torch"):
            contenders += list(TORCH)
    except ImportError:
        pass
    ms = {}
    for name in contenders:
        done = subprocess.run([sys.executable, __file__, "--worker", name, "--batch", str(args.batch),
                               "--rounds", str(args.rounds), "--threads", str(args.threads)],
                              capture_output=True, text=True, check=True)
        ms[name] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"conv forward+backward, batch {args.batch}, {args.threads} thread(s), CPU ms per step "
          f"(median of {args.rounds} rounds); target: cpu / torch <= 2")
    columns = contenders + (["cpu/torch", "cpu/t_cl"] if "torch" in ms and "cpu" in ms else []) \
        + (["numba/cpu"] if "numba" in ms and "cpu" in ms else [])
    print(f"{'layer (side, c_in->c_out, k, stride)':>38} " + " ".join(f"{c:>9}" for c in columns))
    for index, (side, c_in, c_out, k, stride) in enumerate(RESNET9_LAYERS):
        row = {name: ms[name][index] for name in contenders}
        if "cpu/torch" in columns:
            row["cpu/torch"], row["cpu/t_cl"] = row["cpu"] / row["torch"], row["cpu"] / row["torch_cl"]
        if "numba/cpu" in columns:
            row["numba/cpu"] = row["numba"] / row["cpu"]
        label = f"{side}x{side}, {c_in}->{c_out}, k{k}, s{stride}"
        print(f"{label:>38} " + " ".join(f"{row[c]:9.2f}" for c in columns), flush=True)


if __name__ == "__main__":
    main()
