"""What the sandboxed kernel runs first, inside the sandbox: a zombie reaper and a prompt exit.

Run as ``python sandbox_init.py STUDENT_KERNEL [kernel options]``. It makes two things
deterministic before the student kernel starts:

- Children that exit and are never waited for (``os.fork`` then ``os._exit``) stay zombies of
  the kernel and count against the sandbox's process limit, so later cells could not start a
  thread. A daemon thread reaps every zombie child that no ``subprocess.Popen`` or
  ``multiprocessing`` object is waiting for (those keep their exit status).
- A kernel asked to stop from a cell (``exit()``, ``kernel.do_shutdown(False)``) would stop a
  moment later, in whichever cell runs then. Here it stops at once, in the cell that asked,
  so that cell is the one charged, on every run.
"""
import os
import runpy
import sys
import threading
import time
import weakref

SWEEP_SECONDS = 0.1


def _zombie_children():
    """Pids of this process's children that have exited and not been waited for."""
    me, found = os.getpid(), set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as file:
                fields = file.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == b"Z" and int(fields[1]) == me:
            found.add(int(name))
    return found


class Reaper:
    """Reaps zombie children nobody waits for; ``Popen``/``multiprocessing`` children are left alone."""

    def __init__(self):
        import subprocess
        self.waited_for = weakref.WeakSet()
        original = subprocess.Popen.__init__
        waited_for = self.waited_for

        def init(popen, *args, **kwargs):
            original(popen, *args, **kwargs)
            waited_for.add(popen)

        subprocess.Popen.__init__ = init

    def _owned(self):
        owned = {getattr(p, "pid", None) for p in list(self.waited_for) if getattr(p, "returncode", 0) is None}
        import multiprocessing.process
        owned |= {getattr(getattr(p, "_popen", None), "pid", None) for p in list(multiprocessing.process._children)}
        return owned

    def sweep(self, seen_before):
        """Reap zombies seen in the last sweep too (a Popen being made has had time to register)."""
        zombies = _zombie_children()
        for pid in (zombies & seen_before) - self._owned():
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        return zombies

    def run(self):
        seen = set()
        while True:
            try:
                seen = self.sweep(seen)
            except Exception:  # never let the reaper take the kernel down
                seen = set()
            time.sleep(SWEEP_SECONDS)

    def start(self):
        threading.Thread(target=self.run, name="needle-edu-reaper", daemon=True).start()


def exit_in_the_asking_cell():
    """When student code sets the shell's ``exit_now`` during a cell, end the kernel right there."""
    from IPython.core.interactiveshell import InteractiveShell
    from ipykernel.zmqshell import ZMQInteractiveShell

    running = [0]
    run_cell_async = InteractiveShell.run_cell_async

    async def counted(shell, *args, **kwargs):
        running[0] += 1
        try:
            return await run_cell_async(shell, *args, **kwargs)
        finally:
            running[0] -= 1

    InteractiveShell.run_cell_async = counted
    handler = ZMQInteractiveShell.__dict__["_update_exit_now"]
    stop_later = handler.func

    def stop_now(shell, change):
        if change["new"] and running[0]:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:
                    pass
            os._exit(0)
        return stop_later(shell, change)

    handler.func = stop_now


def main(argv):
    kernel, arguments = argv[0], argv[1:]
    Reaper().start()
    exit_in_the_asking_cell()
    sys.argv = [kernel, *arguments]
    sys.path[0] = os.path.dirname(kernel)
    runpy.run_path(kernel, run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
