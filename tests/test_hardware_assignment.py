"""Assignment a06 (hardware acceleration): the %%cpu_kernel magic, its error path, the kernels it
installs, the roofline figures, the a06 student build (a cpu device without the kernels students
write, numba_cuda without theirs, no numpy stand-in for the stride rules) and the notebook's metadata.

The course model itself (release, grading of correct, blank and wrong submissions inside the
sandbox, where the C++ is compiled, and leaks) is proved for a06 in test_course_pipeline.py.
"""
import io
import os
import re
from pathlib import Path

import numpy as np
import pytest
from assignment_checks import check_nbgrader_source, check_student_build, read_source, run_in_student_build

from needle_edu import course, cpu_kernel
from needle_edu.backend_ndarray import NDArray, cpu
from needle_edu.viz import plot_matmul_speeds, plot_roofline
from needle_edu.viz.roofline import matmul_gflops, stream_bandwidth

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "a06_hardware_acceleration" / "a06_hardware_acceleration.md"
PIECES = ["broadcast_view", "compact_strides", "flip_view", "index_view", "is_compact", "make_add_kernel",
          "make_matmul_kernel", "make_reduce_kernel", "permute_view"]

KERNELS = r"""
void compact(const float* a, float* out, const std::vector<idx_t>& shape,
             const std::vector<idx_t>& strides, idx_t offset) {
  idx_t size = 1;
  for (idx_t d : shape) size *= d;
  for (idx_t i = 0; i < size; ++i) {  // each element's indices from its position
    idx_t at = offset, rest = i;
    for (std::size_t d = shape.size(); d-- > 0;) {
      at += (rest % shape[d]) * strides[d];
      rest /= shape[d];
    }
    out[i] = a[at];
  }
}

void matmul_loops(const float* a, const float* b, float* out, idx_t m, idx_t n, idx_t p) {
  for (idx_t i = 0; i < m; ++i)
    for (idx_t j = 0; j < p; ++j) {
      float sum = 0;
      for (idx_t k = 0; k < n; ++k) sum += a[i * n + k] * b[k * p + j];
      out[i * p + j] = sum;
    }
}

void ewise_add(const float* a, const float* b, float* out, idx_t size) {
  for (idx_t i = 0; i < size; ++i) out[i] = a[i] + b[i];
}
"""


@pytest.fixture(scope="module")
def kernels():
    """The kernels above, compiled once for the module (a compile takes seconds)."""
    return cpu_kernel.compile_kernels(KERNELS, ["compact", "matmul_loops", "ewise_add"])


# ------------------------------------------------------------------ the magic and its kernels

def test_compiled_kernels_match_numpy(kernels):
    buffer = np.random.default_rng(0).standard_normal(200).astype(np.float32)
    for shape, strides, offset in [([5], [3], 2), ([3, 4], [-20, 1], 60), ([2, 3, 2], [0, 7, -1], 30), ([1], [1], 199)]:
        out = np.zeros(int(np.prod(shape)), np.float32)
        kernels["compact"](buffer, out, shape, strides, offset)
        expected = np.lib.stride_tricks.as_strided(buffer[offset:], shape, [s * 4 for s in strides])
        np.testing.assert_array_equal(out, expected.ravel())
    a, b = np.random.default_rng(1).standard_normal((2, 35)).astype(np.float32).reshape(2, 5, 7)
    out = np.zeros(25, np.float32)
    kernels["matmul_loops"](a.ravel(), b.T.copy().ravel(), out, 5, 7, 5)
    np.testing.assert_allclose(out.reshape(5, 5), a @ b.T, rtol=1e-5, atol=1e-5)


def test_kernels_refuse_bad_arguments_before_the_cpp_runs(kernels):
    a, out = np.zeros(10, np.float32), np.zeros(4, np.float32)
    with pytest.raises(ValueError, match=r"compact: the view shape=\(2, 2\) strides=\(5, 5\) offset=0 reaches outside"):
        kernels["compact"](a, out, [2, 2], [5, 5], 0)
    with pytest.raises(ValueError, match="out has 4 elements, the view"):
        kernels["compact"](a, out, [3], [1], 0)
    with pytest.raises(TypeError, match="a must be a C-ordered float32 numpy array, got ndarray float64"):
        kernels["compact"](np.zeros(10), out, [4], [1], 0)
    with pytest.raises(ValueError, match=r"matmul_loops: sizes 10, 10, 4 do not fit"):
        kernels["matmul_loops"](a, a, out, 2, 3, 2)


def test_installed_kernels_are_the_cpu_devices(kernels, monkeypatch):
    module = cpu().module
    for name in ("compact", "matmul"):
        monkeypatch.setattr(module, name, getattr(module, name))  # restored after the test
    calls = []

    def counted(kernel):
        def wrapper(*args):
            calls.append(kernel.__name__)
            return kernel(*args)
        wrapper.__name__ = kernel.__name__
        return wrapper

    cpu_kernel.install(compact=counted(kernels["compact"]), matmul=counted(kernels["matmul_loops"]))
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    view = NDArray(x, device="cpu").permute((2, 0, 1))[::-1]
    np.testing.assert_array_equal(view.compact().numpy(), x.transpose(2, 0, 1)[::-1])
    a = NDArray(x[0], device="cpu")
    np.testing.assert_allclose((a @ a.permute((1, 0))).numpy(), x[0] @ x[0].T, rtol=1e-6)
    assert calls == ["compact", "compact", "matmul_loops"]
    with pytest.raises(TypeError, match="takes float32 arrays, got float64"):
        NDArray(np.eye(3), device="cpu").permute((1, 0)).compact()
    with pytest.raises(TypeError, match="install: matmul must be a matmul kernel made by %%cpu_kernel"):
        cpu_kernel.install(matmul=kernels["compact"])


def test_a_syntax_error_is_the_compilers_message_at_the_cells_line():
    cell = "void compact(const float* a, float* out, const std::vector<idx_t>& shape,\n" \
           "             const std::vector<idx_t>& strides, idx_t offset) {\n  out[0] = a[offset] +;\n}\n"
    with pytest.raises(cpu_kernel.CompileError) as error:
        cpu_kernel.compile_kernels(cell, ["compact"])
    message = str(error.value)
    assert message.startswith("the C++ did not compile:")
    assert "cell:3:" in message and "error" in message  # line 3 of the cell, as the compiler says it
    assert error.value._render_traceback_() == [f"CompileError: {message}"]


def test_a_wrong_signature_or_a_missing_function_says_what_is_expected():
    with pytest.raises(cpu_kernel.CompileError, match="the signatures %%cpu_kernel expects"):
        cpu_kernel.compile_kernels("void ewise_add(const float* a, float* out) {}", ["ewise_add"])
    with pytest.raises(cpu_kernel.CompileError, match=r"the cell defines no function matmul_fast; write void matmul_fast\("):
        cpu_kernel.compile_kernels("int x;", ["matmul_fast"])
    with pytest.raises(ValueError, match="names no kind of kernel"):
        cpu_kernel.compile_kernels("void transpose() {}", ["transpose"])
    with pytest.raises(NotImplementedError, match="still holds the placeholder"):
        cpu_kernel.compile_kernels("void compact() {\n# YOUR CODE HERE\nraise NotImplementedError()\n}", ["compact"])


def test_builds_go_to_the_scratch_folder_under_tmpdir(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    assert cpu_kernel.scratch_folder() == tmp_path / "needle_edu_cpu_kernels"


# ------------------------------------------------------------------ roofline

def test_roofline_and_speed_figures_show_the_measured_numbers(kernels):
    gflops = matmul_gflops(kernels["matmul_loops"], 32, repeat=1)
    bandwidth = stream_bandwidth(kernels["ewise_add"], 1 << 16, repeat=1)
    assert gflops > 0 and bandwidth > 0
    fig = plot_roofline(100.0, 10.0, [("loops", 0.25, gflops), ("add", 1 / 12, bandwidth / 12)])
    roof = fig.axes[0].get_lines()[0]
    x, y = roof.get_xdata(), roof.get_ydata()
    np.testing.assert_allclose(y, np.minimum(100.0, 10.0 * x))  # the roof: memory-bound, then flat
    assert [t.get_text() for t in fig.axes[0].texts][-2:] == ["loops", "add"]
    fig.savefig(io.BytesIO(), format="png")
    fig = plot_matmul_speeds([16, 32], {"a": [1.0, 2.0], "b": [3.0, 4.0]})
    assert [list(line.get_ydata()) for line in fig.axes[0].get_lines()] == [[1.0, 2.0], [3.0, 4.0]]


# ------------------------------------------------------------------ the student builds

def test_a06_pieces_are_the_intended_ones():
    from needle_edu.backend_ndarray import backend_numba_cuda  # noqa: F401 (its pieces register as it loads)
    assert course.pieces("a06") == PIECES


BEFORE = '''
from autograder.grading.student_kernel import isolate
isolate({folder!r})
import numpy as np
from needle_edu.backend_ndarray import NDArray, ndarray
assert ndarray.RULES.__name__.endswith("strides_numpy"), ndarray.RULES
x = np.arange(24.0, dtype="float32").reshape(2, 3, 4)
a = NDArray(x, device="cpu")
np.testing.assert_array_equal(a.permute((2, 0, 1))[1:, ::-1].flip((2,)).compact().numpy(),
                              np.flip(x.transpose(2, 0, 1)[1:, ::-1], 2))
np.testing.assert_allclose((a[0] @ a[1].permute((1, 0))).numpy(), x[0] @ x[1].T)
print("a05 build ok")
'''


@pytest.mark.slow
def test_the_a06_build_has_no_kernel_students_write(tmp_path):
    setup = """
        from needle_edu.backend_ndarray import NDArray, _backend_cpu, backend_numba_cuda, ndarray
        import needle_edu.backend_ndarray.strides as rules
        assert ndarray.RULES is rules
    """
    rest = """
        try:
            import needle_edu.backend_ndarray.strides_numpy
        except ImportError:
            pass
        else:
            raise AssertionError("the numpy stand-in of the stride rules is in the a06 build")
        a = NDArray(np.arange(6.0), device="cpu")
        np.testing.assert_array_equal((a + a).numpy(), 2 * np.arange(6.0))  # not a piece: the device's own kernel
    """
    check_student_build(NOTEBOOK, PIECES, tmp_path / "build", REPO, setup,
                        ["_backend_cpu.compact(_backend_cpu.Array(4), _backend_cpu.Array(4), [2, 2], [1, 2], 0)",
                         "_backend_cpu.matmul(_backend_cpu.Array(4), _backend_cpu.Array(4), _backend_cpu.Array(4), 1, 2, 2, 2)",
                         'backend_numba_cuda.make_matmul_kernel("float32")', "NDArray(np.ones((2, 3))).permute((1, 0))"],
                        rest)


def test_builds_before_a06_view_with_numpys_rules_and_the_full_cpu_device(tmp_path):
    stubbed, done = run_in_student_build("a05", BEFORE, tmp_path / "build", REPO)
    assert done.returncode == 0, done.stderr
    assert "a05 build ok" in done.stdout
    text = (tmp_path / "build" / "needle_edu" / "backend_ndarray" / "strides.py").read_text()
    assert "result.append(step)" not in text and "raise NotImplementedError(" in text


# ------------------------------------------------------------------ the notebook

def test_the_notebook_is_valid_nbgrader_source():
    notebook = read_source(NOTEBOOK)
    check_nbgrader_source(notebook, ["stride_rules", "cpp_compact", "cpp_matmul", "cuda_kernels"],
                          hidden_cells=4, total=60)
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert "%%cpu_kernel compact" in code and "%%cpu_kernel matmul_naive matmul_tiled ewise_add" in code
    assert "needle_edu.cpu_kernel.install(compact=compact)" in code
    assert os.environ.get("NEEDLE_EDU_QUICK") == "1"  # conftest: the course's tests run quick mode


def test_the_strides_picture_numbers_each_cell_by_the_element_it_reads():
    from needle_edu.viz.strides import plot_strides, view_offsets

    buffer = np.arange(12)
    for shape, strides, offset in [((3, 4), (4, 1), 0), ((4, 3), (1, 4), 0), ((3, 4), (4, -1), 3), ((2, 2), (4, 2), 4)]:
        expected = np.lib.stride_tricks.as_strided(buffer[offset:], shape, [s * 8 for s in strides])
        np.testing.assert_array_equal(view_offsets(shape, strides, offset), expected)
    fig = plot_strides(12, [("flip", (3, 4), (4, -1), 3)])
    assert [t.get_text() for t in fig.axes[1].texts][:4] == ["3", "2", "1", "0"]
    fig.savefig(io.BytesIO(), format="png")


def test_the_thread_map_colors_elements_by_block():
    from needle_edu.viz.gpu import plot_thread_map

    owners = np.arange(20) % 8  # two blocks of 4 threads, grid-stride over 20 elements
    fig = plot_thread_map(owners, threads_per_block=4)
    np.testing.assert_array_equal(fig.axes[0].get_images()[0].get_array()[0], owners // 4)
    fig.savefig(io.BytesIO(), format="png")


# ------------------------------------------------------------------ a submission without C++

CHEAT = '''
from needle_edu.backend_ndarray import NDArray, cpu

devices_own = cpu().module.compact


def compact(a, out, shape, strides, offset):
    """No C++: the cpu device's own compact does the work."""
    source, result = NDArray(a, device="cpu"), NDArray.make((out.size,), device="cpu")
    devices_own(source._handle, result._handle, list(shape), list(strides), offset)
    out[:] = result.numpy()
'''


def _recorded_checks(cell):
    return sum(1 for o in cell.outputs if "application/vnd.needle-edu.check+json" in o.get("data", {}))


def _run_cheat(prelude, tmp_path):
    """The notebook's Part 1 and its compact tests, with a compact that calls the device's own
    kernel in place of the C++ cell; the test cells' recorded checks, as grading counts them."""
    import nbclient
    import nbformat

    source = read_source(NOTEBOOK)
    code = [c for c in source.cells if c.cell_type == "code"]
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(code)}
    cells = [prelude, code[0].source, code[by_id["stride_rules"]].source, code[by_id["stride_rules"] + 1].source,
             CHEAT, code[by_id["cpp_compact"] + 1].source,  # the install cell, as a student runs it
             code[by_id["test_compact_visible"]].source, code[by_id["test_compact_hidden"]].source]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbclient.NotebookClient(notebook, kernel_name="python3", timeout=300, allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    return [_recorded_checks(c) for c in notebook.cells[-2:]], notebook


@pytest.mark.slow
def test_calling_the_devices_own_compact_scores_nothing_in_the_a06_build(tmp_path):
    from autograder.course import Course
    from autograder.release import student_build

    real = Course()
    student_build.build(real.library, "a06", real.notebook_names(), tmp_path / "build")
    isolate = (f"from autograder.grading.student_kernel import isolate\nisolate({str(tmp_path / 'build')!r})\n"
               f"import needle_edu\nassert needle_edu.__file__.startswith({str(tmp_path / 'build')!r})")
    recorded, notebook = _run_cheat(isolate, tmp_path)
    assert recorded == [0, 0], recorded  # both test cells raised before any check: 0 points
    errors = [o for o in notebook.cells[-1].outputs if o.output_type == "error"]
    assert errors and errors[0].ename == "NotImplementedError" and "a06_hardware_acceleration" in errors[0].evalue
    # The same cheat with the instructor's library would pass: the student build is what stops it.
    recorded, _ = _run_cheat("import needle_edu", tmp_path)
    assert recorded[0] == 3 and recorded[1] > 5, recorded


# ------------------------------------------------------------------ the wrong example and a crashing kernel

def _cpp_cells():
    """``{grade_id: source}`` of the notebook's two %%cpu_kernel solution cells."""
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in read_source(NOTEBOOK).cells}
    return {name: cells[name] for name in ("cpp_compact", "cpp_matmul")}


def test_the_leak_check_looks_for_the_cpp_solution_lines():
    from autograder import notebooks

    solutions, _ = notebooks.secret_lines(read_source(NOTEBOOK))
    regions = [r for source in _cpp_cells().values()
               for r in re.findall(r"// ### BEGIN SOLUTION\n(.*?)// ### END SOLUTION", source, re.S)]
    assert len(regions) == 4  # compact, matmul_naive, matmul_tiled, ewise_add
    for region in regions:
        lines = notebooks.distinctive(region.splitlines())
        assert lines and set(lines) <= set(solutions), lines


def test_the_wrong_example_makes_every_cpp_kernel_too_large():
    from autograder.release.examples import make_wrong

    wrong = {}
    for source in _cpp_cells().values():
        magic, cell = make_wrong(source).split("\n", 1)
        wrong.update(cpu_kernel.compile_kernels(cell, magic.split()[1:]))
    assert sorted(wrong) == ["compact", "ewise_add", "matmul_naive", "matmul_tiled"]

    def too_large(right):  # what the wrong example does to every result: 10% + 0.1 more
        return right + 0.1 * np.abs(right) + 0.1

    buffer = np.random.default_rng(3).standard_normal(60).astype(np.float32)
    out = np.zeros(12, np.float32)
    wrong["compact"](buffer, out, [3, 4], [-8, 2], 40)
    view = np.lib.stride_tricks.as_strided(buffer[40:], (3, 4), (-32, 8))
    np.testing.assert_allclose(out, too_large(view.ravel()), rtol=1e-6)
    a, b = buffer[:15], buffer[15:35]
    for name in ("matmul_naive", "matmul_tiled"):
        out = np.zeros(12, np.float32)
        wrong[name](a, b, out, 3, 5, 4)
        np.testing.assert_allclose(out, too_large(a.reshape(3, 5) @ b.reshape(5, 4)).ravel(), rtol=1e-5, atol=1e-5)
    out = np.zeros(15, np.float32)
    wrong["ewise_add"](a, buffer[20:35], out)
    np.testing.assert_allclose(out, too_large(a + buffer[20:35]), rtol=1e-6)


CRASH = "  *static_cast<volatile float*>(nullptr) = a[offset];  // a crash: a write through a null pointer\n"
PARTS = {"test_stride_rules_visible": "kept", "test_stride_rules_hidden": "kept",
         "test_compact_visible": "lost", "test_compact_hidden": "lost",
         "test_matmul_visible": "kept", "test_matmul_hidden": "lost",  # its transposed view runs the crashing compact
         "test_cuda_visible": "kept", "test_cuda_hidden": "kept"}


@pytest.mark.slow
def test_a_crashing_cpp_kernel_costs_only_the_cells_that_run_it_and_wrong_loses_the_cpp(tmp_path):
    """Graded in the sandbox: a compact that crashes the kernel process loses the cells that call
    it (each is charged, the kernel restarted and the cells before replayed) and no other; the
    wrong example loses every C++ cell."""
    from autograder import notebooks, pipeline
    from autograder.course import Course
    from autograder.grading import nbgrader_driver

    course, a06 = Course(root=tmp_path / "course"), NOTEBOOK.stem
    pipeline.release(course, a06)
    submissions = pipeline.make_examples(course, a06)
    release = notebooks.read(course.folder("release", a06) / f"{a06}.ipynb")
    source = notebooks.read(course.folder("source", a06) / f"{a06}.ipynb")
    crashing = notebooks.paste_solutions(release, source)
    cell = next(c for c in crashing.cells if notebooks.nbgrader_meta(c).get("grade_id") == "cpp_compact")
    cell.source = cell.source.replace("idx_t offset) {\n", "idx_t offset) {\n" + CRASH, 1)
    assert CRASH in cell.source
    notebooks.write(crashing, submissions / "crashes" / a06 / f"{a06}.ipynb")
    pipeline.collect(course, a06, submissions)

    outcomes = pipeline.grade(course, a06, ["crashes", "wrong"])
    assert [o.ok for o in outcomes] == [True, True], [o.reason for o in outcomes]
    grades = {g.student: {c.name: (c.score, c.max_score) for c in g.cells if c.autograded}
              for g in nbgrader_driver.grades(course, a06)}
    crashes = {name: "kept" if score == top else "lost" if score == 0 else score
               for name, (score, top) in grades["crashes"].items()}
    assert crashes == PARTS, crashes
    reason = next(o.reason for o in outcomes if o.student == "crashes")
    assert "test_compact_visible" in reason and "kernel died" in reason, reason
    cpp = [name for name in PARTS if "compact" in name or "matmul" in name]
    assert {name: grades["wrong"][name][0] for name in cpp} == dict.fromkeys(cpp, 0), grades["wrong"]
