"""Feedback that shows no hidden test: an nbgrader preprocessor that scrubs the outputs of test cells.

nbgrader's ClearHiddenTests removes hidden tests from cell sources, but a traceback in the
output still quotes them; this runs before it, while the hidden lines are still known.
"""
import html
import re

from nbgrader.preprocessors import NbGraderPreprocessor

from ..notebooks import HIDDEN_BEGIN, HIDDEN_END, regions

REDACTED = "[hidden test]"


def hidden_lines(source):
    """The stripped, non-blank lines inside the hidden-test regions of a cell's source."""
    lines = source.splitlines()
    return {lines[i].strip() for first, last in regions(source, HIDDEN_BEGIN, HIDDEN_END)
            for i in range(first + 1, last) if lines[i].strip()}


def _words(text):
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]{3,}", text))


def hidden_words(source, secret):
    """Words that only the hidden lines of a cell use (names, message words): an error that
    repeats one of them, e.g. a hidden assert's message, would tell what the hidden test does."""
    visible = "\n".join(line for line in source.split("\n") if line.strip() not in secret)
    return _words(" ".join(secret)) - _words(visible)


def scrub(text, secret):
    """``text`` with every line that quotes a secret line replaced by a marker."""
    return "\n".join(REDACTED if any(s in line for s in secret) else line
                     for line in text.split("\n"))


class ScrubHiddenTestOutputs(NbGraderPreprocessor):
    """In cells with hidden tests: check records dropped (their names describe the hidden checks),
    tracebacks cut to 'Error: message', quoting lines redacted."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not (secret := hidden_lines(cell.source)):
            return cell, resources
        from needle_edu.check import MIME
        cell.outputs = [o for o in cell.get("outputs", []) if MIME not in o.get("data", {})]
        private = hidden_words(cell.source, secret)
        for output in cell.outputs:
            if output.output_type == "error":
                output.evalue = REDACTED if _words(str(output.evalue)) & private else scrub(output.evalue, secret)
                output.traceback = [f"{output.ename}: {output.evalue}"]
            elif output.output_type == "stream":
                output.text = scrub(output.text, secret)
            else:
                for mime, data in output.get("data", {}).items():
                    if isinstance(data, str):
                        output.data[mime] = scrub(data, secret)
        return cell, resources


NOTES_CLASS = "needle-edu-grading-notes"


def add_notes(page, reason):
    """Put the grader's reasons (``"; "``-separated, as in grades.csv) at the top of a feedback page."""
    lines = [line.strip() for line in reason.split("; ") if line.strip()]
    text = page.read_text()
    text = re.sub(rf'<section class="{NOTES_CLASS}">.*?</section>\n?', "", text, flags=re.S)
    if lines:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
        block = (f'<section class="{NOTES_CLASS}" style="border:1px solid #c60;padding:0.5em 1em;margin:1em">'
                 f"<h2>How this submission was graded</h2><ul>{items}</ul></section>\n")
        text = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + "\n" + block, text, count=1)
    page.write_text(text)
