"""Progressive building: which library pieces each notebook asks students to write.

A library function (or method) marked ``@student_implements("a03")`` is one that notebook
a03 asks for. In the student build of the library it raises ``NotImplementedError``; the
notebook then calls ``install("a03", name=their_function, ...)``, and from then on the rest
of the library runs the student's code.
"""
import importlib
import os
import sys
import types

QUICK_VARIABLE = "NEEDLE_EDU_QUICK"

_PIECES = {}  # assignment -> {qualified name: module name}


def quick_mode():
    """True when ``NEEDLE_EDU_QUICK`` is set (not "" or "0"): training notebooks run smaller budgets.

    The tests and ``python -m autograder demo`` set it; the same code paths run, with thresholds
    the notebook sets for the smaller budget. Students and real grading run the full size.
    """
    return os.environ.get(QUICK_VARIABLE, "") not in ("", "0")


def student_implements(assignment):
    """Mark a function or method as one that notebook ``assignment`` asks students to write."""

    def mark(function):
        _PIECES.setdefault(assignment, {})[function.__qualname__] = function.__module__
        return function

    return mark


def pieces(assignment):
    """The names ``install(assignment, ...)`` accepts, e.g. ``["EWiseMul.compute", "matmul"]``."""
    return sorted(_PIECES.get(assignment, {}))


def _owner(module_name, qualified_name):
    """The module or class that holds ``qualified_name``, and the attribute's own name."""
    owner = sys.modules.get(module_name) or importlib.import_module(module_name)
    *path, attribute = qualified_name.split(".")
    for part in path:
        owner = getattr(owner, part)
    return owner, attribute


def install(assignment, **implementations):
    """Put the student's functions in the library in place of the pieces of ``assignment``.

    Keyword names are those of ``pieces(assignment)``; a method is named ``Class.method``,
    so pass it as ``install("a03", **{"EWiseMul.compute": compute})``.
    """
    expected = _PIECES.get(assignment, {})
    if not expected:
        raise ValueError(f"install: assignment {assignment!r} has no library pieces; "
                         f"assignments with pieces: {', '.join(sorted(_PIECES)) or 'none'}")
    unknown = sorted(set(implementations) - set(expected))
    if unknown:
        raise TypeError(f"install: {assignment} has no piece named {', '.join(unknown)}; "
                        f"its pieces are {', '.join(pieces(assignment))}")
    for name, implementation in implementations.items():
        if not callable(implementation):
            raise TypeError(f"install: {name} must be a function, got {type(implementation).__name__}")
    for name, implementation in implementations.items():
        owner, attribute = _owner(expected[name], name)
        original = getattr(owner, attribute)
        setattr(owner, attribute, implementation)
        if isinstance(owner, types.ModuleType):
            _replace_reexports(owner.__name__.partition(".")[0], attribute, original, implementation)
    return sorted(implementations)


def _replace_reexports(package, attribute, original, implementation):
    """Where a module of ``package`` re-exports ``original`` (``init.kaiming_normal`` for
    ``init.init_initializers.kaiming_normal``), point it at ``implementation`` too."""
    for module_name, module in list(sys.modules.items()):
        if (module_name == package or module_name.startswith(package + ".")) and module is not None:
            if vars(module).get(attribute) is original:
                setattr(module, attribute, implementation)
