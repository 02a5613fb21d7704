"""Library regions: the code a notebook asks students to write, marked in the library sources.

A region is the body of a function between ``# BEGIN SOLUTION aNN`` and ``# END SOLUTION``
(each alone on its line). The student build for aNN replaces every region of aNN or later by
one ``raise NotImplementedError`` line naming the notebook that implements it and the
``needle_edu.course.install`` call that puts the student's version in its place.
"""
import ast
import re
from dataclasses import dataclass
from pathlib import Path

BEGIN = re.compile(r"^(?P<indent>[ \t]*)#[ \t]*BEGIN SOLUTION\b(?P<tag>.*)$")
END = re.compile(r"^[ \t]*#[ \t]*END SOLUTION[ \t]*$")
TAG = re.compile(r"^a\d\d$")


class MarkerError(ValueError):
    """A malformed region marker; the message names the file and the line."""


@dataclass(frozen=True)
class Region:
    """One marked region: lines ``begin``..``end`` (1-based, markers included) of ``path``."""
    path: Path
    begin: int
    end: int
    tag: str
    indent: str
    function: str  # qualified name of the enclosing def, e.g. "EWiseMul.compute"


def tag_number(tag):
    """``"a03"`` -> 3: tags compare numerically."""
    return int(tag[1:])


def _enclosing_functions(source):
    """(first line, last line, qualified name) of every def in ``source``, innermost last."""
    found = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    found.append((child.lineno, child.end_lineno, name))
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return found


def find_regions(path, known_tags=None):
    """Every region of the Python file ``path``; MarkerError on any malformed marker.

    ``known_tags``: the assignment tags that exist; a region tagged otherwise is refused.
    """
    path = Path(path)
    text = path.read_text()
    lines = text.splitlines()
    regions, open_marker = [], None
    for number, line in enumerate(lines, start=1):
        begin, end = BEGIN.match(line), END.match(line)
        where = f"{path}:{number}"
        if begin:
            tag = begin["tag"].strip()
            if open_marker:
                raise MarkerError(f"{where}: nested BEGIN SOLUTION (the region opened at line "
                                  f"{open_marker[0]} is not closed)")
            if not tag:
                raise MarkerError(f"{where}: BEGIN SOLUTION without an assignment tag (write e.g. "
                                  f"'# BEGIN SOLUTION a03')")
            if not TAG.match(tag):
                raise MarkerError(f"{where}: bad assignment tag {tag!r} (expected 'a' and two digits)")
            if known_tags is not None and tag not in known_tags:
                raise MarkerError(f"{where}: tag {tag} names no existing assignment "
                                  f"(assignments: {', '.join(sorted(known_tags)) or 'none'})")
            open_marker = (number, tag, begin["indent"])
        elif end:
            if not open_marker:
                raise MarkerError(f"{where}: END SOLUTION without a BEGIN SOLUTION")
            regions.append((open_marker, number))
            open_marker = None
    if open_marker:
        raise MarkerError(f"{path}:{open_marker[0]}: BEGIN SOLUTION {open_marker[1]} is never closed")
    if not regions:
        return []
    functions = _enclosing_functions(text)
    result = []
    for (begin, tag, indent), end in regions:
        enclosing = [name for first, last, name in functions if first < begin <= last]
        if not enclosing:
            raise MarkerError(f"{path}:{begin}: region {tag} is not inside a function body")
        result.append(Region(path, begin, end, tag, indent, enclosing[-1]))
    return result


def install_call(tag, function):
    """The call that installs a student's ``function`` (a qualified name) for assignment ``tag``."""
    if "." in function:
        return f"needle_edu.course.install('{tag}', **{{'{function}': your_function}})"
    return f"needle_edu.course.install('{tag}', {function}={function})"


def stub_line(region, module, notebook):
    """The line that replaces ``region`` in a student build: what to write, where, and the call
    that puts it into the library."""
    return (f'{region.indent}raise NotImplementedError("{module}.{region.function} is yours to write in '
            f'notebook {notebook}: write it there, then run {install_call(region.tag, region.function)} '
            f'(and run it again after each change)")')


def stub_source(path, regions, module, notebooks):
    """The text of ``path`` with each region in ``regions`` replaced by its stub line.

    ``notebooks`` maps a tag to its notebook's name, e.g. ``{"a01": "a01_softmax_regression"}``.
    """
    lines = Path(path).read_text().splitlines(keepends=True)
    for region in sorted(regions, key=lambda r: r.begin, reverse=True):
        stub = stub_line(region, module, notebooks[region.tag]) + "\n"
        lines[region.begin - 1:region.end] = [stub]
    return "".join(lines)


def region_lines(region):
    """The code lines strictly between a region's markers (what a student build must not show)."""
    lines = region.path.read_text().splitlines()
    return lines[region.begin:region.end - 1]
