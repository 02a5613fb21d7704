"""nbgrader configuration of needle-edu: the course root is course_build/ next to this file.

The settings live in autograder/grading/nbgrader_settings.py, shared with the course tool
(``python -m autograder``), so ``nbgrader ...`` run from here grades the same way.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from autograder.grading.nbgrader_settings import configure  # noqa: E402

configure(get_config(), os.path.join(HERE, "course_build"))  # noqa: F821 (nbgrader provides it)
