"""Library code as the book shows it: read from the installed package when the book is built,
so the text never drifts from the code, with the parts students write in the notebooks left out."""
import inspect
import re
import textwrap

REGION = re.compile(r"^(?P<indent>[ \t]*)#[ \t]*BEGIN SOLUTION[ \t]+(?P<tag>a\d\d)[ \t]*\n"
                    r".*?^[ \t]*#[ \t]*END SOLUTION[ \t]*\n", re.M | re.S)


def library_source(obj):
    """The source of a function, class or method of ``needle_edu``, each solution region
    replaced by one line naming the notebook in which students write it."""
    text = textwrap.dedent(inspect.getsource(obj))
    return REGION.sub(lambda m: f"{m['indent']}...  # written in notebook {m['tag']}\n", text)


def show_source(obj):
    """``library_source(obj)`` as a highlighted Python block (a notebook or book cell's output)."""
    from IPython.display import Markdown

    return Markdown(f"```python\n{library_source(obj)}```")
