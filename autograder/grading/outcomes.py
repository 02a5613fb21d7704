"""How grading each submission went, kept beside the gradebook: ``outcomes/<assignment>.json``.

Status ``graded`` (a score, maybe with notes), ``zero`` (not gradable: the reason) or
``ungraded`` (the grader itself failed: the reason; no grade is kept). Written atomically.
"""
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Outcome:
    """How grading one submission went."""
    student: str
    status: str
    seconds: float = 0.0
    reason: str = ""
    log: str = ""
    student_reason: str = ""  # what the student's feedback says: no check names or hidden-test text

    @property
    def ok(self):
        return self.status != "ungraded"


def _path(course, assignment):
    return course.root / "outcomes" / f"{assignment}.json"


def load(course, assignment):
    """``{student: Outcome}`` recorded for ``assignment``."""
    path = _path(course, assignment)
    if not path.exists():
        return {}
    return {student: Outcome(**fields) for student, fields in json.loads(path.read_text()).items()}


def save(course, assignment, outcome):
    """Record ``outcome``, replacing the student's previous one."""
    path = _path(course, assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    known = {s: asdict(o) for s, o in load(course, assignment).items()}
    known[outcome.student] = {**asdict(outcome), "log": str(outcome.log or "")}
    temporary = Path(f"{path}.{os.getpid()}")
    temporary.write_text(json.dumps(known, indent=1, sort_keys=True))
    os.replace(temporary, path)
