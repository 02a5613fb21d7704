"""`make lab`: JupyterLab 4 with nbgrader's extension serves a student release.

The test starts a real server on 127.0.0.1 over a release folder, fetches ``/lab`` and the
release notebook through the server's REST API, checks nbgrader's lab extension and its
validate endpoint are loaded, and stops the server.
"""
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOKEN = "needle-edu-test-token"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path):
    separator = "&" if "?" in path else "?"
    url = f"http://127.0.0.1:{port}{path}{separator}token={TOKEN}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


def release_folder(tmp_path):
    """The student release of the first assignment, built by the course tool in ``tmp_path``."""
    assignment = sorted(p.name for p in (ROOT / "notebooks").glob("a[0-9][0-9]_*") if p.is_dir())[0]
    subprocess.run([sys.executable, "-m", "autograder", "--course-root", str(tmp_path / "course"),
                    "release", assignment], cwd=ROOT, check=True, capture_output=True)
    folder = tmp_path / "course" / "release" / assignment
    return folder, f"{assignment}.ipynb"


@pytest.fixture
def lab_server(tmp_path):
    folder, notebook = release_folder(tmp_path)
    port = free_port()
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
               "--ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={folder}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                get(port, "/api/status")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start:\n" + (server.stdout.read() if server.poll() is not None else ""))
                time.sleep(0.5)
        yield port, notebook
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def test_lab_serves_the_release_with_nbgrader(lab_server):
    port, notebook = lab_server
    status, page = get(port, "/lab")
    assert status == 200 and "JupyterLab" in page
    status, body = get(port, f"/api/contents/{notebook}?content=1")
    model = json.loads(body)
    assert status == 200 and model["type"] == "notebook" and model["content"]["cells"]
    assert model["content"]["metadata"]["kernelspec"]["name"] == "needle-edu-student"
    source = "".join(cell["source"] for cell in model["content"]["cells"])
    assert "### BEGIN SOLUTION" not in source and "### BEGIN HIDDEN TESTS" not in source
    status, body = get(port, "/lab/api/extensions")
    assert "jupyter-nbgrader" in {extension["name"] for extension in json.loads(body)}  # @jupyter/nbgrader
    status, body = get(port, "/api/config/common")  # the server answers its REST API
    assert status == 200


def test_make_lab_runs_jupyterlab_on_the_release():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nlab:", 1)[1].split("\n\n", 1)[0]
    assert "jupyter lab" in recipe and "course_build/release" in recipe
    assert shutil.which("jupyter", path=str(pathlib.Path(sys.executable).parent))
