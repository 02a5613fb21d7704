"""Grading throughput: submissions per minute on 1 and 2 local workers and on a 2-worker Dask LocalCluster.

A batch of ``--size`` submissions (a01 and a04, correct / wrong / blank in turn, from the course's
example submissions) is graded three ways by the course tool; each way is timed in wall-clock
seconds and in CPU seconds of the whole machine (nbgrader, the sandboxed kernels, the Dask
workers: run it on an otherwise idle machine). Beside it: the per-submission cost of the sandbox (a few submissions graded
with and without it), of Dask (the LocalCluster's start, and a round trip of an empty task), and
the time of ``release`` (of which recording the expected values, i.e. running the source notebook).
The last table projects the hours of a term's grading, 500 students x 9 assignments, on N
machines like this one, from the batch's rate (a01/a04 grade faster than the training notebooks
a05 on, whose rate ``--assignments`` can measure the same way).
Usage: ``python benchmarks/bench_grading.py [--size 100] [--assignments a01 a04] [--quick] [--keep DIR]``.
"""
import argparse
import os
import pathlib
import shutil
import sys
import tempfile
import time

import psutil

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from autograder import pipeline  # noqa: E402
from autograder.course import QUICK_VARIABLE, REPO, Course  # noqa: E402
from autograder.grading.cluster import Cluster  # noqa: E402
from autograder.release import expected  # noqa: E402

KINDS = ("correct", "wrong", "blank")
CLASS, ASSIGNMENTS_PER_TERM = 500, 9


def machine_cpu_seconds():
    """CPU seconds the whole machine has spent busy (every core, every process) since boot."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


class Clock:
    """Wall-clock and CPU seconds of a ``with`` block. The CPU is the whole machine's: a sandboxed
    kernel's time does not reach this process's account of its children (one a01 submission: 2.4
    of its 7.7 s), so run this on an otherwise idle machine."""

    def __enter__(self):
        self.wall, self.busy = time.perf_counter(), machine_cpu_seconds()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = machine_cpu_seconds() - self.busy


def release(course, assignments):
    """Release each assignment; ``{assignment: (wall, cpu, seconds recording expected values)}``."""
    record, spent, timings = expected.record, {}, {}

    def timed_record(course, assignment):
        start = time.perf_counter()
        try:
            return record(course, assignment)
        finally:
            spent[assignment] = time.perf_counter() - start

    expected.record = timed_record
    try:
        for assignment in assignments:
            with Clock() as clock:
                pipeline.release(course, assignment)
            timings[assignment] = (clock.wall, clock.cpu, spent[assignment])
    finally:
        expected.record = record
    return timings


def submissions(course, assignments, size, folder):
    """``size`` submissions in the collect layout, kinds and assignments in turn; ``{assignment: [students]}``."""
    students = {a: [] for a in assignments}
    for assignment in assignments:
        pipeline.make_examples(course, assignment)
    for i in range(size):
        assignment, kind = assignments[i % len(assignments)], KINDS[(i // len(assignments)) % len(KINDS)]
        student = f"s{i:04d}_{kind}"
        shutil.copytree(course.root / "examples" / kind / assignment, folder / student / assignment)
        students[assignment].append(student)
    for assignment in assignments:
        pipeline.collect(course, assignment, folder)
    return students


def grade_all(course, students, cluster=None):
    """Grade every batch, on one LocalCluster of ``course.jobs`` workers if ``cluster``; ``(wall, cpu, outcomes)``.

    The cluster starts before the clock (its start is timed apart) and closes within it (its workers' CPU)."""
    results, local = [], Cluster("local", workers=course.jobs) if cluster else None
    try:
        with Clock() as clock:
            for assignment, names in students.items():
                results += pipeline.grade(course, assignment, names, report=lambda line: None,
                                          cluster=local and local.scheduler_address)
            if local:
                local.close()
    finally:
        if local:
            local.close()
    return clock.wall, clock.cpu, results


def dask_overhead(workers, tasks=200):
    """Seconds to start a LocalCluster of ``workers`` and the mean round trip of an empty task."""
    with Clock() as start:
        cluster = Cluster("local", workers=workers)
    try:
        with Clock() as trip:
            for future in [cluster.client.submit(int, i, pure=False) for i in range(tasks)]:
                future.result()
    finally:
        cluster.close()
    return start.wall, trip.wall / tasks


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100, help="submissions in the batch (default 100)")
    parser.add_argument("--assignments", nargs="+", default=["a01", "a04"])
    parser.add_argument("--sandbox-sample", type=int, default=4,
                        help="submissions graded with and without the sandbox (default 4)")
    parser.add_argument("--quick", action="store_true", help=f"set {QUICK_VARIABLE}=1 (smaller training budgets)")
    parser.add_argument("--keep", help="course root to keep (default: a temporary folder, removed)")
    args = parser.parse_args()
    if args.quick:
        os.environ[QUICK_VARIABLE] = "1"
    work = pathlib.Path(args.keep or tempfile.mkdtemp(prefix="bench_grading_"))
    try:
        course = Course(root=work / "course_build", notebook_dirs=[REPO / "notebooks"])
        assignments = [course.assignment(a) for a in args.assignments]
        print(f"bench_grading: {args.size} submissions of {', '.join(assignments)} on {os.cpu_count()} cores"
              + (" (quick mode)" if args.quick else ""))

        timings = release(course, assignments)
        print(f"\n{'release':<36} wall s    cpu s   of which expected values (wall s)")
        for assignment, (wall, cpu, recording) in timings.items():
            print(f"  {assignment:<34} {wall:7.1f}  {cpu:7.1f}   {recording:7.1f}")

        students = submissions(course, assignments, args.size, work / "batch")
        ways = [("1 local worker (--jobs 1)", 1, False), ("2 local workers (--jobs 2)", 2, False),
                ("Dask LocalCluster, 2 workers", 2, True)]
        rates = {}
        print("\ngrading the batch              wall s    cpu s   submissions/min   cpu s/submission   not ok")
        for name, jobs, cluster in ways:
            course.jobs = jobs
            wall, cpu, results = grade_all(course, students, cluster)
            rates[name] = args.size / wall * 60
            failed = sum(not o.ok for o in results)
            print(f"  {name:<28} {wall:7.1f}  {cpu:7.1f}   {rates[name]:15.1f}   {cpu / args.size:16.2f}   {failed}")

        sample = {assignments[0]: [s for s in students[assignments[0]] if s.endswith("_blank")][:args.sandbox_sample]}
        course.jobs, count = 1, len(sample[assignments[0]])
        sandboxed = grade_all(course, sample)
        course.sandboxed = False
        bare = grade_all(course, sample)
        course.sandboxed = True
        start, trip = dask_overhead(2)
        print("\nper-submission overhead")
        print(f"  sandbox (prlimit, bwrap, setpriv), {count} blank {assignments[0]}: "
              f"{(sandboxed[0] - bare[0]) / count:+.2f} s wall, {(sandboxed[1] - bare[1]) / count:+.2f} s cpu "
              f"({sandboxed[0] / count:.2f} s sandboxed, {bare[0] / count:.2f} s not)")
        dask_name, local_name = ways[2][0], ways[1][0]
        per_dask = 60 / rates[dask_name] - 60 / rates[local_name]
        print(f"  Dask: LocalCluster start {start:.1f} s once; empty task round trip {trip * 1000:.1f} ms; "
              f"the batch's seconds per submission on Dask minus on 2 local workers: {per_dask:+.2f} s")

        total = CLASS * ASSIGNMENTS_PER_TERM
        print(f"\nprojection: {CLASS} students x {ASSIGNMENTS_PER_TERM} assignments = {total} submissions, "
              f"at the Dask rate of this batch ({rates[dask_name]:.1f}/min per machine like this one)")
        for machines in (1, 4, 16, 64):
            print(f"  {machines:>3} machine(s): {total / (rates[dask_name] * machines) / 60:7.1f} h")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
