"""The processes of an MPI job and the collective operations the library needs from them."""
import sys
import traceback

import numpy as np


class MPIUnavailableError(RuntimeError):
    """mpi4py (or the MPI library under it) cannot be loaded; the message says how to get it."""


class Communicator:
    """This process's view of an MPI job: ``rank`` (0 .. size-1), ``size``, and collectives.

    A Python exception in any rank aborts the whole job (``MPI_Abort``) after printing it, so
    the other ranks stop instead of waiting forever for a message that will not come.
    """

    def __init__(self, comm):
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        if self.size > 1:
            _abort_on_uncaught_exception(comm, self.rank, self.size)

    def allreduce_sum(self, array):
        """The elementwise sum of ``array`` (numpy, contiguous) over every rank, in place."""
        from mpi4py import MPI

        self.comm.Allreduce(MPI.IN_PLACE, array, op=MPI.SUM)
        return array

    def broadcast(self, array, root=0):
        """``root``'s ``array`` copied into ``array`` on every rank, in place."""
        self.comm.Bcast(array, root=root)
        return array

    def barrier(self):
        self.comm.Barrier()


def _abort_on_uncaught_exception(comm, rank, size):
    previous = sys.excepthook

    def abort(kind, value, tb):
        message = "".join(traceback.format_exception(kind, value, tb))
        sys.stderr.write(f"needle_edu.distributed: rank {rank} of {size} failed; aborting every "
                         f"rank of the job:\n{message}")
        sys.stderr.flush()
        comm.Abort(1)
        previous(kind, value, tb)  # only reached when Abort returns (it does not in Open MPI)

    sys.excepthook = abort


_world = None


def world():
    """The Communicator of every process started by ``mpirun`` (a job of one without it)."""
    global _world
    if _world is None:
        try:
            from mpi4py import MPI
        except ImportError as error:  # mpi4py missing, or its MPI library
            raise MPIUnavailableError(
                f"needle_edu.distributed needs mpi4py and an MPI library ({error}); install them "
                "with `apt-get install openmpi-bin libopenmpi-dev` and `pip install mpi4py`") from error
        _world = Communicator(MPI.COMM_WORLD)
    return _world


def as_buffer(arrays, dtype):
    """The numpy arrays ``arrays`` flattened into one new contiguous buffer of ``dtype``."""
    return np.concatenate([np.asarray(a, dtype=dtype).reshape(-1) for a in arrays]) if arrays \
        else np.zeros(0, dtype=dtype)
