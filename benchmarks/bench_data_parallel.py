"""Data-parallel scaling on this machine: the same training run in 1 and 2 MPI processes.

Each run trains a 784-256-10 MLP with a fixed global batch (Fashion-MNIST when installed, else
random images of the same shape) through ``needle_edu.distributed.demo``, each rank with one
compute thread. It prints, per process count, the median time of a step's forward and backward
pass, of the wait for the slowest rank and of the gradient allreduce, and the speed-up of a whole step over one process: with P
ranks each computes 1/P of the batch, while the allreduce adds time that grows with the number
of parameters, not the batch. The same allreduce is also timed back to back, with no
computation between: the cost of the transport alone, against which the in-step allreduce
shows what waiting for the scheduler adds on busy cores. On a 2-core machine shared with other
work, 2 ranks cannot show the speed-up a machine with free cores would; the numbers say how
much each part costs.
Usage: ``python benchmarks/bench_data_parallel.py [--batch 512] [--steps 30] [--rounds 3]``.
"""
import argparse
import json
import pathlib
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from needle_edu.distributed import mpirun  # noqa: E402


def one_run(processes, args):
    data = ["--data", "fashion-mnist"] if args.fashion_mnist else ["--features", "784"]
    done = mpirun(processes, "-m", "needle_edu.distributed.demo", "--steps", str(args.steps),
                  "--batch", str(args.batch), "--hidden", "256", "--dtype", "float32",
                  "--lr", "0.01", *data, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"mpirun -n {processes} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=512, help="the global batch")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each process count, taking turns")
    parser.add_argument("--json", default=str(pathlib.Path(__file__).parent / "results" / "data_parallel.json"))
    args = parser.parse_args(argv)
    try:
        from needle_edu.data import load_fashion_mnist
        load_fashion_mnist("train")
        args.fashion_mnist = True
    except FileNotFoundError:
        args.fashion_mnist = False
    runs = {1: [], 2: []}
    for _ in range(args.rounds):
        for processes in runs:
            runs[processes].append(one_run(processes, args))
    results = {}
    for processes, found in runs.items():
        parts = {part: 1e3 * statistics.median(r[f"{part}_s"] for r in found)
                 for part in ("compute", "wait", "allreduce")}
        results[processes] = {f"{part}_ms": ms for part, ms in parts.items()}
        results[processes]["step_ms"] = sum(parts.values())
        results[processes]["allreduce_alone_ms"] = 1e3 * statistics.median(r["allreduce_alone_s"] for r in found)
    for processes, r in results.items():
        r["speedup"] = results[1]["step_ms"] / r["step_ms"]
        print(f"{processes} process(es), global batch {args.batch}: compute {r['compute_ms']:.2f} ms, "
              f"wait {r['wait_ms']:.2f} ms, allreduce {r['allreduce_ms']:.3f} ms "
              f"({r['allreduce_alone_ms']:.3f} ms back to back), "
              f"step {r['step_ms']:.2f} ms, speed-up {r['speedup']:.2f}x")
    report = {"batch": args.batch, "steps": args.steps,
              "data": "fashion-mnist" if args.fashion_mnist else "random", "results": results}
    path = pathlib.Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
