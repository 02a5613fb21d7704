"""The course tool of needle-edu: student releases, grading, feedback and grades, driving nbgrader.

``python -m autograder --help`` lists the commands; ``python -m autograder demo`` runs them all.
"""
