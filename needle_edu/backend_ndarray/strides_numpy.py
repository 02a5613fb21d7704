# needle-edu: builds before a06 only
"""NDArray's stride rules taken from numpy: the views of builds made before notebook a06.

Notebook a06 asks students to write the rules of ``strides``; the student builds of the
notebooks before it (which run on NDArray views) carry these instead. Each rule asks numpy to
make the same view of a one-byte stand-in buffer (so numpy's strides and offsets, counted in
bytes, are in elements) and reads back its shape, strides and where it starts. The buffer is
never read: the view is only looked at.
"""
import functools

import numpy as np

_BASE = np.zeros(1, dtype=np.uint8)
_ADDRESS = _BASE.__array_interface__["data"][0]


def _as_numpy(shape, strides):
    return np.lib.stride_tricks.as_strided(_BASE, shape, strides)


def _read(view, offset):
    return view.shape, view.strides, offset + view.__array_interface__["data"][0] - _ADDRESS


@functools.lru_cache(maxsize=1024)
def compact_strides(shape):
    """Row-major strides of ``shape``: the products of the later dimensions."""
    if not shape:
        return ()
    later = np.cumprod((tuple(shape[1:]) + (1,))[::-1], dtype=np.int64)[::-1]
    return tuple(int(s) for s in later)


def is_compact(shape, strides, offset, buffer_size):
    view = _as_numpy(shape, strides)
    return offset == 0 and view.size == buffer_size and tuple(strides) == compact_strides(tuple(shape))


def permute_view(shape, strides, offset, axes):
    return _read(_as_numpy(shape, strides).transpose(axes), offset)


def broadcast_view(shape, strides, offset, new_shape):
    return _read(np.broadcast_to(_as_numpy(shape, strides), new_shape), offset)


def flip_view(shape, strides, offset, axes):
    return _read(np.flip(_as_numpy(shape, strides), axes), offset)


def index_view(shape, strides, offset, index):
    return _read(_as_numpy(shape, strides)[tuple(index) + (Ellipsis,)], offset)  # ...: a view, never a scalar
