"""Label maps as PNG files: mode-P (palette) PNGs with the DAVIS palette, and reading them back.

OpenCV cannot write palette PNGs and decodes them to colours, so palette PNGs are written here
with zlib + struct. They are read back as their palette indices: the file's PLTE chunk is
replaced by a grey ramp (entry i is (i, i, i)) before OpenCV decodes it, so two objects whose
palette colours are the same stay two objects (mapping colours back to indices would merge them).
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

from rvos_cli.errors import InputError
from rvos_cli.video.images import MAX_SIDE, PNG_SIGNATURE, check_size, read_header


def _davis_palette() -> np.ndarray:
    """The PASCAL VOC / DAVIS palette: the bits of each id spread over the three channels."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for index in range(256):
        c, r, g, b = index, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette[index] = (r, g, b)
    return palette


DAVIS_PALETTE = _davis_palette()  # [256, 3] uint8 RGB; id 0 is black background, 1 is (128, 0, 0)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_palette_png(labels: np.ndarray, palette: np.ndarray = DAVIS_PALETTE) -> bytes:
    """PNG bytes (colour type 3, 8 bits) of an [H, W] uint8 label map."""
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise ValueError(f"labels must be an [H, W] uint8 array, got {labels.dtype} {labels.shape}")
    height, width = labels.shape
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    rows = np.concatenate([np.zeros((height, 1), np.uint8), labels], axis=1)  # filter byte 0 per row
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"PLTE", palette.astype(np.uint8).tobytes())
        + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + _chunk(b"IEND", b"")
    )


def write_palette_png(path: str | os.PathLike, labels: np.ndarray) -> None:
    Path(path).write_bytes(encode_palette_png(labels))


# The chunks a palette PNG keeps when its indices are read: the image itself, nothing that
# changes how it is shown (transparency, gamma, colour profiles, a histogram of the old palette).
_CRITICAL = (b"IHDR", b"IDAT", b"IEND")


def _palette_indices(data: bytes, bit_depth: int, path: Path) -> np.ndarray:
    """[H, W] uint8 palette indices of a palette PNG: decoded with a grey-ramp palette."""
    chunks, offset = [], len(PNG_SIGNATURE)
    while offset + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if offset + 12 + length > len(data):
            break
        if kind in _CRITICAL:
            chunks.append(data[offset : offset + 12 + length])
        if kind == b"IEND":
            break
        offset += 12 + length
    ramp = np.repeat(np.arange(1 << bit_depth, dtype=np.uint8)[:, None], 3, axis=1)
    rebuilt = PNG_SIGNATURE + chunks[0] + _chunk(b"PLTE", ramp.tobytes()) + b"".join(chunks[1:])
    image = cv2.imdecode(np.frombuffer(rebuilt, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"mask {path} does not decode (a truncated or corrupt PNG); save it again")
    return image if image.ndim == 2 else image[..., 0]


def _colours_to_ids(rgb: np.ndarray, palette: np.ndarray, path: Path) -> np.ndarray:
    """Map each pixel's colour to the palette index of that colour (a palette without repeats)."""
    key = lambda c: (c[..., 0].astype(np.int32) << 16) | (c[..., 1].astype(np.int32) << 8) | c[..., 2]  # noqa: E731
    palette_keys = key(palette)
    order = np.argsort(palette_keys, kind="stable")
    sorted_keys = palette_keys[order]
    pixel_keys = key(rgb)
    positions = np.clip(np.searchsorted(sorted_keys, pixel_keys), 0, len(sorted_keys) - 1)
    if not np.all(sorted_keys[positions] == pixel_keys):
        raise InputError(
            f"mask {path} has colours that are not in the DAVIS palette; "
            "save it as a palette or grayscale PNG of object ids"
        )
    return order[positions]


def read_label_png(path: str | os.PathLike, max_width: int = MAX_SIDE, max_height: int = MAX_SIDE) -> np.ndarray:
    """An [H, W] integer label map (0 = background) from a palette PNG (its indices), a grayscale
    id image, a 0/255 binary mask, or an RGB image drawn in the DAVIS palette.

    The size is read from the header first: an image over max_width x max_height (or over the
    absolute limits of `rvos_cli.video.images`) is refused without being decoded. Returns int32 so
    that 16-bit id images with more than 255 objects can be reported by the caller.
    """
    path = Path(path)
    header = read_header(path, "mask")
    if header.format == "jpeg":
        raise InputError(
            f"mask {path} is a JPEG, whose lossy compression invents object ids along every edge; "
            "save the mask as a PNG (palette or grayscale)"
        )
    check_size(header, path, "mask", max_width, max_height)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read mask {path}: {exc.strerror or exc}; pass an existing PNG") from None
    if header.colour_type == 3:
        return _palette_indices(data, header.bit_depth, path).astype(np.int32)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"mask {path} does not decode (a truncated or corrupt PNG); save it again")
    if image.ndim == 3:
        rgb = cv2.cvtColor(image[..., :3], cv2.COLOR_BGR2RGB)
        if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])):
            return _colours_to_ids(rgb, DAVIS_PALETTE, path).astype(np.int32)
        image = rgb[..., 0]
    labels = image.astype(np.int32)
    if set(np.unique(labels).tolist()) == {0, 255}:
        labels = (labels == 255).astype(np.int32)  # a binary 0/255 mask is one object
    return labels
