# needle-edu: one Makefile for students, instructors and contributors.
#   make course   set everything up and run the main job (the README's first command)
#   make test     run the test suite (the README's second command; CI runs it)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.needle-edu-installed
PYTEST_ARGS ?=

.PHONY: setup course test lab bench clean

setup: $(STAMP)

# The editable install rebuilds the C++/CUDA modules on import after an edit (build/).
$(STAMP): pyproject.toml CMakeLists.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q "scikit-build-core>=0.10" "pybind11>=2.12"
	$(PY) -m pip install -q --no-build-isolation -Ceditable.rebuild=true \
		-Cbuild-dir="build/{wheel_tag}" -e ".[dev]"
	touch $(STAMP)

course: setup
	$(PY) -m needle_edu

test: setup
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

lab: setup
	$(PY) -m jupyter lab notebooks $(if $(filter 0,$(shell id -u)),--allow-root,)

bench: setup
	$(PY) benchmarks/bench_ndarray.py

clean:
	rm -rf build _build .pytest_cache .hypothesis
