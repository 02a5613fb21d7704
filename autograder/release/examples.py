"""Example submissions made from the source at build time: ``correct``, ``blank`` and ``wrong``.

``correct`` pastes the source's solutions into the release notebook (as a student who got
everything right would hand it in), ``blank`` is the release as given, and ``wrong`` is
``correct`` with every solution function made subtly wrong (see :func:`make_wrong`), the C++
kernels of ``%%cpu_kernel`` cells included.
"""
import ast
import re
import shutil
from pathlib import Path

from IPython.core.inputtransformer2 import TransformerManager

from .. import notebooks

KINDS = ("correct", "blank", "wrong")

# Prepended to each altered solution cell of the wrong example. A decorated function still runs,
# but its results are too large by 10% + 0.1 (or 1.1 x + 0.1 for objects without abs(), like
# Tensors), and the float arrays it changes in place change 10% more.
WRONG_HELPERS = '''\
def _needle_edu_perturb(value):  # the course tool's "wrong" example: results too large
    if value is None or isinstance(value, (bool, str, bytes)):
        return value
    if isinstance(value, (tuple, list)):
        try:
            return type(value)(_needle_edu_perturb(v) for v in value)
        except TypeError:
            return value
    try:
        return value + 0.1 * abs(value) + 0.1  # larger than value, whatever its sign
    except Exception:
        pass
    try:
        return value * 1.1 + 0.1  # objects without abs(), such as needle_edu Tensors
    except Exception:
        return value


def _needle_edu_wrong(function):
    import functools

    @functools.wraps(function)
    def wrong(*args, **kwargs):
        import numpy
        before = [a.copy() if isinstance(a, numpy.ndarray) and a.dtype.kind == "f" else None for a in args]
        result = function(*args, **kwargs)
        for array, old in zip(args, before):
            if old is not None and not numpy.array_equal(array, old):
                array += 0.1 * (array - old)  # a step 10% too long
        return _needle_edu_perturb(result)
    return wrong

'''


def _functions(tree):
    return [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _targets(tree, first, last):
    """Plain names assigned at the top level between lines ``first`` and ``last`` (1-based)."""
    names = []
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and first < node.lineno < last:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name) and t.id not in names]
    return names


# In a %%cpu_kernel cell (C++), a kernel whose body ends a solution region makes each element of
# out that it wrote too large by 10% + 0.1, as the Python ones do; its element count by kind.
WRONG_CPP = ("{{ const idx_t _wrong = {count};  // the course tool's \"wrong\" example: results too large\n"
             "  for (idx_t i = 0; i < _wrong; ++i) out[i] += 0.1f * std::abs(out[i]) + 0.1f; }}")
OUT_SIZE = {"compact": "[&] { idx_t n = 1; for (idx_t d : shape) n *= d; return n; }()",
            "matmul": "m * p", "ewise_add": "size"}
CPU_KERNEL = re.compile(r"^%%cpu_kernel\b")


def make_wrong_cpp(source):
    """The ``%%cpu_kernel`` cell ``source`` with each kernel whose solution region ends its body made
    wrong (a line after the region perturbs ``out``); ``source`` unchanged when there is none."""
    from needle_edu.cpu_kernel import kind

    lines = source.splitlines()
    insertions = []
    for first, last in notebooks.regions(source, notebooks.SOLUTION_BEGIN, notebooks.SOLUTION_END):
        names = [m.group(1) for line in lines[:first] if (m := re.match(r"\s*void\s+(\w+)\s*\(", line))]
        if not names or not (last + 1 < len(lines) and lines[last + 1].strip() == "}"):
            continue  # only a region that is the end of a kernel's body
        try:
            count = OUT_SIZE[kind(names[-1])]
        except ValueError:
            continue
        indent = lines[last][:len(lines[last]) - len(lines[last].lstrip())]
        insertions.append((last + 1, indent + WRONG_CPP.format(count=count).replace("\n", "\n" + indent)))
    for index, text in sorted(insertions, reverse=True):
        lines.insert(index, text)
    return "\n".join(lines) if insertions else source


def make_wrong(source):
    """The solution cell ``source`` with each solution region made wrong, or ``source`` unchanged.

    A function that contains a region (or lies inside one) gets a decorator that perturbs its
    results; names a top-level region assigns are perturbed after it. ``%%cpu_kernel`` cells
    (C++) are made wrong by :func:`make_wrong_cpp`; other cells that do not parse as Python stay
    as they are.
    """
    if CPU_KERNEL.match(source):
        return make_wrong_cpp(source)
    lines = source.splitlines()
    python = TransformerManager().transform_cell(source)
    if len(python.splitlines()) != len(lines):
        return source  # a cell magic rewrote the lines: line numbers would not match
    try:
        tree = ast.parse(python)
    except SyntaxError:
        return source
    insertions = []  # (0-based line index, text to insert before it)
    functions = _functions(tree)
    for first, last in notebooks.regions(source, notebooks.SOLUTION_BEGIN, notebooks.SOLUTION_END):
        first, last = first + 1, last + 1  # ast counts from 1
        around = [f for f in functions if f.lineno < first <= f.end_lineno]
        inside = [f for f in functions if first < f.lineno and f.end_lineno < last]
        inside = [f for f in inside if not any(g is not f and g.lineno <= f.lineno and f.end_lineno <= g.end_lineno
                                                for g in inside)]
        chosen = [max(around, key=lambda f: f.lineno)] if around else inside
        for function in chosen:
            top = min([function.lineno] + [d.lineno for d in function.decorator_list])
            insertions.append((top - 1, " " * function.col_offset + "@_needle_edu_wrong"))
        if not chosen:
            indent = lines[last - 1][:len(lines[last - 1]) - len(lines[last - 1].lstrip())]
            insertions += [(last, f"{indent}{name} = _needle_edu_perturb({name})")
                           for name in _targets(tree, first, last)]
    if not insertions:
        return source
    for index, text in sorted(insertions, key=lambda item: item[0], reverse=True):
        lines.insert(index, text)
    head = 1 if lines and lines[0].startswith("%%") else 0
    return "\n".join(lines[:head] + WRONG_HELPERS.splitlines() + lines[head:])


def make_examples(release_folder, source_folder, destination, assignment):
    """Write ``<destination>/<kind>/<assignment>/`` for each kind, in the collect layout.

    ``release_folder`` holds nbgrader's release notebooks, ``source_folder`` the ``.ipynb`` sources.
    """
    destination = Path(destination)
    for kind in KINDS:
        folder = destination / kind / assignment
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
    for release_path in sorted(Path(release_folder).glob("*.ipynb")):
        release = notebooks.read(release_path)
        source = notebooks.read(Path(source_folder) / release_path.name)
        variants = {
            "correct": notebooks.paste_solutions(release, source),
            "blank": release,
            "wrong": notebooks.paste_solutions(release, source, transform=make_wrong),
        }
        for kind, notebook in variants.items():
            notebooks.write(notebook, destination / kind / assignment / release_path.name)
    return destination
