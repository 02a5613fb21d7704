"""needle_edu.course: marking the pieces a notebook asks for and installing the student's."""
import sys
import types

import pytest

from needle_edu import course


@pytest.fixture
def library():
    """A throwaway module with one marked function and one marked method."""
    module = types.ModuleType("fake_library")
    sys.modules["fake_library"] = module
    source = '''
from needle_edu.course import student_implements

@student_implements("z99")
def loss(x):
    raise NotImplementedError("implemented in notebook z99")

def train(x):
    return loss(x) + 1

class Op:
    @student_implements("z99")
    def compute(self, x):
        raise NotImplementedError("implemented in notebook z99")
'''
    exec(compile(source, "fake_library.py", "exec"), module.__dict__)
    yield module
    del sys.modules["fake_library"]
    course._PIECES.pop("z99", None)


def test_pieces_lists_functions_and_methods(library):
    assert course.pieces("z99") == ["Op.compute", "loss"]


def test_install_makes_the_library_run_student_code(library):
    with pytest.raises(NotImplementedError):
        library.train(1)
    assert course.install("z99", loss=lambda x: 10 * x, **{"Op.compute": lambda self, x: -x}) == ["Op.compute", "loss"]
    assert library.train(2) == 21
    assert library.Op().compute(3) == -3


def test_install_refuses_unknown_names_and_non_functions(library):
    with pytest.raises(TypeError, match="z99 has no piece named lost; its pieces are Op.compute, loss"):
        course.install("z99", lost=lambda x: x)
    with pytest.raises(TypeError, match="loss must be a function, got int"):
        course.install("z99", loss=3)
    with pytest.raises(ValueError, match="assignment 'q00' has no library pieces"):
        course.install("q00", loss=lambda x: x)
