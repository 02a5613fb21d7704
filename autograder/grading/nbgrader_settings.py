"""The nbgrader settings of the course, in one place: the repository's nbgrader_config.py applies them.

The course tool runs nbgrader from the repository root, so plain ``nbgrader ...`` there and the
tool behave alike.
"""
from pathlib import Path

from ..course import KERNEL_NAME, Course

TEMPLATES = Path(__file__).resolve().parent / "templates"


def configure(c, root):
    """Set the course root ``root`` and the grading and feedback settings on config ``c``."""
    import nbgrader
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import ClearHiddenTests, GetGrades

    from . import execute
    from .feedback import ScrubHiddenTestOutputs

    c.CourseDirectory.root = str(root)
    c.Execute.timeout = Course.cell_timeout  # the tool passes its own with --Execute.timeout
    c.Execute.kernel_name = KERNEL_NAME  # autograde honours it although it restores the kernelspec
    execute.configure(c)  # kernels that die or hang cost only their cells (the tool adds the sandbox)
    c.GenerateFeedback.preprocessors = [GetGrades, ScrubHiddenTestOutputs, ClearHiddenTests,
                                        CSSHTMLHeaderPreprocessor]
    nbgrader_templates = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates"
    c.HTMLExporter.template_name = "feedback_offline"
    c.HTMLExporter.extra_template_basedirs = [str(TEMPLATES), str(nbgrader_templates)]
