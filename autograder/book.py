"""Build the course book: local MathJax, release downloads, `jupyter-book build`, a leak check.

The site must work offline and hold no solution or hidden-test text; this module makes both
true or exits non-zero naming what broke.
Usage: ``python -m autograder.book [--releases DIR] [--allow-missing-chapters]``.
"""
import argparse
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from .course import is_notebook
from .release.leaks import visible_text
from .notebooks import read as read_notebook
from .notebooks import secret_lines as notebook_secret_lines
from .release.regions import find_regions, region_lines, tag_number

ROOT = Path(__file__).resolve().parents[1]
MATHJAX_PACKAGE = "mathjax@3.2.2"
MATHJAX_FILE = "package/es5/tex-svg-full.js"
MATHJAX = ROOT / "_extra" / "_static" / "mathjax" / "tex-svg-full.js"
DOWNLOADS = ROOT / "_extra" / "assignments"
RELEASES = ROOT / "course_build" / "release"
SITE = ROOT / "_build" / "html"
BUILD_OPTIONS = ["-W", "-n", "--keep-going"]

DISTINCTIVE_LENGTH = 20
BOILERPLATE = re.compile(r"^(raise NotImplementedError\b.*|#+\s*YOUR (CODE|ANSWER) HERE)$")
TEXT_SUFFIXES = {".html", ".htm", ".js", ".mjs", ".json", ".ipynb", ".txt", ".md", ".py",
                 ".css", ".svg", ".xml", ".csv", ".tex", ".rst", ".map"}
SKIPPED_IN_ZIPS = {"__pycache__", ".ipynb_checkpoints"}


class BookError(RuntimeError):
    """A step of the book build failed; the message says which and what to do."""


# --- (a) local MathJax ------------------------------------------------------------------------

def ensure_mathjax(target=MATHJAX):
    """Put MathJax's self-contained SVG build at ``target``, fetching it with `npm pack` if absent.

    The file is generated (``_extra/`` is git-ignored): the npm registry is needed once, the
    book build itself never loads anything from the network.
    """
    if target.is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise BookError(f"MathJax is missing ({target}) and npm is not installed to fetch it: "
                        "install npm (Debian: apt-get install -y npm), or copy "
                        f"{MATHJAX_FILE} of {MATHJAX_PACKAGE} there by hand.")
    with tempfile.TemporaryDirectory() as scratch:
        packed = subprocess.run([npm, "pack", MATHJAX_PACKAGE, "--silent"], cwd=scratch,
                                capture_output=True, text=True)
        if packed.returncode != 0:
            raise BookError(f"`npm pack {MATHJAX_PACKAGE}` failed:\n{packed.stderr.strip()}")
        tarball = next(Path(scratch).glob("*.tgz"))
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")  # never a truncated file at target
        with tarfile.open(tarball) as archive, open(partial, "wb") as out:
            shutil.copyfileobj(archive.extractfile(MATHJAX_FILE), out)
        partial.replace(target)
    return target


# --- (b) release downloads --------------------------------------------------------------------

def copy_releases(releases=RELEASES, downloads=DOWNLOADS):
    """Copy each release's notebook, and a zip of its folder, into the site's downloads.

    A release is ``<releases>/<name>/<name>.ipynb``; stale downloads are removed first.
    Returns the names copied (none when no release has been built yet).
    """
    shutil.rmtree(downloads, ignore_errors=True)
    downloads.mkdir(parents=True)
    names = []
    for folder in sorted(p for p in Path(releases).glob("*") if p.is_dir()):
        notebook = folder / f"{folder.name}.ipynb"
        if not notebook.is_file():
            continue
        shutil.copyfile(notebook, downloads / notebook.name)
        with zipfile.ZipFile(downloads / f"{folder.name}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(folder.rglob("*")):
                if path.is_file() and not SKIPPED_IN_ZIPS.intersection(path.parts):
                    zf.write(path, Path(folder.name) / path.relative_to(folder))
        names.append(folder.name)
    return names


# --- (c) the build ----------------------------------------------------------------------------

def venv_python():
    """The project's virtual environment's python, or this one when there is no .venv."""
    python = ROOT / ".venv" / "bin" / "python"
    return python if python.exists() else Path(sys.executable)


def _page_exists(root, entry):
    return any((root / f"{entry}{suffix}").is_file() for suffix in ("", ".md", ".ipynb", ".rst"))


def _without_missing(entries, root, missing):
    """The toc ``entries`` (chapters or sections) whose files exist, recording the others."""
    kept = []
    for entry in entries:
        if "file" in entry and not _page_exists(root, entry["file"]):
            missing.append(entry["file"])
            continue
        entry = dict(entry)
        for key in ("parts", "chapters", "sections"):
            if key in entry:
                entry[key] = _without_missing(entry[key], root, missing)
        if entry.get("chapters") == [] and "file" not in entry:  # a part left empty
            continue
        kept.append(entry)
    return kept


def toc_without_missing(toc, root=ROOT):
    """``toc`` (a parsed _toc.yml) without the pages that do not exist, and their names."""
    missing = []
    toc = dict(toc)
    for key in ("parts", "chapters"):
        if key in toc:
            toc[key] = _without_missing(toc[key], root, missing)
    return toc, missing


def run_jupyter_book(root=ROOT, toc=None):
    """`jupyter-book build . -W -n --keep-going`: every Sphinx warning and failing cell fails it.

    The build starts clean, so no page of an earlier build survives into the site.
    """
    shutil.rmtree(root / "_build", ignore_errors=True)
    python = venv_python()
    command = [python, python.parent / "jupyter-book", "build", ".", *BUILD_OPTIONS]
    if toc is not None:
        command += ["--toc", toc]
    return subprocess.run(command, cwd=root).returncode


# --- (d) the leak check -----------------------------------------------------------------------

def secret_lines(root=ROOT):
    """The distinctive lines of every solution and hidden test: {line: (file, assignment tag)}.

    The same secrets the course tool keeps out of releases: nbgrader regions of the notebooks
    in ``notebooks/aNN_*/`` and tagged ``# BEGIN SOLUTION aNN`` regions of ``needle_edu/``.
    """
    root = Path(root)
    found = {}
    for folder in sorted((root / "notebooks").glob("a[0-9][0-9]_*")):
        for path in sorted(p for p in folder.rglob("*") if is_notebook(p)):
            solutions, hidden_tests = notebook_secret_lines(read_notebook(path))
            for line in solutions + hidden_tests:
                found.setdefault(line, (str(path.relative_to(root)), folder.name[:3]))
    for path in sorted((root / "needle_edu").rglob("*.py")):
        for region in find_regions(path):
            for line in region_lines(region):
                found.setdefault(line.strip(), (str(path.relative_to(root)), region.tag))
    return {line: where for line, where in found.items()
            if len(line) >= DISTINCTIVE_LENGTH and not BOILERPLATE.match(line)}


# A release download of assignment aNN: ``assignments/aNN_name.ipynb`` or a member of its zip.
RELEASE_DOWNLOAD = re.compile(r"(?:^|/)(a\d\d)_[^/!]*\.(?:ipynb|zip)(?:!|$)")


def _may_contain(name, tag):
    """Whether the published file ``name`` may hold a secret of assignment ``tag``.

    Only release downloads may, and only for earlier assignments: the student library of aNN
    keeps the reference code of every assignment before aNN (DESIGN §4), whose deadlines are past.
    """
    release = RELEASE_DOWNLOAD.search(name)
    return release is not None and tag_number(tag) < tag_number(release.group(1))


@dataclass(frozen=True)
class Leak:
    """A secret line found in a published file (``archive.zip!member`` for zip members)."""

    file: str
    line: str
    source: str


def published_texts(site):
    """Yield (name, visible text) for every text file of the site and every text file in its zips."""
    site = Path(site)
    for path in sorted(p for p in site.rglob("*") if p.is_file()):
        name = str(path.relative_to(site))
        if path.suffix.lower() == ".zip":
            with tempfile.TemporaryDirectory() as scratch, zipfile.ZipFile(path) as zf:
                for member in zf.namelist():
                    if Path(member).suffix.lower() in TEXT_SUFFIXES:
                        yield f"{name}!{member}", visible_text(zf.extract(member, scratch))
        elif path.suffix.lower() in TEXT_SUFFIXES:
            yield name, visible_text(path)


def find_leaks(site=SITE, secrets=None):
    """Every (file, secret line) pair where a solution or hidden-test line occurs in the site."""
    secrets = secret_lines() if secrets is None else secrets
    return [Leak(name, line, source)
            for name, text in published_texts(site)
            for line, (source, tag) in secrets.items()
            if line in text and not _may_contain(name, tag)]


REMOTE_ASSET = re.compile(
    r"""<(?:script|img|iframe|source)\b[^>]*\bsrc\s*=\s*["']?(?:https?:)?//"""
    r"""|<link\b[^>]*\bhref\s*=\s*["']?(?:https?:)?//"""
    r"""|@import\s+(?:url\()?\s*["']?(?:https?:)?//"""
    r"""|url\(\s*["']?(?:https?:)?//""", re.I)


def remote_assets(site=SITE):
    """(file, snippet) for every script, stylesheet, font or image the site would fetch online.

    Ordinary links (``<a href="https://...">``) are allowed: they load nothing by themselves.
    """
    found = []
    for path in sorted(site.rglob("*")):
        if path.suffix.lower() in (".html", ".htm", ".css") and path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            found += [(str(path.relative_to(site)), text[m.start():m.start() + 120])
                      for m in REMOTE_ASSET.finditer(text)]
    return found


# --- the command ------------------------------------------------------------------------------

def build(releases=RELEASES, allow_missing=False):
    """All four steps; returns the exit status and prints what failed and the build time."""
    started = time.monotonic()
    toc, missing = toc_without_missing(yaml.safe_load((ROOT / "_toc.yml").read_text()))
    if missing and not allow_missing:
        print(f"book: _toc.yml names pages that do not exist: {', '.join(missing)} "
              "(--allow-missing-chapters builds without them)", file=sys.stderr)
        return 2
    try:
        ensure_mathjax()
    except BookError as error:
        print(f"book: {error}", file=sys.stderr)
        return 2
    copied = copy_releases(releases)
    print(f"book: assignment downloads: {', '.join(copied) or 'none (no release built yet)'}")
    with tempfile.TemporaryDirectory() as scratch:
        partial_toc = None
        if missing:
            print(f"book: building without the missing pages {', '.join(missing)}")
            partial_toc = Path(scratch) / "_toc.yml"
            partial_toc.write_text(yaml.safe_dump(toc, sort_keys=False))
        status = run_jupyter_book(toc=partial_toc)
    print(f"book: build time {time.monotonic() - started:.1f} s")
    if status != 0:
        print(f"book: jupyter-book build failed (exit status {status})", file=sys.stderr)
        return status
    problems = [f"solution text in {leak.file}: {leak.line!r} (from {leak.source})"
                for leak in find_leaks()]
    problems += [f"remote asset in {file}: {snippet!r}" for file, snippet in remote_assets()]
    for problem in problems:
        print(f"book: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"book: site in {SITE.relative_to(ROOT)}; no leaks, no remote assets")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder.book", description=__doc__)
    parser.add_argument("--releases", type=Path, default=RELEASES, metavar="DIR",
                        help="folder of student releases to offer as downloads "
                             "(default: course_build/release)")
    parser.add_argument("--allow-missing-chapters", action="store_true",
                        help="build without the _toc.yml pages that do not exist yet "
                             "(default: fail)")
    args = parser.parse_args(argv)
    return build(args.releases, allow_missing=args.allow_missing_chapters)


if __name__ == "__main__":
    sys.exit(main())
