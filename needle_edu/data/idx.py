"""The IDX file format of MNIST and Fashion-MNIST: a small header that names the element type and
the shape, then the elements themselves, big-endian, in C order.

The header is a magic number, two zero bytes, a type code and the number of dimensions, followed
by one big-endian uint32 size per dimension. Files may be gzip-compressed; ``read_idx`` tells the
two apart by their first bytes, ``write_idx`` compresses when the name ends in ``.gz``.
"""
import gzip
import math
import os
import struct
import zlib

import numpy as np

# Type code -> numpy element type, as the IDX format defines them ('>' is big-endian).
IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
TYPE_CODES = {dtype.newbyteorder("="): code for code, dtype in IDX_TYPES.items()}
GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path):
    """Read an IDX file (raw or gzip-compressed) into a numpy array in native byte order.

    Raises ``ValueError``, naming the file and the fault, when it is not a well-formed IDX file.
    """
    path = os.fspath(path)
    with open(path, "rb") as file:
        content = file.read()
    if content.startswith(GZIP_MAGIC):
        content = _gunzip(path, content)
    dtype, shape, header_size = _parse_header(path, content)
    expected = math.prod(shape) * dtype.itemsize
    found = len(content) - header_size
    if found < expected:
        raise ValueError(f"{path}: truncated data: the header's shape {shape} needs "
                         f"{expected} bytes of {dtype.name}, the file has {found}")
    if found > expected:
        raise ValueError(f"{path}: {found - expected} bytes of trailing garbage after the "
                         f"{expected} bytes of data that the shape {shape} needs")
    big_endian = np.frombuffer(content, dtype=dtype, offset=header_size).reshape(shape)
    return big_endian.astype(dtype.newbyteorder("="))


def write_idx(path, array):
    """Write ``array`` as an IDX file at ``path``, gzip-compressed when the name ends in ``.gz``.

    The element type must be one that IDX knows: uint8, int8, int16, int32, float32 or float64.
    """
    path = os.fspath(path)
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in TYPE_CODES:
        known = ", ".join(dtype.name for dtype in TYPE_CODES)
        raise TypeError(f"write_idx: IDX has no type for {array.dtype}; it knows {known}")
    if not 1 <= array.ndim <= 255 or any(size >= 2**32 for size in array.shape):
        raise ValueError(f"write_idx: IDX holds 1 to 255 dimensions, each under 2**32; "
                         f"got shape {array.shape}")
    header = struct.pack(">HBB", 0, TYPE_CODES[native], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    content = header + array.astype(IDX_TYPES[TYPE_CODES[native]]).tobytes()
    if path.endswith(".gz"):
        # mtime=0 keeps the bytes, and so the checksum, the same from one run to the next.
        content = gzip.compress(content, mtime=0)
    with open(path, "wb") as file:
        file.write(content)


def _gunzip(path, content):
    try:
        return gzip.decompress(content)
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"{path}: damaged gzip data ({error})") from error


def _parse_header(path, content):
    """Return the element type, the shape and the header's length in bytes."""
    if len(content) < 4:
        raise ValueError(f"{path}: truncated header: {len(content)} bytes, an IDX file "
                         f"starts with a 4-byte magic number")
    zeros, type_code, ndim = struct.unpack_from(">HBB", content)
    if zeros != 0:
        raise ValueError(f"{path}: bad magic number {content[:4].hex()}: an IDX file "
                         f"starts with two zero bytes")
    if type_code not in IDX_TYPES:
        raise ValueError(f"{path}: bad magic number {content[:4].hex()}: unknown type code "
                         f"0x{type_code:02X}")
    if ndim == 0:
        raise ValueError(f"{path}: bad magic number {content[:4].hex()}: zero dimensions")
    header_size = 4 + 4 * ndim
    if len(content) < header_size:
        raise ValueError(f"{path}: truncated header: {ndim} dimensions need {header_size} "
                         f"bytes of header, the file has {len(content)}")
    shape = struct.unpack_from(f">{ndim}I", content, offset=4)
    return IDX_TYPES[type_code], shape, header_size
