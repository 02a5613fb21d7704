"""How much memory the computation graph holds: the bytes of the arrays its nodes keep alive.

Every node made by an op keeps its value (``cached_data``) until the graph is freed, because
``backward`` may need it. ``graph_nbytes`` counts those bytes once the graph is built;
``MemoryTracker`` follows the bytes of op outputs that are alive while code runs, and their peak.
Both count each buffer once, however many views (reshapes, broadcasts) share it.
"""
import weakref

import numpy as np

from .autograd import TensorOp, TensorTupleOp


def _arrays(value):
    """The NDArrays a graph value holds: one for a Tensor, several for a TensorTuple."""
    data = value.cached_data
    return data if isinstance(data, tuple) else (data,)


def _buffer_nbytes(handle):
    return handle.size * np.dtype(handle.dtype).itemsize


def graph_nodes(*outputs):
    """Every node the ``outputs`` depend on (themselves included), each once, in no set order."""
    seen, stack = set(), list(outputs)
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(node.inputs)
    return seen


def graph_nbytes(*outputs, include_leaves=False):
    """The bytes of the values held by the graph behind ``outputs``: by the nodes ops made, and
    with ``include_leaves`` by the leaves too (inputs, parameters). A buffer counts once, however
    many views share it, and a view of a leaf (a broadcast bias) counts only with the leaves."""
    ops_made, leaves = {}, {}
    for node in graph_nodes(*outputs):
        for array in _arrays(node):
            (leaves if node.op is None else ops_made)[id(array._handle)] = _buffer_nbytes(array._handle)
    if include_leaves:
        return sum({**ops_made, **leaves}.values())
    return sum(size for key, size in ops_made.items() if key not in leaves)


class MemoryTracker:
    """``with MemoryTracker() as memory: ...`` records the bytes of op outputs alive after each op.

    Afterwards ``memory.peak`` is the largest total seen, ``memory.live`` what is still alive and
    ``memory.timeline`` a list of (op name, live bytes), one entry per op run inside the block.
    A buffer stops counting when Python frees it. Only new buffers count: a view of an op's input
    (a reshape, a transpose) adds nothing, and the block's inputs and parameters existed before it.
    """

    def __init__(self):
        self.live = self.peak = 0
        self.timeline = []
        self._alive = {}  # id(buffer) -> bytes, for the buffers made inside the block
        self._saved = None

    def __enter__(self):
        self._saved = {cls: cls.__call__ for cls in (TensorOp, TensorTupleOp)}
        for cls, call in self._saved.items():
            cls.__call__ = self._recording(call)
        return self

    def __exit__(self, *exc_info):
        for cls, call in self._saved.items():
            cls.__call__ = call
        return False

    def _recording(self, call):
        tracker = self

        def recording_call(op, *args):
            value = call(op, *args)
            views_of = {id(a._handle) for x in args if hasattr(x, "cached_data") for a in _arrays(x)}
            tracker._record(op.name, value, views_of)
            return value

        return recording_call

    def _record(self, name, value, input_buffers):
        for array in _arrays(value):
            handle = array._handle
            if id(handle) not in self._alive and id(handle) not in input_buffers:  # not a view
                size = _buffer_nbytes(handle)
                self._alive[id(handle)] = size
                self.live += size
                weakref.finalize(handle, self._free, id(handle))
        self.peak = max(self.peak, self.live)
        self.timeline.append((name, self.live))

    def _free(self, key):
        self.live -= self._alive.pop(key, 0)
