"""How many threads needle_edu's kernels and numpy's BLAS use: chosen once, when needle_edu loads.

Students share cores (a hub, a laptop busy with other work, a grader running notebooks side by
side). There a thread that spins while it waits for work takes the core from one that has work,
and a parallel loop ends only when its slowest thread, waiting for a core, has finished. So:

- the ``cpu`` and ``numba`` devices (OpenMP) keep one thread per core, but a thread with nothing
  to do sleeps at once instead of spinning (``OMP_WAIT_POLICY=PASSIVE``, read by the OpenMP
  runtime when the first kernel module loads);
- numpy's BLAS (OpenBLAS spins, and has no setting to stop it) runs on one thread: the
  matrices of the course's notebooks are small enough that one thread is as fast as two on a
  quiet machine, and several times faster on a busy one.

An environment variable set before needle_edu loads wins: ``OMP_WAIT_POLICY``, and for BLAS
``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS``. ``set_num_threads`` changes
the counts later, like ``torch.set_num_threads``.
"""
import os

WAIT_POLICY = "PASSIVE"
BLAS_THREADS = 1
BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

_applied = False


def apply():
    """Set the policy above; needle_edu calls it on import, before any kernel module loads."""
    global _applied
    if _applied:
        return
    _applied = True
    os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)
    if not any(os.environ.get(name) for name in BLAS_VARIABLES):
        _limit(BLAS_THREADS, "blas")


def _limit(count, user_api):
    """Set the thread count of every loaded library of ``user_api`` ("blas" or "openmp")."""
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=count, user_api=user_api)


def set_num_threads(count, blas=None):
    """Run the ``cpu`` and ``numba`` kernels on ``count`` threads, and numpy's BLAS on ``blas``
    (unchanged when None). Applies to the calling thread, as OpenMP's own setting does."""
    if not isinstance(count, int) or count < 1 or (blas is not None and (not isinstance(blas, int) or blas < 1)):
        raise ValueError(f"set_num_threads: thread counts are integers >= 1, got count={count!r}, blas={blas!r}")
    import numba
    numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))  # first: it resets OpenMP's count
    from .backend_ndarray import cpu
    cpu().enabled()  # loads the OpenMP runtime, so that there is one to set
    _limit(count, "openmp")
    if blas is not None:
        _limit(blas, "blas")


def get_num_threads():
    """``{"openmp": n, "blas": n}`` for the libraries loaded so far (those not loaded are absent)."""
    from threadpoolctl import threadpool_info
    return {info["user_api"]: info["num_threads"] for info in threadpool_info()}
