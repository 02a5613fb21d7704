"""``python -m autograder.grading.nbgrader_main ARGS``: nbgrader's command line, started without
jsonschema's IRI-syntax checker.

Importing that checker builds a parser (1.6 s of CPU) and nbgrader checks no IRI formats, so every
autograde, one nbgrader process per submission, started that much later. jsonschema skips a
checker whose module cannot be imported.
"""
import sys

if __name__ == "__main__":
    sys.modules.setdefault("rfc3987_syntax", None)  # None in sys.modules: the import raises ImportError
    from nbgrader.apps.nbgraderapp import main

    main()
