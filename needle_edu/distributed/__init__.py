"""Data-parallel training over MPI: every process holds the whole model and a slice of each batch.

Started as ``mpirun -n P python script.py``, each of the P processes (ranks) computes the
gradients of its slice; ``DataParallel.average_gradients()`` sums them across ranks with one MPI
allreduce and divides by P, so every rank takes the same optimizer step as one process on the
whole batch would. mpi4py on Open MPI carries the messages.
"""
from .communicator import Communicator, MPIUnavailableError, world
from .data_parallel import DataParallel, shard
from .launch import mpirun, mpirun_command

__all__ = ["Communicator", "DataParallel", "MPIUnavailableError", "mpirun", "mpirun_command",
           "shard", "world"]
