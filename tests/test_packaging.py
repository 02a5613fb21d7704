"""The project's own files agree with each other and build what they promise."""
import os
import pathlib
import re
import shutil
import subprocess
import tomllib

import yaml

import needle_edu as ndl

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOOLCHAIN = {"python", "pip", "cmake", "ninja", "cxx-compiler"}


def requirement(spec):
    name, version = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", spec.strip()).groups()
    return name.lower().replace("_", "-"), version.replace(" ", "")


def test_environment_yml_lists_the_pyproject_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    from_pyproject = {requirement(s) for s in project["dependencies"] + sum(project["optional-dependencies"].values(), [])}
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    from_conda = {requirement(s) for s in environment if isinstance(s, str)}
    assert {r for r in from_conda if r[0] not in TOOLCHAIN} == from_pyproject


def test_top_level_layout_exists():
    for name in ["_config.yml", "_toc.yml", "book", "notebooks", "needle_edu", "src_cpp", "src_cuda",
                 "autograder", "tests", "benchmarks", "environment.yml", "pyproject.toml",
                 "CMakeLists.txt", "Makefile", "README.md", ".ci/run"]:
        assert (ROOT / name).exists(), name


def test_readme_quick_start_is_two_make_commands():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start.*?```(?:sh|bash)?\n(.*?)```", readme, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]
    assert commands == ["make course", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    for target in ["setup", "course", "test", "lab", "bench"]:
        assert re.search(rf"^{target}:", makefile, re.M), target


def test_the_devices_this_machine_can_run_are_running():
    """A build failure must not hide behind skipped tests: what can run here does run."""
    for name in ["numpy", "cpu", "numba"]:
        assert ndl.device(name).enabled(), ndl.device(name).reason
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        assert ndl.device("numba_cuda").enabled(), ndl.device("numba_cuda").reason


def test_cuda_is_built_where_nvcc_is_present():
    cuda = ndl.device("cuda")
    if shutil.which("nvcc") and not os.environ.get("NEEDLE_EDU_NO_CUDA_BUILD"):
        assert "not importable" not in cuda.reason, cuda.reason
    if not cuda.enabled():
        assert cuda.reason  # says why, e.g. no driver or no GPU


def test_setup_installed_the_debian_packages():
    """As root, `make setup` installs them: their absence would silently skip the book's browser tests."""
    if os.geteuid() != 0:
        import pytest
        pytest.skip("not root: setup prints the apt-get command instead of installing")
    makefile = (ROOT / "Makefile").read_text()
    packages = re.search(r"^SYSTEM_PACKAGES := (.*)$", makefile, re.M).group(1).split()
    assert {"dataset-fashion-mnist", "chromium"} <= set(packages)
    for package in packages:
        status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package],
                                capture_output=True, text=True).stdout
        assert status == "install ok installed", f"{package}: {status or 'not installed'}"
