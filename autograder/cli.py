"""``python -m autograder``: the instructor's commands, and ``demo``, the course's end-to-end check.

Each command works on the course root (default ``course_build/``) and drives nbgrader.
"""
import argparse
import os
import sys
import time
from pathlib import Path

from . import exchange, pipeline
from .course import QUICK_VARIABLE, REPO, Course
from .grading import kernel, nbgrader_driver
from .release import leaks, student_build
from .release.regions import MarkerError

DEMO_STUDENTS = ("correct", "blank", "wrong")


def _assignments(course, names):
    return [course.assignment(n) for n in names] if names else list(course.assignments())


def cmd_student_build(course, args):
    for assignment in _assignments(course, args.assignments):
        target = Path(args.output) / assignment if args.output else course.student_build(assignment)
        print(student_build.build(course.library, assignment, course.notebook_names(), target))
    return 0


def cmd_release(course, args):
    for assignment in _assignments(course, args.assignments):
        print(f"released {assignment}: {pipeline.release(course, assignment)}")
    return 0


def cmd_examples(course, args):
    for assignment in _assignments(course, args.assignments):
        print(f"examples of {assignment}: {pipeline.make_examples(course, assignment)}")
    return 0


def cmd_publish(course, args):
    print(f"published {exchange.publish(course, course.assignment(args.assignment), args.exchange)}")
    return 0


def cmd_collect(course, args):
    assignment = course.assignment(args.assignment)
    if (args.folder is None) == (args.exchange is None):
        raise pipeline.CourseError("collect takes a folder of submissions or --exchange DIR (one of them)")
    students = (exchange.collect(course, assignment, args.exchange) if args.exchange
                else pipeline.collect(course, assignment, args.folder))
    print(f"collected {len(students)} submission(s) of {assignment}: {', '.join(students) or 'none'}")
    return 0 if students else 1


def cmd_grade(course, args):
    assignment = course.assignment(args.assignment)
    outcomes = pipeline.grade(course, assignment, args.student, cluster=args.scheduler or args.cluster)
    print(pipeline.table(nbgrader_driver.grades(course, assignment), outcomes, assignment))
    failed = [o.student for o in outcomes if not o.ok]
    if failed:
        print(f"grading failed for: {', '.join(failed)} (see {course.root / 'logs' / assignment}/)")
    zero = [o.student for o in outcomes if o.status == "zero"]
    if zero:
        print(f"zero (not gradable) for: {', '.join(zero)}")
    return 1 if failed else 0


def cmd_feedback(course, args):
    assignment = course.assignment(args.assignment)
    for path in pipeline.feedback(course, assignment, args.student):
        print(path)
    if args.exchange:
        print(f"returned to {exchange.return_feedback(course, assignment, args.exchange, args.student)}")
    return 0


def cmd_export(course, args):
    output = Path(args.output) if args.output else course.root / "grades.csv"
    print(f"wrote {pipeline.export(course, output)} grade(s) to {output}")
    return 0


def cmd_kernel(course, args):
    print(f"installed {kernel.install()}")
    return 0


def expected(grade):
    """Why the demo grade ``grade`` is not as its example deserves, or None when it is."""
    autograded = [c for c in grade.cells if c.autograded]
    if grade.student == "correct" and any(c.score != c.max_score for c in autograded):
        return "the correct example lost points"
    if grade.student == "blank" and any(c.score != 0 for c in autograded):
        return "the blank release earned points"
    if grade.student == "wrong" and not grade.score < grade.max_score:
        return "the wrong example earned full marks"
    return None


def cmd_demo(course, args):
    """Release every assignment, grade its examples, give feedback, export; exit 0 when all is as expected."""
    timings, problems = {}, []
    if not args.full:
        os.environ.setdefault(QUICK_VARIABLE, "1")
    quick = os.environ.get(QUICK_VARIABLE, "") not in ("", "0")  # needle_edu.course.quick_mode()
    print("demo: " + ("quick mode (smaller training budgets; --full for the students' sizes)"
                      if quick else "full mode (the students' training budgets)"))

    def timed(phase, job, *arguments):
        start = time.monotonic()
        result = job(*arguments)
        timings[phase] = timings.get(phase, 0.0) + time.monotonic() - start
        return result

    for assignment in _assignments(course, args.assignments):
        print(f"== {assignment}")
        timed("release", pipeline.release, course, assignment)
        examples = timed("examples", pipeline.make_examples, course, assignment)
        timed("collect", pipeline.collect, course, assignment, examples)
        outcomes = timed("grade", pipeline.grade, course, assignment, list(DEMO_STUDENTS))
        problems += [f"{assignment} {o.student}: grading failed: {o.reason}" for o in outcomes if not o.ok]
        grades = nbgrader_driver.grades(course, assignment)
        print(pipeline.table(grades, outcomes, assignment))
        problems += [f"{assignment} {g.student}: {why}" for g in grades if (why := expected(g))]
        timed("feedback", pipeline.feedback, course, assignment)
        problems += [f"{assignment}: {path} shows {line!r}"
                     for path, line in timed("leak check", leaks.check, course, assignment)]
    output = course.root / "grades.csv"
    timed("export", pipeline.export, course, output)
    print("phase timings: " + ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in timings.items()))
    print(f"grades: {output}")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print("demo: " + ("FAILED" if problems else "every grade as expected, nothing leaked"))
    return 1 if problems else 0


def parser():
    top = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.splitlines()[0])
    top.add_argument("--course-root", default=str(REPO / "course_build"),
                     help="generated course folder (nbgrader's course root; default: course_build/)")
    top.add_argument("--notebooks", action="append", default=None, metavar="DIR",
                     help="folder of assignment sources aNN_<topic>/ (repeatable; default: notebooks/)")
    top.add_argument("--cell-timeout", type=int, default=Course.cell_timeout,
                     help=f"seconds per notebook cell (default {Course.cell_timeout})")
    top.add_argument("--budget", type=int, default=Course.submission_budget,
                     help=f"wall-clock seconds for grading one submission (default {Course.submission_budget})")
    top.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                     help="submissions graded at once, each in its own sandbox (default: the cores)")
    top.add_argument("--unsandboxed", action="store_true",
                     help="grade even where no sandbox can be made: student code then runs with your rights")
    commands = top.add_subparsers(dest="command", required=True, metavar="command")

    def command(name, function, help, assignment=None):
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(function=function)
        if assignment == "many":
            sub.add_argument("assignments", nargs="*", help="assignment names or tags (default: all)")
        elif assignment == "one":
            sub.add_argument("assignment", help="assignment name or tag, e.g. a01")
        return sub

    command("student-build", cmd_student_build, "write the student build of needle_edu for assignments",
            "many").add_argument("--output", help="folder for <assignment>/needle_edu (default: course root)")
    command("release", cmd_release, "student build + nbgrader generate_assignment -> release/<assignment>/",
            "many")
    command("examples", cmd_examples, "make the correct/blank/wrong example submissions from the source "
            "into examples/<kind>/<assignment>/", "many")
    command("publish", cmd_publish, "put the release in nbgrader's exchange, where students fetch it "
            "(a course server: deploy/jupyterhub/)", "one").add_argument(
        "--exchange", required=True, metavar="DIR", help="the exchange root (nbgrader's Exchange.root)")
    collect = command("collect", cmd_collect, "copy <folder>/<student>/<assignment>/ into submitted/ "
                      "(any needle_edu/ folder in a submission is dropped)", "one")
    collect.add_argument("folder", nargs="?", help="folder with one subfolder per student")
    collect.add_argument("--exchange", metavar="DIR", help="collect instead each student's latest new "
                         "submission from this nbgrader exchange")
    grade = command("grade", cmd_grade, "autograde each submission in its own nbgrader process and print "
                    "the grade table; exit 1 if any submission could not be graded", "one")
    grade.add_argument("--student", action="append", help="grade only this student (repeatable)")
    where = grade.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="grade on this Dask scheduler's workers, one task per submission (they need the "
                       "repository and the course root at the same paths; see autograder/README.md)")
    where.add_argument("--cluster", choices=["local"],
                       help="grade on a Dask LocalCluster of --jobs worker processes on this machine")
    feedback = command("feedback", cmd_feedback, "HTML feedback without hidden tests -> feedback/", "one")
    feedback.add_argument("--student", help="only this student")
    feedback.add_argument("--exchange", metavar="DIR", help="also return it through this nbgrader exchange "
                          "(students' Fetch Feedback)")
    command("export", cmd_export, "write every grade to a CSV file, atomically").add_argument(
        "--output", help="CSV path (default: <course root>/grades.csv)")
    command("kernel", cmd_kernel, "install the needle-edu-student kernelspec into this environment")
    command("demo", cmd_demo, "release every assignment, grade its correct/blank/wrong examples, give "
            "feedback, check for leaks and export; exit 0 only if every grade is as expected", "many"
            ).add_argument("--full", action="store_true",
                           help=f"train at the students' sizes (default: quick mode, {QUICK_VARIABLE}=1)")
    return top


def main(argv=None):
    args = parser().parse_args(argv)
    course = Course(root=args.course_root, notebook_dirs=args.notebooks or [REPO / "notebooks"],
                    cell_timeout=args.cell_timeout, submission_budget=args.budget, jobs=max(1, args.jobs),
                    sandboxed=not args.unsandboxed)
    try:
        return args.function(course, args)
    except (MarkerError, KeyError, pipeline.CourseError, exchange.ExchangeError) as error:
        print(f"error: {error.args[0] if isinstance(error, KeyError) else error}", file=sys.stderr)
        return 2
