"""Assignment a03 (automatic differentiation): its figure, its student build and its notebook.

The student build must stub exactly the a03 pieces, still import, and work again once the
instructor's own functions are installed into it through ``needle_edu.course.install``, the
way the notebook installs a student's.
"""
import io
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from assignment_checks import check_nbgrader_source, printed_accuracy, read_source, run_source
from matplotlib.figure import Figure

import needle_edu as ndl
from autograder.release import student_build
from autograder.course import Course
from needle_edu import course, ops
from needle_edu.viz import plot_computation_graph
from needle_edu.viz.graph import graph_depths

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "a03_automatic_differentiation" / "a03_automatic_differentiation.md"
OPS = ["EWiseMul", "EWiseDiv", "PowerScalar", "MatMul", "Summation", "BroadcastTo", "Reshape",
       "Transpose", "Log", "Exp", "ReLU", "LogSumExp"]
PIECES = sorted([f"{op}.{method}" for op in OPS for method in ("compute", "gradient")]
                + ["Reduction.expand", "sum_to_shape", "find_topo_sort", "reverse_sweep",
                   "numerical_gradient"])
SOLUTION_CELLS = ["numerical_gradient", "op_compute", "op_gradient", "reverse_mode"]


# ------------------------------------------------------------------ the computation graph figure

def small_graph():
    x = ndl.Tensor(np.ones((2, 3)), device="numpy")
    w = ndl.Tensor(np.ones((3, 4)), device="numpy")
    return x, w, ops.relu(x @ w).sum()


def test_graph_depths_put_every_node_after_its_inputs():
    x, w, loss = small_graph()
    depth = graph_depths(loss)
    assert depth[x] == depth[w] == 0 and depth[loss] == 3
    assert len(depth) == 5
    assert all(depth[i] < depth[node] for node in depth for i in node.inputs)


def test_plot_computation_graph_draws_one_box_per_node():
    x, w, loss = small_graph()
    fig = plot_computation_graph(loss, names={x: "x", w: "W"}, title="a graph")
    assert isinstance(fig, Figure)
    texts = [t.get_text() for t in fig.axes[0].texts if t.get_text()]
    assert sorted(texts) == sorted(["x\n2×3", "W\n3×4", "MatMul\n2×4", "ReLU\n2×4", "Summation\nscalar"])
    fig.savefig(io.BytesIO(), format="png")


# ------------------------------------------------------------------ the student build

def test_a03_pieces_are_the_intended_ones():
    assert course.pieces("a03") == PIECES


@pytest.fixture(scope="module")
def a03_build(tmp_path_factory):
    real = Course()
    notebooks = real.notebook_names()
    folder = tmp_path_factory.mktemp("a03_build")
    student_build.build(real.library, "a03", notebooks, folder)
    stubbed = student_build.stubbed_regions(real.library, "a03", notebooks)
    return folder, stubbed


def test_student_build_stubs_exactly_the_a03_pieces(a03_build):
    _, stubbed = a03_build
    assert sorted(r.function for r in stubbed if r.tag == "a03") == PIECES


# Runs in the student build: every piece raises, naming a03; then the instructor's functions,
# compiled from the repository's source into the student's modules, are installed and a smoke
# subset of the op tests runs against the build.
IN_THE_BUILD = '''
import ast, inspect, sys, textwrap, types
from autograder.grading.student_kernel import isolate
isolate({folder!r})
import needle_edu
from needle_edu import course
assert needle_edu.__file__.startswith({folder!r}), needle_edu.__file__


def owner(name):
    module = sys.modules[next(pieces[name] for pieces in course._PIECES.values() if name in pieces)]
    *path, attribute = name.split(".")
    target = module
    for part in path:
        target = getattr(target, part)
    return module, getattr(target, attribute)


for name in course.pieces("a03"):
    module, function = owner(name)
    arguments = [None] * len([p for p in inspect.signature(function).parameters.values()
                              if p.kind is p.POSITIONAL_OR_KEYWORD])
    keywords = {{p.name: None for p in inspect.signature(function).parameters.values()
                if p.kind is p.KEYWORD_ONLY}}
    try:
        function(*arguments, **keywords)
    except NotImplementedError as error:
        assert "a03_automatic_differentiation" in str(error), error
    else:
        raise AssertionError(name + " is not stubbed")
print("stubbed:", len(course.pieces("a03")))


def reference(name):
    """The instructor's function ``name``, compiled in the namespace of the student's module."""
    module, _ = owner(name)
    source_file = {repo!r} + "/" + module.__name__.replace(".", "/") + ".py"
    tree = ast.parse(open(source_file).read())
    *classes, function_name = name.split(".")
    scope = tree.body
    for class_name in classes:
        scope = next(n for n in scope if isinstance(n, ast.ClassDef) and n.name == class_name).body
    node = next(n for n in scope if isinstance(n, ast.FunctionDef) and n.name == function_name)
    node.decorator_list = []
    namespace = {{}}
    exec(compile(ast.Module([node], []), source_file, "exec"), vars(module), namespace)
    compiled = namespace[function_name]
    function = types.FunctionType(compiled.__code__, vars(module), function_name, compiled.__defaults__)
    function.__kwdefaults__ = compiled.__kwdefaults__
    return function


for tag in [f"a{{n:02d}}" for n in range(3, 10)]:  # a03's pieces, and the later ones its build stubs too
    if course.pieces(tag):
        course.install(tag, **{{name: reference(name) for name in course.pieces(tag)}})
import pytest
code = pytest.main([{tests!r}, "-q", "-p", "no:cacheprovider", "-k", "numpy and float64"])
assert needle_edu.__file__.startswith({folder!r}), needle_edu.__file__
sys.exit(code)
'''


def test_student_build_imports_stubs_and_runs_again_with_the_reference_installed(a03_build):
    folder, _ = a03_build
    script = IN_THE_BUILD.format(folder=str(folder), repo=str(REPO), tests=str(REPO / "tests" / "test_ops.py"))
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                            cwd=folder, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"stubbed: {len(PIECES)}" in result.stdout
    assert re.search(r"\d+ passed", result.stdout) and " failed" not in result.stdout


# ------------------------------------------------------------------ the source notebook

@pytest.fixture(scope="module")
def notebook():
    return read_source(NOTEBOOK)


def test_notebook_is_a_valid_nbgrader_source(notebook):
    check_nbgrader_source(notebook, SOLUTION_CELLS, hidden_cells=4, total=50)
    installs = "\n".join(c.source for c in notebook.cells if c.source.startswith("needle_edu.course.install"))
    installed = re.findall(r'"([\w.]+)": \w+|(\w+)=\w+', installs)
    assert sorted(quoted or keyword for quoted, keyword in installed) == PIECES


@pytest.mark.slow
def test_notebook_runs_top_to_bottom_without_stderr(notebook, fashion_mnist, tmp_path):
    printed, images = run_source(notebook, tmp_path)
    assert printed_accuracy(printed) >= 0.80
    seconds = float(re.search(r"epoch 1: .*, (\d+) s", printed).group(1))
    assert seconds < 120
    assert images == 3  # the small graph, the loss curve, the network's graph
