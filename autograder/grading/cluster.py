"""Grading on a Dask cluster: each submission is one task on a worker, in the same sandbox as here.

The workers need what grading needs, at the same paths as this process: the repository with its
virtual environment (they import ``autograder``) and the course root (student build, release,
submissions, expected values, the gradebook snapshot); one machine, or a shared filesystem. A
task carries the course settings and this process's NEEDLE_EDU_* variables, stages and autogrades
in a folder of its own attempt, and hands back what this process judges and writes. A worker that
dies mid-task takes its nbgrader and kernel with it, and the scheduler runs the task again.
"""
import concurrent.futures
import os
import uuid

from . import batch, sandbox

CONNECT_SECONDS = 30   # to reach the scheduler, and for its first worker to join
PASSED = "NEEDLE_EDU_"  # variables a task carries to the worker's nbgrader and kernel


class ClusterError(RuntimeError):
    """The cluster cannot grade (unreachable, no workers, workers that lack the course); says why."""


class Cluster:
    """A dask.distributed Client: of the scheduler at ``address``, or of a LocalCluster of ``workers``
    processes (one thread each) when ``address`` is ``"local"``. A context manager."""

    def __init__(self, address, workers=2):
        from distributed import Client, LocalCluster
        self.address, self.local = address, None
        try:
            if address == "local":
                self.local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                          dashboard_address=None)
                address = self.local.scheduler_address
            self.scheduler_address = address
            self.client = Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
            self.client.wait_for_workers(1, timeout=CONNECT_SECONDS)
        except (OSError, TimeoutError) as error:
            self.close()
            raise ClusterError(f"no Dask cluster to grade on at {self.address}: {error or type(error).__name__}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Close the client, and the LocalCluster if this made one (again: nothing)."""
        client, self.client = getattr(self, "client", None), None
        local, self.local = self.local, None
        if client is not None:
            client.close()
        if local is not None:
            local.close()

    def check(self, course, assignment, sandboxed):
        """Refuse (ClusterError) unless every worker sees the course at this process's paths and can sandbox."""
        paths = [str(p) for p in (course.root, course.student_build(assignment), course.folder("release", assignment))]
        try:
            found = self.client.run(_cannot_grade, paths, sandboxed)
        except Exception as error:  # e.g. a worker that cannot import autograder
            raise ClusterError(f"the workers of {self.address} cannot run the course tool ({type(error).__name__}: "
                               f"{error}); start them as autograder/README.md says") from None
        problems = [f"{worker}: {why}" for worker, why in sorted(found.items()) if why]
        if problems:
            raise ClusterError("workers that cannot grade: " + "; ".join(problems))

    def runner(self, course, assignment, students, snapshot, sandboxed):
        """A runner for :func:`.batch.grade`: one task per student; yields ``(student, future)`` as each ends.

        Raises batch.Interrupted when the scheduler goes away before every task came back.
        """
        from distributed import as_completed
        env = {k: v for k, v in os.environ.items() if k.startswith(PASSED)}
        futures = {self.client.submit(_task, course, assignment, s, snapshot, sandboxed, env, pure=False,
                                      key=f"grade-{assignment}-{s}-{uuid.uuid4().hex[:8]}"): s for s in students}
        try:
            for future, result in as_completed(futures, with_results=True, raise_errors=False, loop=self.client.loop):
                if future.cancelled() or isinstance(result, concurrent.futures.CancelledError):
                    raise batch.Interrupted(self._lost())
                done = concurrent.futures.Future()
                if isinstance(result, BaseException):
                    done.set_exception(result)
                else:
                    done.set_result(result)
                yield futures[future], done
        except (OSError, TimeoutError, concurrent.futures.CancelledError) as error:
            raise batch.Interrupted(f"{self._lost()} ({type(error).__name__}: {error})") from None

    def _lost(self):
        return f"the Dask scheduler at {self.address} went away before every submission was graded"


def _cannot_grade(paths, sandboxed):
    """On a worker: why it cannot grade, or ''."""
    missing = [p for p in paths if not os.path.isdir(p)]
    if missing:
        return f"no {', '.join(missing)} (the course root must be at the same path on every worker)"
    return (sandbox.unavailable() or "") if sandboxed else ""


def _task(course, assignment, student, snapshot, sandboxed, env):
    """On a worker: stage and autograde one submission in a new attempt folder; its batch.Staged."""
    from distributed import get_worker
    folder = course.root / "grading" / assignment / student
    attempt = 1 + (len(list(folder.glob("attempt-*"))) if folder.exists() else 0)
    workspace = folder / f"attempt-{attempt}-{uuid.uuid4().hex[:8]}"
    staged = batch.work(course, assignment, student, workspace, snapshot, sandboxed, env)
    staged.where = f"Dask worker {get_worker().address}, attempt {attempt}"
    return staged
