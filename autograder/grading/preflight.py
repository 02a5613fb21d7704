"""Makes a submission gradable before nbgrader sees it, or says why it gets zero.

A renamed notebook gets its name back; duplicated cells of one grade_id are reduced to one;
deleted or unmarked test cells are restored from the release (nbgrader then puts back their
hidden tests). A corrupt notebook or one of another assignment cannot be graded: zero, with why.
"""
import copy
import warnings
from pathlib import Path

from .. import notebooks


class Ungradable(ValueError):
    """The submission gets zero; the message says why."""


def _ids(notebook):
    return {notebooks.nbgrader_meta(c).get("grade_id") for c in notebook.cells} - {None}


def _why_corrupt(error):
    """What is wrong with a notebook file, in a line that quotes none of its content."""
    import json
    cause = error.__cause__ or error.__context__
    if isinstance(error, json.JSONDecodeError) or isinstance(cause, json.JSONDecodeError):
        error = error if isinstance(error, json.JSONDecodeError) else cause
        return f"it is not JSON (line {error.lineno}, column {error.colno}: {error.msg})"
    if type(error).__name__ == "NotJSONError":
        return "it is not JSON"
    if isinstance(error, UnicodeDecodeError):
        return "it is not UTF-8 text"
    if type(error).__name__ == "ValidationError":  # jsonschema's, through nbformat
        where = "/".join(str(p) for p in getattr(error, "absolute_path", [])) or "the top level"
        return f"it does not follow the notebook format (at {where}: {getattr(error, 'validator', 'schema')} check)"
    return f"it cannot be read as a notebook ({type(error).__name__})"


def _read(path):
    import nbformat
    try:
        notebook = notebooks.read(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nbformat renames duplicated cell ids, and says so
            nbformat.validate(notebook)
        return notebook
    except Exception as error:  # JSON, nbformat schema, encoding: all mean "corrupt"
        raise Ungradable(f"{path.name} is not a valid notebook: {_why_corrupt(error)}") from None


def _find(folder, name, release, notes):
    """The submitted notebook for release notebook ``name``, renamed back if the student renamed it."""
    wanted = folder / name
    if wanted.exists():
        return wanted
    others = sorted(p for p in folder.glob("*.ipynb") if p.name not in release)
    for path in others:
        try:
            if _ids(notebooks.read(path)) & _ids(release[name]):
                path.rename(wanted)
                notes.append(f"notebook renamed: {path.name!r} was handed in and graded as {name}")
                return wanted
        except Exception:
            continue
    found = ", ".join(p.name for p in others) or "no notebook"
    raise Ungradable(f"{name} is missing (found: {found}, not a notebook of this assignment)")


def _deduplicate(notebook):
    """Keep the last cell of each grade_id (nbgrader's choice); drop duplicated test cells entirely."""
    seen, kept, dropped = set(), [], 0
    for cell in reversed(notebook.cells):
        grade_id = notebooks.nbgrader_meta(cell).get("grade_id")
        if grade_id is not None and grade_id in seen:
            dropped += 1
            if notebooks.is_test(cell):
                continue
            cell.metadata.pop("nbgrader", None)
        seen.add(grade_id)
        kept.append(cell)
    notebook.cells = kept[::-1]
    return dropped


def _same_cell(released, submitted):
    """A submitted cell that is the released one: same grade_id, else same cell id or same source."""
    grade_id = notebooks.nbgrader_meta(released).get("grade_id")
    if grade_id is not None:
        return notebooks.nbgrader_meta(submitted).get("grade_id") == grade_id
    if notebooks.nbgrader_meta(submitted).get("grade_id") is not None or released.cell_type != submitted.cell_type:
        return False
    if released.get("id") and released.get("id") == submitted.get("id"):
        return True
    return bool(released.source.strip()) and released.source.strip() == submitted.source.strip()


def _restore(notebook, release):
    """Put each test cell of ``release`` missing from ``notebook`` back where it was released.

    It goes right after the nearest released cell before it that the submission still holds
    (graded or not: a training cell that an accuracy test needs counts), else at the top.
    """
    restored = []
    for index, cell in enumerate(release.cells):
        grade_id = notebooks.nbgrader_meta(cell).get("grade_id")
        if not notebooks.is_test(cell) or grade_id in _ids(notebook):
            continue
        position = 0
        for previous in reversed(release.cells[:index]):
            matches = [i for i, c in enumerate(notebook.cells) if _same_cell(previous, c)]
            if matches:
                position = matches[-1] + 1
                break
        notebook.cells.insert(position, copy.deepcopy(cell))
        restored.append(grade_id)
    return restored


def repair(folder, release_folder):
    """Fix the submission in ``folder`` in place; notes on what was fixed. Ungradable when it cannot be."""
    folder = Path(folder)
    release = {p.name: notebooks.read(p) for p in sorted(Path(release_folder).glob("*.ipynb"))}
    notes = []
    for name, released in release.items():
        path = _find(folder, name, release, notes)
        notebook = _read(path)
        if not _ids(notebook) & _ids(released):
            raise Ungradable(f"{name} holds none of this assignment's cells (another assignment?)")
        if dropped := _deduplicate(notebook):
            notes.append(f"{dropped} duplicated cell(s) removed")
        if restored := _restore(notebook, released):
            notes.append(f"test cell(s) restored: {', '.join(restored)}")
        notebooks.write(notebook, path)
    return notes
