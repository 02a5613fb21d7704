"""The ``needle-edu-sandbox`` kernel's launcher: it starts the student kernel inside the sandbox.

It runs as the grader, in the notebook's folder, with $NEEDLE_EDU_SANDBOX (see
:func:`autograder.grading.sandbox.settings`) and $NEEDLE_EDU_STUDENT_BUILD set by the course tool.
"""
import json
import os
import shutil
import sys
from pathlib import Path

from . import sandbox
from .student_kernel import BUILD_VARIABLE


def main(argv):
    """``-f CONNECTION_FILE [kernel options]``: copy the connection file where the kernel sees it, exec."""
    config = json.loads(os.environ["NEEDLE_EDU_SANDBOX"])
    ipc_dir, uid = Path(config["ipc_dir"]), int(config["uid"])
    connection = Path(argv[argv.index("-f") + 1])
    inside = ipc_dir / connection.name
    shutil.copyfile(connection, inside)
    os.chmod(inside, 0o644)
    if os.geteuid() == 0:
        os.chown(ipc_dir, uid, uid)
    arguments = [inside.as_posix() if a == str(connection) else a for a in argv]
    argv_out = sandbox.command(arguments, workdir=os.getcwd(), build=os.environ[BUILD_VARIABLE], ipc_dir=ipc_dir,
                               uid=uid, limits=sandbox.Limits(**config["limits"]), threads=config["threads"])
    os.execvp(argv_out[0], argv_out)


if __name__ == "__main__":
    main(sys.argv[1:])
