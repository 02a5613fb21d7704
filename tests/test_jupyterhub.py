"""deploy/jupyterhub/: a class on one machine, the way a real hub runs, from fetch to feedback.

A module-wide fixture releases a01 into a private course root, makes the student side
(``python -m autograder.hub setup``), publishes the release to a private nbgrader exchange
with the course tool, and starts JupyterHub on the deployment's configuration with two swaps
for a test machine: the dummy authenticator, and servers spawned as this unix user with a home
folder each (SimpleLocalProcessSpawner) instead of one unix account per user. The proxy is
configurable-http-proxy from its npm package. Two students and an instructor get their servers
through the hub's REST API, and a student logs in on the hub's login page as in a browser. The
students then use their own server through the proxy, with their own tokens, as JupyterLab's
Assignments tab does: list, fetch, edit (alice pastes the source's solutions, bob writes wrong
ones), submit. The instructor collects from the exchange, grades and returns feedback with the
course tool, typed into a terminal of their own server, and each student fetches their own
feedback.
"""
import asyncio
import http.cookiejar
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from test_student_lab import course_tool, free_port

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "jupyterhub" / "jupyterhub_config.py"
PROXY = ROOT / "build" / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
SERVICE_TOKEN = "needle-edu-hub-test-service-token"
STUDENTS, INSTRUCTOR = ("alice", "bob"), "teacher"
COURSE = "needle-edu"

TEST_CONFIG = """\
c = get_config()  # noqa: F821
load_subconfig({deployment!r})  # noqa: F821
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {homes!r} + "/{{username}}"
c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.Spawner.start_timeout = 180
c.Spawner.args = ["--allow-root"] if {root} else []  # the servers run as this (root) user
c.Spawner.http_timeout = 180
c.JupyterHub.services = [{{"name": "course-test", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [{{"name": "course-test", "services": ["course-test"],
                            "scopes": ["admin:users", "admin:servers", "tokens", "list:users", "read:users"]}}]
"""


class Hub:
    """Requests to a running hub: as the admin service, or as one user through the proxy."""

    def __init__(self, port, homes):
        self.port, self.homes, self.tokens = port, homes, {}

    def request(self, path, token=SERVICE_TOKEN, method="GET", data=None, form=None, timeout=60):
        body, headers = None, {"Authorization": f"token {token}"}
        if data is not None:
            body, headers["Content-Type"] = json.dumps(data).encode(), "application/json"
        elif form is not None:
            body = urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body, headers=headers,
                                         method=method)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode()
        try:
            return json.loads(text)  # nbgrader's handlers answer JSON as text/html
        except ValueError:
            return text

    def api(self, path, **options):
        return self.request(f"/hub/api{path}", **options)

    def user(self, name, path, **options):
        """``path`` on ``name``'s own server, with ``name``'s token."""
        return self.request(f"/user/{name}{path}", token=self.tokens[name], **options)

    def assignments(self, name, assignment):
        reply = self.user(name, f"/assignments?course_id={COURSE}")
        assert reply["success"], reply
        return [entry for entry in reply["value"] if entry["assignment_id"] == assignment]

    def nbgrader(self, name, action, assignment):
        """An action of the Assignments tab (fetch, submit, fetch_feedback) as ``name``."""
        reply = self.user(name, f"/assignments/{action}", method="POST", timeout=180,
                          form={"course_id": COURSE, "assignment_id": assignment})
        assert reply["success"], reply
        return reply


    def terminal(self, name, command, timeout=900):
        """(exit status, output) of ``command`` typed into a new terminal of ``name``'s server."""
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        terminal = self.user(name, "/api/terminals", method="POST", data={})["name"]

        async def run():
            socket = await websocket_connect(HTTPRequest(
                f"ws://127.0.0.1:{self.port}/user/{name}/terminals/websocket/{terminal}",
                headers={"Authorization": f"token {self.tokens[name]}"}))
            socket.write_message(json.dumps(["stdin", f"{command}; echo __status__$?\r"]))
            output = ""
            while not (done := re.search(r"__status__(\d+)", output)):
                message = await socket.read_message()
                assert message is not None, f"the terminal closed; it showed:\n{output}"
                kind, *content = json.loads(message)
                output += content[0] if kind == "stdout" else ""
            socket.close()
            return int(done.group(1)), output

        try:
            return asyncio.run(asyncio.wait_for(run(), timeout))
        finally:
            self.user(name, f"/api/terminals/{terminal}", method="DELETE")

    def course_tool(self, course, *arguments):
        """``python -m autograder`` as the instructor types it in their server's terminal; its output."""
        return self.terminal(INSTRUCTOR, " ".join([f"cd {ROOT} && NEEDLE_EDU_QUICK=1 .venv/bin/python -m autograder",
                                                   "--course-root", str(course), *arguments]))


def wait_for(what, probe, process, timeout=180):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if result := probe():
                return result
        except (OSError, urllib.error.HTTPError):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """(Hub, course root, exchange, assignment): servers running for two students and an instructor."""
    pytest.importorskip("jupyterhub", reason="pip install jupyterhub (the course extra)")
    if not PROXY.exists():
        pytest.skip("no configurable-http-proxy under build/node (make setup installs it with npm; needs node)")
    if shutil.which("node") is None:
        pytest.skip("no node: configurable-http-proxy cannot run")
    tmp = tmp_path_factory.mktemp("jupyterhub")
    course, exchange, side, homes, state = (tmp / name for name in ("course", "exchange", "side", "homes", "hub"))
    assignment = sorted(p.name for p in (ROOT / "notebooks").glob("a01_*"))[0]
    course_tool(course, "release", assignment)
    course_tool(course, "examples", assignment)
    subprocess.run([sys.executable, "-m", "autograder.hub", "setup", str(course / "release"), "--root", str(side),
                    "--exchange", str(exchange)], cwd=ROOT, check=True, capture_output=True)
    course_tool(course, "publish", assignment, "--exchange", str(exchange))

    state.mkdir()
    port = free_port()
    (state / "test_config.py").write_text(TEST_CONFIG.format(
        deployment=str(CONFIG), homes=str(homes), port=port, hub_port=free_port(), api_port=free_port(),
        token=SERVICE_TOKEN, root=os.geteuid() == 0))
    environment = {key: value for key, value in os.environ.items() if not key.startswith("JUPYTER")}
    environment.update(NEEDLE_EDU_HUB_ROOT=str(side), NEEDLE_EDU_INSTRUCTORS=INSTRUCTOR)
    log = (state / "hub.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(state / "test_config.py")], cwd=state,
                               env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    hub = Hub(port, homes)
    try:
        try:
            wait_for("the hub's start", lambda: hub.api("/") is not None, process)
            everyone = [*STUDENTS, INSTRUCTOR]
            hub.api("/users", method="POST", data={"usernames": everyone})
            for name in everyone:
                hub.tokens[name] = hub.api(f"/users/{name}/tokens", method="POST", data={"note": "test"})["token"]
                hub.api(f"/users/{name}/server", method="POST", data={})
            for name in everyone:
                wait_for(f"{name}'s server start",
                         lambda: hub.api(f"/users/{name}")["servers"].get("", {}).get("ready"), process)
        except Exception:
            log.flush()
            raise RuntimeError("the hub did not come up:\n" + (state / "hub.log").read_text()[-8000:]) from None
        yield hub, course, exchange, assignment
    finally:
        process.send_signal(signal.SIGTERM)  # the hub stops the proxy and the users' servers
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


@pytest.mark.slow
def test_students_get_the_course_kernel_and_student_tools_and_the_instructor_the_course_repository(hub):
    hub, *_ = hub
    for name in STUDENTS:
        specs = hub.user(name, "/api/kernelspecs")
        assert list(specs["kernelspecs"]) == ["needle-edu-student"], specs
        argv = specs["kernelspecs"]["needle-edu-student"]["spec"]["argv"]
        assert Path(argv[0]).parts[-3:] == ("env", "bin", "python")  # the student environment
        with pytest.raises(urllib.error.HTTPError) as missing:
            hub.user(name, "/formgrader")
        assert missing.value.code == 404
        page = hub.user(name, "/lab")
        assert "@jupyter/nbgrader" in page  # the Assignments tab and Validate are there
    with pytest.raises(urllib.error.HTTPError) as foreign:  # a student's token opens no other server
        hub.request(f"/user/{STUDENTS[1]}/api/contents", token=hub.tokens[STUDENTS[0]])
    assert foreign.value.code in (403, 404)
    teacher = hub.user(INSTRUCTOR, "/api/contents")
    assert {"autograder", "notebooks"} <= {entry["name"] for entry in teacher["content"]}
    status, output = hub.terminal(INSTRUCTOR, f"cd {ROOT} && .venv/bin/python -m autograder --help")
    assert status == 0 and "usage: python -m autograder" in output, output  # the instructor's terminal


@pytest.mark.slow
def test_a_student_logs_in_on_the_hub_page_and_reaches_only_their_own_server(hub):
    hub, *_ = hub
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    base = f"http://127.0.0.1:{hub.port}"
    page = browser.open(f"{base}/hub/login", timeout=60).read().decode()
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"username": "alice", "password": "any", "_xsrf": xsrf}).encode()
    # The hub's login, then its OAuth redirects to alice's server, as in a browser.
    with browser.open(f"{base}/hub/login?next=/user/alice/lab", data=form, timeout=60) as response:
        assert response.url.endswith("/user/alice/lab") and "@jupyter/nbgrader" in response.read().decode()
    assert "started" in json.loads(browser.open(f"{base}/user/alice/api/status", timeout=60).read())
    with pytest.raises(urllib.error.HTTPError) as foreign:
        browser.open(f"{base}/user/bob/api/status", timeout=60)
    assert foreign.value.code in (403, 404)


@pytest.mark.slow
def test_fetch_edit_submit_collect_grade_and_feedback_through_the_hub(hub):
    from autograder.course import Course
    from autograder.grading import nbgrader_driver, sandbox
    from autograder.release import leaks

    hub, course_root, exchange, assignment = hub
    notebook = f"{assignment}/{assignment}.ipynb"
    answers = {"alice": "correct", "bob": "wrong"}
    for name in STUDENTS:
        assert [entry["status"] for entry in hub.assignments(name, assignment)] == ["released"]
        hub.nbgrader(name, "fetch", assignment)
        assert (hub.homes / name / assignment / "needle_edu").is_dir()  # the student build came along
        model = hub.user(name, f"/api/contents/{notebook}?content=1")
        assert model["content"]["metadata"]["kernelspec"]["name"] == "needle-edu-student"
        # The edit, saved through the student's server as JupyterLab saves it.
        edited = json.loads((course_root / "examples" / answers[name] / assignment / f"{assignment}.ipynb").read_text())
        hub.user(name, f"/api/contents/{notebook}", method="PUT",
                 data={"type": "notebook", "format": "json", "content": edited})
        reply = hub.nbgrader(name, "submit", assignment)
        assert "submitted" in {entry["status"] for entry in reply["value"]}, reply
    inbound = sorted(p.name.split("+")[0] for p in (exchange / COURSE / "inbound").iterdir())
    assert inbound == sorted(STUDENTS)  # named by hub user, not by the unix user the servers share

    # The instructor, in a terminal of their server: collect, grade and return feedback with the course tool.
    status, output = hub.course_tool(course_root, "collect", assignment, "--exchange", str(exchange))
    assert status == 0 and "collected 2 submission(s)" in output, output
    course = Course(root=course_root)
    for name in STUDENTS:
        submitted = course.folder("submitted", assignment, name)
        assert (submitted / f"{assignment}.ipynb").read_bytes() == (hub.homes / name / notebook).read_bytes()
        assert not (submitted / "needle_edu").exists()
    unsandboxed = ["--unsandboxed"] if sandbox.unavailable() else []
    status, output = hub.course_tool(course_root, *unsandboxed, "--jobs", "1", "grade", assignment)
    assert status == 0, output
    grades = {grade.student: grade for grade in nbgrader_driver.grades(course, assignment)}
    assert all(cell.score == cell.max_score for cell in grades["alice"].cells if cell.autograded)
    assert grades["bob"].score < grades["bob"].max_score
    status, output = hub.course_tool(course_root, "collect", assignment, "--exchange", str(exchange))
    assert status == 1 and "collected 0" in output, output  # nothing new: the grades stand
    assert set(g.student for g in nbgrader_driver.grades(course, assignment)) == set(STUDENTS)
    status, output = hub.course_tool(course_root, "feedback", assignment, "--exchange", str(exchange))
    assert status == 0, output

    # Each student fetches their own feedback.
    _, hidden = leaks.secrets(course, assignment)
    for name in STUDENTS:
        submitted, = [e for e in hub.assignments(name, assignment) if e["status"] == "submitted"]
        assert submitted["submissions"][0]["has_exchange_feedback"], submitted
        hub.nbgrader(name, "fetch_feedback", assignment)
        page, = (hub.homes / name / assignment / "feedback").glob(f"*/{assignment}.html")
        html = page.read_text()
        grade = grades[name]
        assert f"(Score: {round(float(grade.score), 2)} / {round(float(grade.max_score), 2)})" in html  # their own
        assert not leaks.find(hidden, [page])


def test_collect_takes_a_folder_or_an_exchange_and_says_why_an_exchange_fails(tmp_path, capsys):
    from autograder import cli

    course = ["--course-root", str(tmp_path / "course")]
    for extra in ([], [str(tmp_path), "--exchange", str(tmp_path)]):
        assert cli.main([*course, "collect", "a01", *extra]) == 2
        assert "collect takes a folder of submissions or --exchange DIR" in capsys.readouterr().err
    assert cli.main([*course, "collect", "a01", "--exchange", str(tmp_path / "nowhere")]) == 2
    assert f"no {tmp_path / 'nowhere' / COURSE / 'inbound'}: nothing was published" in capsys.readouterr().err
