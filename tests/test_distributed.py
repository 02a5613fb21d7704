"""Data-parallel training over MPI: 2 ranks with half of every batch end with the parameters of
1 process with the whole batch; a rank that dies or raises ends the whole job, with a message,
instead of leaving the others waiting. Skips, saying why, where an MPI job cannot start."""
import subprocess
import sys

import numpy as np
import pytest

from needle_edu import nn
from needle_edu.autograd import Tensor
from needle_edu.distributed import DataParallel, mpirun, shard

DEMO = ("-m", "needle_edu.distributed.demo")


@pytest.fixture(scope="module")
def mpi():
    """Skip, with the reason, where mpirun, mpi4py or a 2-rank job does not work."""
    try:
        done = mpirun(2, "-c", "from mpi4py import MPI; MPI.COMM_WORLD.Barrier()", timeout=60)
    except (FileNotFoundError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"MPI cannot start here: {error}")
    if done.returncode != 0:
        pytest.skip(f"MPI cannot start here: a 2-rank job failed: {done.stderr[-500:]}")


def demo(processes, *arguments):
    """Run the demo in ``processes`` MPI ranks, or alone without MPI when ``processes`` is None."""
    if processes is not None:
        return mpirun(processes, *DEMO, *arguments, timeout=120)
    return subprocess.run([sys.executable, *DEMO, "--no-mpi", *arguments], capture_output=True,
                          text=True, timeout=120)


def final_parameters(tmp_path, processes, *arguments):
    out = tmp_path / f"{processes}-{len(arguments)}.npz"
    done = demo(processes, *arguments, "--out", out)
    assert done.returncode == 0, done.stderr[-3000:]
    saved = np.load(out)
    return [saved[f"arr_{i}"] for i in range(len(saved.files))]


def test_two_ranks_with_half_batches_match_one_process_with_the_whole(mpi, tmp_path):
    steps = ("--steps", "6", "--batch", "48", "--dtype", "float64")
    reference = final_parameters(tmp_path, None, *steps)
    initial = final_parameters(tmp_path, None, "--steps", "1", "--lr", "0", "--dtype", "float64")
    for processes in (1, 2):
        got = final_parameters(tmp_path, processes, *steps)
        assert len(got) == len(reference) == 4
        for g, r, start in zip(got, reference, initial):
            np.testing.assert_allclose(g, r, rtol=1e-13, atol=1e-15)
            assert np.abs(r - start).max() > 1e-3  # training moved them


@pytest.mark.parametrize("failure, message", [
    ("raise", "rank 1 of 2 failed; aborting every rank"),
    ("exit", "exited with non-zero status"),
    ("kill", "signal 9"),
])
def test_a_rank_that_dies_ends_the_whole_job(mpi, failure, message):
    done = mpirun(2, *DEMO, "--steps", "50", "--fail", failure, timeout=60)
    assert done.returncode != 0
    assert message in done.stdout + done.stderr, (done.stdout + done.stderr)[-3000:]


class TwoRanksAlike:
    """A stand-in communicator: two ranks whose gradients are equal, so their sum is twice one."""
    rank, size = 0, 2

    def allreduce_sum(self, array):
        array *= 2
        return array

    def broadcast(self, array, root=0):
        return array


def test_average_gradients_in_one_process():
    model = nn.Sequential(nn.Linear(3, 2, dtype="float64"), nn.ReLU(), nn.Linear(2, 1, dtype="float64"))
    parallel = DataParallel(model, TwoRanksAlike())
    x = Tensor(np.arange(12.0).reshape(4, 3) / 10, dtype="float64", requires_grad=False)
    parallel(x).sum().backward()
    want = [p.grad.numpy() for p in model.parameters()]
    model.parameters()[-1].grad = None  # a parameter with no gradient gets zeros
    parallel.average_gradients()
    for p, w in zip(model.parameters()[:-1], want):
        np.testing.assert_array_equal(p.grad.numpy(), w)
    assert (model.parameters()[-1].grad.numpy() == 0).all()
    assert parallel.parameters() == model.parameters()


def test_shard_splits_a_batch_evenly_or_says_why_not():
    batch = np.arange(12)
    assert [shard(batch, r, 3).tolist() for r in range(3)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    with pytest.raises(ValueError, match="shard: a batch of 12 cannot be split evenly among 5 ranks"):
        shard(batch, 0, 5)
