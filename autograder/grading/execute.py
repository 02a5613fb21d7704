"""nbgrader's Execute, made to survive students: a dead or stuck kernel costs only its cell.

When the kernel dies, ignores an interrupt or breaks the messaging protocol, it is killed,
restarted, and the cells that ran before are replayed. The cell that was running is charged
and never replayed, and so is a replayed cell that kills the kernel again (a kernel asked to stop
from a cell stops in that cell: see ``sandbox_init.py``). Outputs are capped in bytes per cell; a
wall-clock budget bounds it all. Events (restarts, timeouts, cells not run) name cells by grade_id.
"""
import copy
import json
import math
import os
from time import monotonic

from jupyter_core.utils import run_sync
from nbclient.client import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Integer, Unicode

NOT_RUN = "NotRun"
ERROR_CHARACTERS = 10_000


def _error(ename, evalue):
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def _failed(cell):
    return any(o.get("output_type") == "error" for o in cell.get("outputs", []))


class SurvivingExecute(Execute):
    """Execute every cell; a dead kernel or an ignored interrupt means kill, restart, replay, go on."""

    budget = Integer(0, help="wall-clock seconds for the whole notebook (0: none)").tag(config=True)
    output_bytes = Integer(4 * 2**20, help="bytes of output kept per cell").tag(config=True)
    max_restarts = Integer(20, help="kernel restarts before the remaining cells are given up").tag(config=True)
    events = Unicode("", help="file to append JSON lines about restarts and the budget to").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self.shutdown_kernel = "immediate"
        self._deadline = monotonic() + self.budget if self.budget else None
        self._output_used = {}
        run_sync(self._run_all)()
        self.set_widgets_metadata()
        return self.nb, self.resources

    def _note(self, **event):
        if self.events:
            with open(self.events, "a") as file:
                file.write(json.dumps(event) + "\n")

    def _left(self):
        return None if self._deadline is None else self._deadline - monotonic()

    def _get_timeout(self, cell):
        timeout, left = super()._get_timeout(cell), self._left()
        if left is None:
            return timeout
        return max(1, math.ceil(min(timeout or left, left)))  # past it, the budget is spent

    async def _start(self):
        self.km = self.create_kernel_manager()
        await self.async_start_new_kernel()
        await self.async_start_new_kernel_client()
        info = await self.async_wait_for_reply(self.kc.kernel_info())
        if info:
            self.nb.metadata["language_info"] = info["content"]["language_info"]

    async def _stop(self):
        if self.km is not None:
            try:
                await self._async_cleanup_kernel()
            except Exception as error:  # a kernel that is already gone
                self.log.warning("cleaning up the kernel: %s", error)
        self.km = self.kc = None

    def cell_name(self, index):
        """How reasons name a cell: its grade_id, else its place after the nearest graded cell."""
        grade_id = self.nb.cells[index].get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id:
            return grade_id
        for earlier in reversed(self.nb.cells[:index]):
            if previous := earlier.get("metadata", {}).get("nbgrader", {}).get("grade_id"):
                return f"the code cell after {previous}"
        return "a code cell before the first graded cell"

    async def _run_all(self):
        self._done, self._restarts, given_up = [], 0, None
        await self._start()
        try:
            for index, cell in enumerate(self.nb.cells):
                if cell.cell_type != "code" or not cell.source.strip():
                    continue
                left = self._left()
                if given_up or (left is not None and left <= 0):
                    given_up = given_up or f"the submission's {self.budget} s budget was spent"
                    cell.outputs = [_error(NOT_RUN, f"not run: {given_up}")]
                    self._note(event="not_run", cell=index, name=self.cell_name(index), reason=given_up)
                    continue
                problem = await self._execute(cell, index)
                if problem is None:
                    if not _failed(cell):
                        self._done.append(index)
                    continue
                self._charge(index, problem)
                given_up = await self._recover()
        finally:
            await self._stop()

    def _charge(self, index, problem):
        """Give cell ``index`` the error, and keep it from being replayed."""
        cell = self.nb.cells[index]
        cell.outputs = cell.get("outputs", [])[:50] + [_error(type(problem).__name__, str(problem))]
        if index in self._done:
            self._done.remove(index)
        self._note(event="restart", cell=index, name=self.cell_name(index), reason=str(problem))

    async def _recover(self):
        """Restart the kernel and replay the cells that ran; a reason to give up, or None."""
        while True:
            self._restarts += 1
            if self._restarts > self.max_restarts:
                return f"the kernel was restarted {self.max_restarts} times"
            if (left := self._left()) is not None and left <= 0:
                return f"the submission's {self.budget} s budget was spent"
            await self._stop()
            try:
                await self._start()
            except Exception as error:
                return f"the kernel could not be restarted: {error}"
            for index in list(self._done):
                original = self.nb.cells[index]
                replay = copy.deepcopy(original)
                problem = await self._execute(replay, index, store_history=False)
                self.nb.cells[index] = original
                if problem is not None:  # this cell kills the kernel again: it is charged, not replayed
                    self._charge(index, type(problem)(f"{problem}, when it was replayed after a restart"))
                    break
            else:
                return None

    async def _execute(self, cell, index, store_history=True):
        """None when the kernel answered (the cell may have failed); the problem when it did not."""
        self._output_used = {index: 0}
        self._current = index
        try:
            await self.async_execute_cell(cell, index, store_history=store_history)
            return None
        except DeadKernelError:
            return DeadKernelError("the kernel died (exit, crash or a resource limit) in this cell")
        except CellTimeoutError:
            return CellTimeoutError("the cell ignored the interrupt after its time limit; the kernel was killed")
        except Exception as error:  # any other failure of the kernel or its messages: a lost kernel
            return DeadKernelError(f"the kernel stopped answering properly ({type(error).__name__}: "
                                   f"{str(error)[:200]}); it was killed")

    async def _async_handle_timeout(self, timeout, cell=None):
        self._note(event="timeout", cell=self._current, name=self.cell_name(self._current), seconds=timeout)
        return await super()._async_handle_timeout(timeout, cell)

    def output(self, outs, msg, display_id, cell_index):
        """Keep a cell's outputs up to ``output_bytes``; past it, one note says what was dropped."""
        if msg["msg_type"] == "error":  # always kept, but never huge
            content = msg["content"]
            content["evalue"] = str(content.get("evalue", ""))[:ERROR_CHARACTERS]
            content["traceback"] = [str(line)[:ERROR_CHARACTERS] for line in content.get("traceback", [])[-50:]]
        size = len(json.dumps(msg.get("content", {}), default=str))
        used = self._output_used.get(cell_index, 0)
        if msg["msg_type"] != "error" and used + size > self.output_bytes:
            if used <= self.output_bytes:
                outs.append(NotebookNode(output_type="stream", name="stdout",
                                         text=f"\n[output past {self.output_bytes} bytes dropped by the grader]\n"))
                self._output_used[cell_index] = self.output_bytes + 1
            return None
        self._output_used[cell_index] = used + size
        return super().output(outs, msg, display_id, cell_index)


def configure(c):
    """Put :class:`SurvivingExecute` in place of nbgrader's Execute on config ``c``."""
    from nbgrader.converters import Autograde
    default = Autograde.class_traits()["autograde_preprocessors"].default()
    c.Autograde.autograde_preprocessors = [SurvivingExecute if p is Execute else p for p in default]
    c.SurvivingExecute.events = os.environ.get("NEEDLE_EDU_GRADING_EVENTS", "")
