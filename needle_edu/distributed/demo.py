"""A data-parallel training run to launch with mpirun: the tests', benchmark's and book's example.

``mpirun -n P python -m needle_edu.distributed.demo --steps 5 --out params.npz`` trains an MLP
for ``--steps`` SGD steps on batches of ``--batch`` examples, each rank on its 1/P of every
batch; rank 0 writes the final parameters and prints the median times of a step's parts (compute,
wait for the slowest rank, allreduce) and of the same allreduce run back to back, alone, as one
JSON line.
``--no-mpi`` trains the same model in this process alone, the reference. ``--fail exit|kill|raise``
makes rank ``--fail-rank`` die before its first allreduce, to show the job failing as a whole.
"""
import argparse
import json
import os
import signal
import time

import numpy as np

from .. import init, nn, optim
from ..autograd import Tensor


def batches(args):
    """(images, labels) of every step: Fashion-MNIST when asked for and present, else synthetic."""
    total = args.steps * args.batch
    if args.data == "fashion-mnist":
        from ..data import load_fashion_mnist

        images, labels = load_fashion_mnist("train")
        images, labels = images[:total], labels[:total]
    else:
        rng = np.random.default_rng(args.seed)
        images = rng.standard_normal((total, args.features))
        labels = (images[:, :10].argmax(axis=1) + rng.integers(0, 2, total)) % 10
    return images.reshape(args.steps, args.batch, -1), labels.reshape(args.steps, args.batch)


def model_for(args, features):
    init.manual_seed(args.seed)
    return nn.Sequential(nn.Linear(features, args.hidden, dtype=args.dtype), nn.ReLU(),
                         nn.Linear(args.hidden, 10, dtype=args.dtype))


def train(args):
    images, labels = batches(args)
    model = model_for(args, images.shape[-1])
    rank, size, parallel = 0, 1, None
    if not args.no_mpi:
        from . import DataParallel, shard, world

        communicator = world()
        rank, size = communicator.rank, communicator.size
        model = parallel = DataParallel(model, communicator)
        images = np.stack([shard(step, rank, size) for step in images])
        labels = np.stack([shard(step, rank, size) for step in labels])
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    loss_fn = nn.SoftmaxLoss()
    compute, wait, communicate = [], [], []
    for x, y in zip(images, labels):
        started = time.perf_counter()
        optimizer.reset_grad()
        loss = loss_fn(model(Tensor(x, dtype=args.dtype, requires_grad=False)), Tensor(y, requires_grad=False))
        loss.backward()
        computed = time.perf_counter()
        if args.fail != "none" and rank == args.fail_rank:
            if args.fail == "exit":
                os._exit(3)
            if args.fail == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError("a failure planted by --fail raise")
        if parallel is not None:
            parallel.communicator.barrier()  # only to time the wait for the slowest rank apart
            waited = time.perf_counter()
            parallel.average_gradients()
        else:
            waited = computed
        communicated = time.perf_counter()
        optimizer.step()
        compute.append(computed - started)
        wait.append(waited - computed)
        communicate.append(communicated - waited)
    if parallel is not None:  # the same allreduce back to back, with nothing else to do
        gradients = np.zeros(sum(p.size for p in model.parameters()), dtype=args.dtype)
        back_to_back = []
        for _ in range(len(compute)):
            communicator.barrier()
            started = time.perf_counter()
            communicator.allreduce_sum(gradients)
            back_to_back.append(time.perf_counter() - started)
    if rank == 0:
        if args.out:
            np.savez(args.out, *[p.numpy() for p in model.parameters()])
        skip = min(2, len(compute) - 1)  # the first steps compile and warm caches
        print(json.dumps({"processes": size, "batch": args.batch, "steps": args.steps,
                          "compute_s": float(np.median(compute[skip:])),
                          "wait_s": float(np.median(wait[skip:])),
                          "allreduce_s": float(np.median(communicate[skip:])),
                          "allreduce_alone_s": float(np.median(back_to_back)) if parallel else 0.0,
                          "loss": loss.item()}))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m needle_edu.distributed.demo", description=__doc__)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64, help="the global batch, split among the ranks")
    parser.add_argument("--features", type=int, default=20, help="input size of the synthetic data")
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", choices=["synthetic", "fashion-mnist"], default="synthetic")
    parser.add_argument("--out", help="where rank 0 saves the final parameters (.npz)")
    parser.add_argument("--no-mpi", action="store_true", help="train in this process alone")
    parser.add_argument("--fail", choices=["none", "exit", "kill", "raise"], default="none")
    parser.add_argument("--fail-rank", type=int, default=1)
    train(parser.parse_args(argv))


if __name__ == "__main__":
    main()
