"""Checks that nothing secret reached students: solution and hidden-test lines in what they get.

Secrets are the distinctive lines of the notebooks' solution regions and hidden tests and of
the library regions the student build stubs. They must not appear in the release (notebooks and
library), in any feedback's hidden tests, nor in the feedback of the blank release.
"""
import html
import json
import re
from pathlib import Path

from .. import notebooks
from . import student_build
from .regions import region_lines

TAG = re.compile(r"<[^>]+>")


def visible_text(path):
    """The text a reader of ``path`` sees: notebook strings, HTML without tags, or the file itself."""
    path = Path(path)
    text = path.read_text(errors="replace")
    if path.suffix == ".ipynb":
        strings = []

        def walk(value):
            if isinstance(value, str):
                strings.append(value)
            elif isinstance(value, dict):
                [walk(v) for v in value.values()]
            elif isinstance(value, list):
                [walk(v) for v in value]
        walk(json.loads(text))
        return "\n".join(strings)
    if path.suffix == ".html":
        return html.unescape(TAG.sub("", text))
    return text


def secrets(course, assignment):
    """``(solution lines, hidden-test lines)`` of an assignment, library regions included."""
    solutions, hidden = [], []
    for path in sorted(course.folder("source", assignment).glob("*.ipynb")):
        notebook_solutions, notebook_hidden = notebooks.secret_lines(notebooks.read(path))
        solutions += notebook_solutions
        hidden += notebook_hidden
    regions = student_build.stubbed_regions(course.library, assignment, course.notebook_names())
    library_lines = [line for region in regions for line in region_lines(region)]
    return sorted(set(solutions + notebooks.distinctive(library_lines, public_lines(regions)))), sorted(set(hidden))


def public_lines(regions):
    """The stripped lines of the regions' files outside every one of ``regions``: what students
    see anyway, even where a region repeats one of them."""
    public = set()
    for path in {region.path for region in regions}:
        inside = {number for region in regions if region.path == path
                  for number in range(region.begin, region.end + 1)}
        public.update(line.strip() for number, line in enumerate(path.read_text().splitlines(), 1)
                      if number not in inside)
    return public


def find(lines, paths):
    """``[(path, line)]`` for each secret line found in one of ``paths``."""
    found = []
    for path in paths:
        text = visible_text(path)
        found += [(path, line) for line in lines if line in text]
    return found


def check(course, assignment, blank=("blank",)):
    """Every leak of ``assignment`` in its release, student build and feedback, as ``[(path, line)]``.

    ``blank``: the students who handed in the release as given (their feedback shows no solution).
    """
    solutions, hidden = secrets(course, assignment)
    released = [p for folder in (course.folder("release", assignment), course.student_build(assignment))
                for p in folder.rglob("*") if p.is_file()]  # compiled modules too: their strings
    feedback = sorted((course.root / "feedback").glob(f"*/{assignment}/*.html"))
    blank = [p for p in feedback if p.parts[-3] in blank]
    only_hidden = [line for line in hidden if line not in solutions]  # a student may write those
    return find(solutions + hidden, released) + find(only_hidden, feedback) + find(solutions, blank)
