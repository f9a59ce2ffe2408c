"""Numeric arrays from MATLAB 5 `.mat` files (JHMDB's `puppet_mask.mat`), without scipy.

The level-5 format: a 128-byte header, then tagged data elements, each padded to 8 bytes; a
`miCOMPRESSED` element holds a zlib stream of another element; a `miMATRIX` element holds array
flags, dimensions, a name and the real part, stored column-major (possibly in a smaller type
than the array's class, which is what MATLAB's compression of doubles does).
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np

MI_TYPES = {
    1: np.int8,
    2: np.uint8,
    3: np.int16,
    4: np.uint16,
    5: np.int32,
    6: np.uint32,
    7: np.float32,
    9: np.float64,
    12: np.int64,
    13: np.uint64,
}
MI_MATRIX, MI_COMPRESSED = 14, 15
# mxCLASS -> numpy dtype of the array (logical arrays are flagged and stored as uint8)
MX_CLASSES = {
    6: np.float64,
    7: np.float32,
    8: np.int8,
    9: np.uint8,
    10: np.int16,
    11: np.uint16,
    12: np.int32,
    13: np.uint32,
    14: np.int64,
    15: np.uint64,
}
LOGICAL_FLAG = 0x0200


class MatFileError(ValueError):
    """Not a level-5 MAT file, or a variable this reader does not handle (cells, structs, sparse)."""


def _elements(data: bytes, order: str):
    """(type, payload) of each data element in `data`."""
    offset = 0
    while offset + 8 <= len(data):
        kind, size = struct.unpack_from(order + "II", data, offset)
        if kind >> 16:  # small data element: size in the upper half, payload in the tag's second word
            kind, size = kind & 0xFFFF, kind >> 16
            yield kind, data[offset + 4 : offset + 4 + size]
            offset += 8
            continue
        yield kind, data[offset + 8 : offset + 8 + size]
        offset += 8 + size + (0 if kind == MI_COMPRESSED else (-size) % 8)  # compressed ones are not padded


def _matrix(payload: bytes, order: str) -> tuple[str, np.ndarray]:
    parts = list(_elements(payload, order))
    if len(parts) < 4:
        raise MatFileError("truncated matrix element")
    flags = np.frombuffer(parts[0][1], dtype=order + "u4")[0]
    mx_class = int(flags & 0xFF)
    dims = tuple(int(d) for d in np.frombuffer(parts[1][1], dtype=order + "i4"))
    name = parts[2][1].decode("ascii", "replace")
    if mx_class not in MX_CLASSES:
        raise MatFileError(f"variable {name!r} is not a numeric array (class {mx_class})")
    kind, raw = parts[3]
    values = np.frombuffer(raw, dtype=np.dtype(MI_TYPES[kind]).newbyteorder(order))
    dtype = bool if flags & LOGICAL_FLAG else MX_CLASSES[mx_class]
    return name, values.astype(dtype).reshape(dims, order="F")


def load_mat(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """name -> array of every numeric variable of a level-5 MAT file (as `scipy.io.loadmat` gives them)."""
    with open(path, "rb") as handle:
        data = handle.read()
    if len(data) < 128 or data[126:128] not in (b"IM", b"MI"):
        raise MatFileError(f"{path} is not a MATLAB 5 .mat file")
    order = "<" if data[126:128] == b"IM" else ">"
    out = {}
    for kind, payload in _elements(data[128:], order):
        if kind == MI_COMPRESSED:
            kind, payload = next(_elements(zlib.decompress(payload), order))
        if kind == MI_MATRIX:
            try:
                name, array = _matrix(payload, order)
            except MatFileError:
                continue
            out[name] = array
    return out
