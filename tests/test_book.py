"""The book builds offline without warnings, publishes no solution text, and renders in a browser.

The book is built once per test session (``python -m autograder.book``); the browser checks run
Debian's headless Chromium on the built pages and keep their screenshots in _build/screenshots/.
"""
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest
from PIL import Image

from autograder import book

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
LECTURE = "book/lecture02_softmax_regression"
CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="apt-get install chromium")
# Any HTTP(S) request of the build goes to a closed port and fails, so the build is offline.
OFFLINE = {name: "http://127.0.0.1:9" for name in
           ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")}


def run_build():
    """Build the book as the Makefile does, but with the network closed; return what happened."""
    book.ensure_mathjax()  # a setup step, the one that may use the npm registry
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "autograder.book", "--allow-missing-chapters"],
                          cwd=ROOT, env={**os.environ, **OFFLINE, "no_proxy": "", "NO_PROXY": ""},
                          capture_output=True, text=True, timeout=900)
    return {"returncode": done.returncode, "output": done.stdout + done.stderr,
            "seconds": time.monotonic() - started}


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """One build per test session: under pytest-xdist the first worker builds, the others wait."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return run_build()
    shared = tmp_path_factory.getbasetemp().parent  # the same folder for every worker of this run
    with open(shared / "book.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result_file = shared / "book.json"
        if not result_file.exists():
            result_file.write_text(json.dumps(run_build()))
        return json.loads(result_file.read_text())


def test_the_book_builds_offline_without_warnings(build):
    assert build["returncode"] == 0, build["output"][-5000:]
    assert "build succeeded" in build["output"]
    assert "WARNING:" not in build["output"], build["output"][-5000:]
    assert re.search(r"book: build time \d+\.\d s", build["output"])
    assert (SITE / "_static" / "mathjax" / "tex-svg-full.js").is_file()


def test_the_site_fetches_nothing_from_the_network(build):
    assert build["returncode"] == 0
    assert book.remote_assets(SITE) == []
    for page in SITE.rglob("*.html"):
        for source in re.findall(r"<script[^>]*\bsrc=\"([^\"]*mathjax[^\"]*)\"", page.read_text()):
            assert "//" not in source, f"{page}: MathJax from {source}"


def test_remote_assets_are_recognised(tmp_path):
    (tmp_path / "page.html").write_text(
        '<a href="https://example.org/">a link is fine</a>\n'
        '<script defer src="https://cdn.example.org/mathjax/tex-svg.js"></script>\n'
        '<link rel="stylesheet" href="//fonts.example.org/css?family=Lato">\n')
    (tmp_path / "theme.css").write_text("@font-face { src: url('https://fonts.example.org/a.woff2') }")
    found = sorted(name for name, _ in book.remote_assets(tmp_path))
    assert found == ["page.html", "page.html", "theme.css"]


def test_the_site_holds_no_solution_or_hidden_test_text(build):
    assert build["returncode"] == 0
    assert "no leaks" in build["output"]
    assert book.find_leaks(SITE) == []


def planted_course(root):
    """A tiny instructor source: a notebook with a solution and a hidden test, a library region."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "def area(r):\n    ### BEGIN SOLUTION\n    return 3.14159 * r * r  # planted answer\n"
            "    ### END SOLUTION",
            metadata={"nbgrader": {"solution": True, "grade": False, "grade_id": "area"}}),
        nbformat.v4.new_code_cell(
            "assert area(0) == 0\n### BEGIN HIDDEN TESTS\nassert abs(area(2.0) - 12.56636) < 1e-9\n"
            "### END HIDDEN TESTS",
            metadata={"nbgrader": {"solution": False, "grade": True, "grade_id": "test_area",
                                   "points": 1}}),
    ]
    (root / "notebooks" / "a01_demo").mkdir(parents=True)
    nbformat.write(notebook, root / "notebooks" / "a01_demo" / "a01_demo.ipynb")
    (root / "needle_edu").mkdir()
    (root / "needle_edu" / "demo.py").write_text(
        "def volume(r):\n    # BEGIN SOLUTION a01\n    return 4.18879 * r ** 3  # planted library answer\n"
        "    # END SOLUTION\n")


def test_a_planted_leak_is_caught(tmp_path):
    planted_course(tmp_path / "repo")
    secrets = book.secret_lines(tmp_path / "repo")
    assert set(secrets) == {"return 3.14159 * r * r  # planted answer",
                            "assert abs(area(2.0) - 12.56636) < 1e-9",
                            "return 4.18879 * r ** 3  # planted library answer"}
    site = tmp_path / "site"
    site.mkdir()
    (site / "clean.html").write_text("<p>The area of a disc grows with the square of r.</p>")
    # As Pygments highlights it: the line is there only once tags and entities are removed.
    (site / "leaky.html").write_text(
        '<pre><span class="k">return</span> <span class="mf">3.14159</span> <span class="o">*</span>'
        ' r <span class="o">*</span> r  <span class="c1"># planted answer</span></pre>')
    with zipfile.ZipFile(site / "a01_demo.zip", "w") as zf:
        zf.write(tmp_path / "repo" / "needle_edu" / "demo.py", "a01_demo/needle_edu/demo.py")
    leaks = book.find_leaks(site, secrets)
    assert sorted(leak.file for leak in leaks) == ["a01_demo.zip!a01_demo/needle_edu/demo.py",
                                                   "leaky.html"]


def chromium(*arguments):
    """Run headless Chromium with the flags that work offline as root; return its stdout."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={profile}", "--virtual-time-budget=8000",
             "--window-size=1280,1600", *arguments],
            capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def render(page):
    """The DOM of ``page`` after its scripts ran, and a screenshot of it (checked non-trivial)."""
    url = (SITE / f"{page}.html").as_uri()
    dom = chromium("--dump-dom", url)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    png = SCREENSHOTS / f"{page.replace('/', '_')}.png"
    png.unlink(missing_ok=True)
    chromium(f"--screenshot={png}", url)
    assert png.stat().st_size > 10_000, f"{png}: {png.stat().st_size} bytes"
    pixels = np.asarray(Image.open(png).convert("L"))
    assert pixels.std() > 5 and len(np.unique(pixels)) > 20, f"{png} looks blank"
    return dom


@needs_chromium
def test_the_intro_page_renders(build):
    assert build["returncode"] == 0
    dom = render("book/intro")
    assert "<h1>Deep Learning Systems" in dom
    assert "Using the course" in dom and "Lecture notes" in dom  # the navigation
    assert "mjx-merror" not in dom


@needs_chromium
def test_the_assignments_page_lists_the_nine_assignments(build):
    assert build["returncode"] == 0
    dom = render("book/assignments")
    assert all(f"<td>a0{n}</td>" in dom for n in range(1, 10))


@needs_chromium
@pytest.mark.parametrize("lecture", [LECTURE, "book/lecture06_optimization_and_initialization",
                                     "book/lecture09_normalization_and_regularization",
                                     "book/lecture05_implementing_autodiff",
                                     "book/lecture08_implementing_nn_library",
                                     "book/lecture15_training_large_models",
                                     "book/lecture23_model_deployment",
                                     "book/lecture10_convolutional_networks",
                                     "book/lecture11_hardware_acceleration", "book/lecture12_gpu_acceleration",
                                     "book/lecture13_implementing_ndarray",
                                     "book/lecture14_implementing_convolutions",
                                     "book/lecture16_generative_models", "book/lecture17_implementing_gans",
                                     "book/lecture18_sequence_modeling", "book/lecture19_implementing_rnns",
                                     "book/lecture20_transformers_and_attention",
                                     "book/lecture21_implementing_transformers"])
def test_the_lecture_shows_rendered_math_and_its_figure(build, lecture):
    if not (ROOT / f"{lecture}.md").exists():
        pytest.skip(f"{lecture}.md is not written yet")
    assert build["returncode"] == 0
    dom = render(lecture)
    assert "<mjx-container" in dom, "MathJax did not render the math"
    assert "mjx-merror" not in dom and "data-mjx-error" not in dom
    figures = [src for src in re.findall(r"<img[^>]*\bsrc=\"([^\"]+)\"", dom)
               if src.endswith(".png") or src.startswith("data:image/png")]
    assert figures, "no figure on the page"
    for src in figures:
        if not src.startswith("data:"):
            width, height = Image.open(SITE / "book" / src).size
            assert width > 0 and height > 0, src


@needs_chromium
def test_the_optimizer_animation_plays_offline(build):
    """Lecture 6's animation: matplotlib's player with its frames inline, buttons without icon fonts."""
    assert build["returncode"] == 0
    dom = render("book/lecture06_optimization_and_initialization")
    assert dom.count('<img id="_anim_img') == 1, "one animation"
    assert re.search(r"frames\[29\] = \"data:image/png;base64", dom), "its 30 frames are in the page"
    assert 'title="Play"' in dom and "font-awesome" not in dom


def test_a_later_release_may_ship_earlier_reference_code_but_nothing_else(tmp_path):
    """DESIGN §4: the a02 student library keeps a01's reference code; a01's may not hold a02's."""
    secrets = {"return 4.18879 * r ** 3  # a01 reference": ("needle_edu/demo.py", "a01"),
               "return 2.71828 * r ** 2  # a02 reference": ("needle_edu/demo.py", "a02")}
    site = tmp_path / "site"
    (site / "assignments").mkdir(parents=True)
    for number in ("a01", "a02"):
        with zipfile.ZipFile(site / "assignments" / f"{number}_demo.zip", "w") as zf:
            zf.writestr(f"{number}_demo/needle_edu/demo.py", "\n".join(secrets))
    (site / "page.html").write_text("<pre>return 4.18879 * r ** 3  # a01 reference</pre>")
    leaks = {(leak.file, leak.line[-15:]) for leak in book.find_leaks(site, secrets)}
    assert leaks == {("assignments/a01_demo.zip!a01_demo/needle_edu/demo.py", "# a01 reference"),
                     ("assignments/a01_demo.zip!a01_demo/needle_edu/demo.py", "# a02 reference"),
                     ("assignments/a02_demo.zip!a02_demo/needle_edu/demo.py", "# a02 reference"),
                     ("page.html", "# a01 reference")}
