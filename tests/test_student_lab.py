"""`make lab`: a student's JupyterLab on a release, checked through its REST API and in Chromium.

A module-wide fixture releases the first assignment into a private course root, puts the
completed example (the source's solutions pasted into the release) beside the blank notebook,
starts ``python -m autograder.student_lab`` on it and fetches the assignment from the lab's
exchange into the student's home folder, as the Assignments tab does. The browser test drives the lab as a
student would (Run All, run a cell, Validate) with Debian's Chromium under Playwright, and
finds the messages a student needs: the stub's install call, a failed check's values, the
test cell that names the cell it needs, Validate's "Success!".
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "needle-edu-test-token"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path):
    separator = "&" if "?" in path else "?"
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}{separator}token={TOKEN}", timeout=20) as response:
        return response.status, response.read().decode()


def post(port, path, **form):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}?token={TOKEN}",
                                     data=urllib.parse.urlencode(form).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read().decode())


def listed(port, assignment):
    """The Assignments tab's entry for ``assignment``: its status and notebooks."""
    reply = json.loads(get(port, "/assignments?course_id=needle-edu")[1])
    assert reply["success"], reply
    return [entry for entry in reply["value"] if entry["assignment_id"] == assignment]


def course_tool(course, *args):
    subprocess.run([sys.executable, "-m", "autograder", "--course-root", str(course), *args],
                   cwd=ROOT, check=True, capture_output=True)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(port, assignment, release folder) of a running student lab with blank and completed notebooks."""
    tmp = tmp_path_factory.mktemp("student_lab")
    assignment = sorted(p.name for p in (ROOT / "notebooks").glob("a[0-9][0-9]_*") if p.is_dir())[0]
    course = tmp / "course"
    course_tool(course, "release", assignment)
    course_tool(course, "examples", assignment)
    release = course / "release" / assignment
    shutil.copy(course / "examples" / "correct" / assignment / f"{assignment}.ipynb",
                release / f"{assignment}_completed.ipynb")
    # For the browser: every cell rendered (JupyterLab draws only the visible ones by default), no news.
    settings = tmp / "lab" / "config" / "lab" / "user-settings" / "@jupyterlab"
    for plugin, values in {"notebook-extension/tracker": {"windowingMode": "none"},
                           "apputils-extension/notification": {"fetchNews": "false"}}.items():
        (settings / plugin).parent.mkdir(parents=True, exist_ok=True)
        (settings / f"{plugin}.jupyterlab-settings").write_text(json.dumps(values))
    port = free_port()
    command = [sys.executable, "-m", "autograder.student_lab", str(course / "release"), "--root", str(tmp / "lab"),
               f"--port={port}", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}"]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                get(port, "/api/status")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    server.kill()
                    raise RuntimeError("the student lab did not start:\n" + server.stdout.read())
                time.sleep(0.5)
        before = listed(port, assignment)
        # The student fetches the assignment, as the Assignments tab's Fetch button does.
        post(port, "/assignments/fetch", course_id="needle-edu", assignment_id=assignment)
        yield port, assignment, release, before, tmp / "lab"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def test_the_lab_offers_only_the_student_kernel_and_nbgrader_student_tools(lab):
    port, assignment, *_ = lab
    specs = json.loads(get(port, "/api/kernelspecs")[1])
    assert specs["default"] == "needle-edu-student" and list(specs["kernelspecs"]) == ["needle-edu-student"]
    argv = specs["kernelspecs"]["needle-edu-student"]["spec"]["argv"]
    assert argv[1:4] == ["-m", "needle_edu.jupyter_kernel", "launch"]
    assert argv[0] != sys.executable and Path(argv[0]).parts[-3:] == ("env", "bin", "python")  # the student environment
    page = get(port, "/lab")[1]
    disabled = json.loads(re.search(r'"disabledExtensions": (\[[^]]*\])', page).group(1))
    assert {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
            "@jupyter/nbgrader:course-list"} <= set(disabled)
    assert not {"@jupyter/nbgrader:validate-assignment", "@jupyter/nbgrader:assignment-list"} & set(disabled)
    with pytest.raises(urllib.error.HTTPError) as missing:
        get(port, "/formgrader")
    assert missing.value.code == 404
    model = json.loads(get(port, f"/api/contents/{assignment}/{assignment}.ipynb?content=1")[1])
    assert model["content"]["metadata"]["kernelspec"]["name"] == "needle-edu-student"
    source = "".join(cell["source"] for cell in model["content"]["cells"])
    assert "### BEGIN SOLUTION" not in source and "### BEGIN HIDDEN TESTS" not in source


def test_the_assignments_tab_fetches_from_the_exchange_and_submits_to_it(lab):
    port, assignment, release, before, root = lab
    assert [entry["status"] for entry in before] == ["released"]  # listed before the fetch
    fetched, = [entry for entry in listed(port, assignment) if entry["status"] == "fetched"]
    assert fetched["path"] == assignment  # in the student's home, which the lab opens on
    assert (root / "home" / assignment / f"{assignment}.ipynb").read_bytes() == \
        (release / f"{assignment}.ipynb").read_bytes()
    assert (root / "home" / assignment / "needle_edu").is_dir()  # the student build comes along
    reply = post(port, "/assignments/submit", course_id="needle-edu", assignment_id=assignment)
    assert "submitted" in {entry["status"] for entry in reply["value"]}, reply
    handed_in, = (root / "exchange" / "needle-edu" / "inbound").iterdir()
    assert handed_in.name.split("+")[1] == assignment  # student+assignment+time+random, as nbgrader names it
    assert (handed_in / f"{assignment}.ipynb").exists()


def test_make_lab_runs_the_student_lab_on_the_releases():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nlab:", 1)[1].split("\n\n", 1)[0]
    assert "-m autograder.student_lab course_build/release" in recipe and "jupyter lab" not in recipe


# --- in the browser ---------------------------------------------------------------------

def open_notebook(page, port, path):
    page.goto(f"http://127.0.0.1:{port}/lab/tree/{path}?reset&token={TOKEN}")  # reset: no tab of before
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    page.get_by_text(re.compile(r"needle-edu student\) \| Idle")).wait_for(timeout=120_000)  # the kernel is up


PROMPTS = "[...document.querySelectorAll('.jp-Notebook .jp-InputPrompt')].map(p => p.textContent)"


def wait_until_idle(page, timeout=600_000):
    """Until some cell has run and none is running or waiting (its prompt shows '*')."""
    page.wait_for_function(f"() => {{ const p = {PROMPTS}; return p.some(t => /\\d/.test(t)) && !p.some(t => t.includes('*')); }}",
                           timeout=timeout)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=timeout)


def run_all(page):
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    wait_until_idle(page)


def cell_with(page, text):
    return page.locator(".jp-Notebook .jp-CodeCell").filter(has_text=text).first


def run_cell(page, cell, code=None):
    """Run ``cell`` (typing ``code`` into it first); its output's text."""
    cell = cell.element_handle()  # the same cell after it ran (a locator would look again)
    prompt = cell.query_selector(".jp-InputPrompt")
    before = prompt.inner_text()
    cell.query_selector(".jp-InputArea-editor").click()
    if code:
        page.keyboard.type(code)
    page.keyboard.press("Shift+Enter")
    page.wait_for_function("([prompt, before]) => prompt.textContent !== before && /\\d/.test(prompt.textContent)",
                           arg=[prompt, before], timeout=600_000)
    return cell.query_selector(".jp-OutputArea").inner_text()


def validate(page):
    page.locator(".jp-NotebookPanel-toolbar").get_by_text("Validate", exact=True).click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=600_000)
    text = dialog.inner_text()
    dialog.get_by_role("button").last.click()
    return text


@pytest.mark.slow
def test_a_student_runs_validates_and_reads_the_messages_in_chromium(lab, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    if not Path(CHROMIUM).exists():
        pytest.skip("no Chromium (make setup installs Debian's chromium)")
    port, assignment, *_ = lab
    tag, screenshots = assignment[:3], tmp_path
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)

            # The blank notebook: Run All stops at the first unwritten function.
            open_notebook(page, port, f"{assignment}/{assignment}.ipynb")
            run_all(page)
            first_error = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").first
            assert "NotImplementedError" in first_error.inner_text()
            # The training cell, run before the install cell: the library's stub says what to do.
            output = run_cell(page, cell_with(page, "history = train_"))
            assert f"is yours to write in notebook {assignment}: write it there, then run" in output
            assert f"needle_edu.course.install('{tag}'," in output
            # A failed check shows the values, and no frame of check.py.
            page.locator(".jp-NotebookPanel-toolbar [data-command='notebook:insert-cell-below']").click()
            new_cell = page.locator(".jp-Notebook .jp-CodeCell.jp-mod-active.jp-mod-noOutputs")
            output = run_cell(page, new_cell, 'from needle_edu import check; check.close("demo", [1.0, -1.0], [1.0, 0.5])')
            assert "at (1,): got -1.0, expected 0.5" in output and "check.py" not in output
            # Validate lists the failed test cells; the training test names the cell it needs.
            text = validate(page)
            assert "NotImplementedError" in text
            assert "this test needs history from the training cell above: run that cell first" in text

            # The completed notebook: every cell runs without an error, and Validate passes.
            open_notebook(page, port, f"{assignment}/{assignment}_completed.ipynb")
            run_all(page)
            errors = [t for t in page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
                      .all_inner_texts() if "Error" in t or "Traceback" in t]
            assert not errors, errors[0][:2000]
            assert page.locator(".jp-InputPrompt").filter(has_text=re.compile(r"\[\s\]")).count() == 0
            assert "Success! Your notebook passes all the tests." in validate(page)
        except Exception:
            page.screenshot(path=str(screenshots / "failed.png"))  # pytest keeps the last few tmp folders
            raise
        finally:
            browser.close()
