"""Where a course lives: the instructor sources, the library, and the generated course root.

Every folder ``aNN_<topic>`` under a notebooks folder that holds a notebook (``.ipynb`` or
jupytext MyST ``.md``) is an assignment; its tag is ``aNN``.
"""
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .grading.sandbox import Limits

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT_FOLDER = re.compile(r"^a\d\d_\w+$")
KERNEL_NAME = "needle-edu-student"
SANDBOX_KERNEL_NAME = "needle-edu-sandbox"
# Quick mode (needle_edu.course.quick_mode): training notebooks run smaller budgets. The demo and
# the tests set it; it reaches the source run at release and the sandboxed kernel (NEEDLE_EDU_*).
QUICK_VARIABLE = "NEEDLE_EDU_QUICK"


def is_notebook(path):
    """A ``.ipynb``, or a ``.md`` whose front matter says it is a jupytext notebook."""
    path = Path(path)
    if path.suffix == ".ipynb":
        return ".ipynb_checkpoints" not in path.parts
    if path.suffix != ".md":
        return False
    head = path.read_text(errors="replace")[:2000]
    return head.startswith("---") and ("jupytext" in head or "kernelspec" in head)


@dataclass
class Course:
    """One course: notebook folders, the library package, the course root and grading limits."""
    root: Path = REPO / "course_build"
    notebook_dirs: list = field(default_factory=lambda: [REPO / "notebooks"])
    library: Path = REPO / "needle_edu"
    cell_timeout: int = 120          # seconds per notebook cell (nbgrader's Execute.timeout)
    submission_budget: int = 900     # wall-clock seconds for one student's autograde
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)  # submissions graded at once
    sandboxed: bool = True           # False only when the instructor asks to grade unsandboxed
    limits: Limits = field(default_factory=Limits)  # per student kernel (see sandbox.py)

    def __post_init__(self):
        self.root = Path(self.root).resolve()
        self.notebook_dirs = [Path(d).resolve() for d in self.notebook_dirs]
        self.library = Path(self.library).resolve()

    def assignments(self):
        """``{assignment name: source folder}``, sorted by tag; refuses two folders with one tag."""
        found = {}
        for folder in self.notebook_dirs:
            for candidate in sorted(folder.glob("a[0-9][0-9]_*")):
                if (candidate.is_dir() and ASSIGNMENT_FOLDER.match(candidate.name)
                        and any(is_notebook(p) for p in candidate.iterdir())):
                    found[candidate.name] = candidate
        by_tag = {}
        for name in found:
            if name[:3] in by_tag:
                raise ValueError(f"two assignments share the tag {name[:3]}: {by_tag[name[:3]]}, {name}")
            by_tag[name[:3]] = name
        return dict(sorted(found.items()))

    def notebook_names(self):
        """``{tag: assignment name}``, e.g. ``{"a01": "a01_softmax_regression"}``."""
        return {name[:3]: name for name in self.assignments()}

    def assignment(self, name):
        """The assignment called ``name``, or whose tag is ``name`` (``a01``)."""
        assignments = self.assignments()
        if name in assignments:
            return name
        by_tag = self.notebook_names()
        if name in by_tag:
            return by_tag[name]
        raise KeyError(f"no assignment {name!r}; known: {', '.join(assignments) or 'none'}")

    def folder(self, kind, assignment, student=None):
        """A course-root folder: ``source``, ``release``, ``student_builds`` or per-student ones."""
        if student is None:
            return self.root / kind / assignment
        return self.root / kind / student / assignment

    def student_build(self, assignment):
        """The folder that holds the student build (``<it>/needle_edu``) used for grading."""
        return self.root / "student_builds" / assignment
