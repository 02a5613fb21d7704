"""A Transformer training step, needle_edu on each device beside torch CPU (DESIGN §8: <= 3x torch).

The step: 4 pre-norm layers (d_model 256, 4 heads, feed-forward 1024, ReLU, no dropout) with a
causal mask over a sequence of 128, batch 16; the mean squared output as the loss, backward and
an SGD update. needle_edu runs nn.Transformer's layers; torch runs nn.TransformerEncoderLayer
(batch_first, norm_first) with the same sizes and mask.

Each contender runs in a fresh Python process that loads only its own library (torch beside
needle_edu slows the cpu device's kernels, see bench_training.py), after a warm-up step; the
contenders take turns, round after round. Besides the wall time, each reports the CPU time of
its process (user + system), which a busy machine inflates less.
Usage: ``python benchmarks/bench_transformer.py [--steps N] [--repeats R] [--devices cpu numba]``.
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import time

import numpy as np

LAYERS, D_MODEL, HEADS, FEEDFORWARD, SEQ, BATCH, LR = 4, 256, 4, 1024, 128, 16, 0.01
CHILD = sys.argv[sys.argv.index("--contender") + 1] if "--contender" in sys.argv[:-1] else None
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))


def data():
    return np.random.default_rng(0).standard_normal((BATCH, SEQ, D_MODEL), dtype=np.float32)


def needle_step(device_name):
    """``step()``: one training step of needle_edu's layers on ``device_name``."""
    import needle_edu as ndl
    from needle_edu import nn, optim

    device = ndl.device(device_name)
    layers = [nn.TransformerLayer(D_MODEL, HEADS, FEEDFORWARD, device=device) for _ in range(LAYERS)]
    optimizer = optim.SGD([p for layer in layers for p in layer.parameters()], lr=LR)
    X = ndl.Tensor(data(), device=device, requires_grad=False)

    def step():
        x = X
        for layer in layers:
            x = layer(x, is_causal=True)
        loss = (x * x).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def torch_step():
    import torch

    layers = torch.nn.Sequential(*[torch.nn.TransformerEncoderLayer(
        D_MODEL, HEADS, FEEDFORWARD, dropout=0.0, batch_first=True, norm_first=True) for _ in range(LAYERS)])
    optimizer = torch.optim.SGD(layers.parameters(), lr=LR)
    X = torch.from_numpy(data())
    mask = torch.nn.Transformer.generate_square_subsequent_mask(SEQ)

    def step():
        x = X
        for layer in layers:
            x = layer(x, src_mask=mask, is_causal=True)
        loss = (x * x).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def step_seconds(contender, steps):
    """(median wall seconds, median CPU seconds) of a step after a warm-up step."""
    step = torch_step() if contender == "torch" else needle_step(contender.removeprefix("needle_edu "))
    step()
    walls, cpus = [], []
    for _ in range(steps):
        wall, cpu = time.perf_counter(), time.process_time()
        step()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def in_fresh_process(contender, steps):
    command = [sys.executable, __file__, "--contender", contender, "--steps", str(steps)]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"the {contender} run failed:\n{run.stderr}")
    wall, cpu = run.stdout.split()[-2:]
    return float(wall), float(cpu)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed steps per process (median)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; the median is reported")
    parser.add_argument("--devices", nargs="+", default=["cpu", "numba"])
    parser.add_argument("--json", default=str(pathlib.Path(__file__).parent / "results" / "transformer.json"))
    parser.add_argument("--contender", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:
        print(*step_seconds(args.contender, args.steps))
        return
    import needle_edu as ndl

    contenders = [f"needle_edu {name}" for name in args.devices if ndl.device(name).enabled()]
    try:
        import torch  # noqa: F401  (only asked whether it is there; it runs in its own process)
        contenders.insert(0, "torch")
    except ImportError:
        print("torch is not installed: `make setup` installs its CPU build where a package index has it")
    print(f"Transformer training step: {LAYERS} pre-norm layers, d_model {D_MODEL}, {HEADS} heads, feed-forward "
          f"{FEEDFORWARD}, causal mask, sequence {SEQ}, batch {BATCH}; mean squared output, SGD\n"
          f"(torch: nn.TransformerEncoderLayer. Median of {args.steps} steps in a fresh process, "
          f"median of {args.repeats} rounds)")
    rounds = [{c: in_fresh_process(c, args.steps) for c in contenders} for _ in range(args.repeats)]
    results = {c: [statistics.median(r[c][i] for r in rounds) for i in (0, 1)] for c in contenders}
    reference = results.get("torch")
    for name, (wall, cpu) in results.items():
        line = f"  {name:<18} {wall:7.3f} s wall {cpu:7.3f} s CPU"
        if reference and name != "torch":
            line += f"   {wall / reference[0]:5.2f}x torch (CPU time {cpu / reference[1]:.2f}x)"
            if name == "needle_edu cpu":
                line += "  (target <= 3)"
        print(line, flush=True)
    path = pathlib.Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"step_seconds": results}, indent=2))


if __name__ == "__main__":
    main()
