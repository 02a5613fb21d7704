"""Grading on a Dask cluster (autograder/grading/cluster.py): the grades of --jobs, a worker killed
mid-task, a scheduler that goes away. On the small fixture assignment (its grading is the fastest)."""
import collections
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from distributed import Client, LocalCluster

from autograder import pipeline
from autograder.course import REPO, Course
from autograder.grading import gradebook, nbgrader_driver, outcomes

NOTEBOOK_DIRS = [REPO / "tests" / "fixtures" / "notebooks", REPO / "notebooks"]
ASSIGNMENT = "a00_fixture"
STUDENTS = ["blank", "correct", "wrong"]
PATIENCE = 600  # seconds; grading three fixture submissions takes well under a minute on an idle machine


def course_at(root):
    return Course(root=root, notebook_dirs=NOTEBOOK_DIRS, jobs=2)


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """A course root with the fixture released and its three examples collected, and their grades on threads."""
    course = course_at(tmp_path_factory.mktemp("dask") / "course_build")
    pipeline.release(course, ASSIGNMENT)
    pipeline.collect(course, ASSIGNMENT, pipeline.make_examples(course, ASSIGNMENT))
    template = course.root.parent / "template"
    shutil.copytree(course.root, template)
    on_threads = pipeline.grade(course, ASSIGNMENT, STUDENTS)
    return template, on_threads, grades(course)


def fresh(released, tmp_path):
    """A copy of the released course, not graded yet."""
    shutil.copytree(released[0], tmp_path / "course_build")
    return course_at(tmp_path / "course_build")


def grades(course):
    return {g.student: [(c.name, c.score, c.max_score) for c in g.cells]
            for g in nbgrader_driver.grades(course, ASSIGNMENT)}


@pytest.mark.slow
def test_a_local_cluster_gives_the_grades_of_threads(released, tmp_path):
    course = fresh(released, tmp_path)
    on_cluster = pipeline.grade(course, ASSIGNMENT, STUDENTS, cluster="local")
    _, on_threads, expected = released
    assert [(o.student, o.status, o.reason) for o in on_cluster] == \
           [(o.student, o.status, o.reason) for o in on_threads]
    assert grades(course) == expected
    assert expected["correct"] and all(score == top for _, score, top in expected["correct"])
    for student in STUDENTS:
        assert "graded on Dask worker tcp://" in (course.root / "logs" / ASSIGNMENT / f"{student}.log").read_text()
    assert (course.folder("autograded", ASSIGNMENT, "correct") / f"{ASSIGNMENT}.ipynb").exists()


@pytest.mark.slow
def test_a_worker_killed_mid_task_has_its_submission_graded_once_elsewhere(released, tmp_path, monkeypatch):
    course = fresh(released, tmp_path)
    written = collections.Counter()
    record = gradebook.record
    monkeypatch.setattr(gradebook, "record", lambda c, a, student, *rest: (written.update([student]),
                                                                          record(c, a, student, *rest))[1])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        pids = client.run(os.getpid)
        done = {}
        grading = threading.Thread(target=lambda: done.update(
            outcomes=pipeline.grade(course, ASSIGNMENT, STUDENTS, cluster=cluster.scheduler_address)))
        grading.start()
        victim, student = None, None
        deadline = time.monotonic() + PATIENCE
        while victim is None and time.monotonic() < deadline:  # a task whose nbgrader has started
            for worker, keys in client.processing().items():
                for key in keys:
                    name = key.split("-")[2] if key.startswith("grade-") else None
                    if name and list((course.root / "grading" / ASSIGNMENT / name).glob("attempt-*/gradebook.db")):
                        victim, student = worker, name
            time.sleep(0.2)
        assert victim, "no grading task started"
        os.kill(pids[victim], signal.SIGKILL)
        grading.join(PATIENCE)
    assert not grading.is_alive()
    assert [(o.student, o.status) for o in done["outcomes"]] == [(s, "graded") for s in STUDENTS]
    assert grades(course) == released[2]
    assert written == collections.Counter(STUDENTS)  # each submission's grade written once
    log = (course.root / "logs" / ASSIGNMENT / f"{student}.log").read_text()
    where = log.rsplit("[course tool] graded on Dask worker ", 1)[1]
    assert not where.startswith(f"{victim},") and "attempt 2" in where, where


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_a_scheduler_that_goes_away_stops_grade_and_keeps_exactly_the_finished_grades(released, tmp_path):
    """Workers started as autograder/README.md says; the scheduler is killed once one submission is graded."""
    course = fresh(released, tmp_path)
    address = f"tcp://127.0.0.1:{free_port()}"
    bin_dir = os.path.dirname(sys.executable)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    scheduler = subprocess.Popen([f"{bin_dir}/dask", "scheduler", "--host", "127.0.0.1", "--port",
                                  address.rsplit(":", 1)[1], "--no-dashboard"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([f"{bin_dir}/dask", "worker", address, "--nworkers", "1", "--nthreads", "1",
                               "--no-dashboard"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        grade = subprocess.Popen([sys.executable, "-m", "autograder", "--course-root", str(course.root),
                                  *[f"--notebooks={d}" for d in NOTEBOOK_DIRS], "grade", ASSIGNMENT,
                                  "--scheduler", address], cwd=REPO, env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        finished = course.root / "outcomes" / f"{ASSIGNMENT}.json"
        deadline = time.monotonic() + PATIENCE
        while not finished.exists() and grade.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        scheduler.kill()
        output, errors = grade.communicate(timeout=PATIENCE)
    finally:
        scheduler.kill()
        os.killpg(worker.pid, signal.SIGKILL)
    assert grade.returncode == 2, (output, errors)
    assert f"the Dask scheduler at {address} went away" in errors, errors
    known = outcomes.load(course, ASSIGNMENT)
    kept = {s for s, o in known.items() if o.status == "graded"}
    assert kept and kept != set(STUDENTS) and set(grades(course)) == kept
    assert set(known) == set(STUDENTS)
    assert all(o.reason.startswith("not graded: the Dask scheduler") for s, o in known.items() if s not in kept)
    assert f"the {len(kept)} of {len(STUDENTS)} submissions that finished" in errors
    assert all(grades(course)[s] == released[2][s] for s in kept)
    json.loads(finished.read_text())  # written whole
