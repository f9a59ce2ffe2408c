"""Image files read safely: the size comes from the header before anything is decoded.

A 1 MB PNG may declare 30000x30000 pixels (a decompression bomb: tens of GB once decoded), so
every frame, mask and ground-truth PNG or JPEG is measured from its header (the PNG IHDR chunk,
the JPEG start-of-frame segment) and refused beyond a limit before OpenCV sees it:

- frames and ground truth: at most MAX_PIXELS pixels and MAX_SIDE pixels a side;
- masks given with a video: at most MASK_SCALE times the frames' width and height (and MAX_PIXELS).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rvos_cli.errors import InputError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
MAX_PIXELS = 1 << 27  # 134,217,728 pixels, e.g. 16384x8192; 8K UHD (7680x4320) is a quarter of it
MAX_SIDE = 1 << 15  # 32768 pixels
MASK_SCALE = 8  # a mask may be drawn at up to 8x the frames' width and height (it is resized to them)
# JPEG start-of-frame markers (SOF0-SOF15 but DHT, JPG and DAC, which share the range).
_JPEG_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


@dataclass(frozen=True)
class ImageHeader:
    """What an image file declares: format ("png" or "jpeg"), width and height in pixels; for a PNG
    also its bit depth and colour type (3: palette)."""

    format: str
    width: int
    height: int
    bit_depth: int = 8
    colour_type: int | None = None


def read_header(path: str | os.PathLike, what: str = "image") -> ImageHeader:
    """The header of a PNG or JPEG file, read without decoding it. InputError (exit 2) for an empty,
    unreadable or truncated file, or another format."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(33)
            if not head:
                raise InputError(f"{what} {path} is empty (0 bytes); pass a complete PNG or JPEG file")
            if head.startswith(PNG_SIGNATURE):
                return _png_header(head, path, what)
            if head.startswith(JPEG_SIGNATURE):
                return _jpeg_header(handle, path, what)
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}; check the file") from None
    raise InputError(f"{what} {path} is not an image rvos reads (PNG or JPEG); save it as PNG")


def _png_header(head: bytes, path: Path, what: str) -> ImageHeader:
    if len(head) < 33 or head[12:16] != b"IHDR":
        raise InputError(f"{what} {path} is a truncated or corrupt PNG (no IHDR header); save it again")
    width, height, bit_depth, colour_type = struct.unpack(">IIBB", head[16:26])
    return ImageHeader("png", width, height, bit_depth, colour_type)


def _jpeg_header(handle, path: Path, what: str) -> ImageHeader:
    """Walk the JPEG segments up to the first start-of-frame, which holds the size."""
    corrupt = InputError(f"{what} {path} is a truncated or corrupt JPEG (no frame header); save it again")
    handle.seek(2)
    while True:
        byte = handle.read(1)
        if byte != b"\xff":
            raise corrupt
        marker = handle.read(1)
        while marker == b"\xff":  # fill bytes
            marker = handle.read(1)
        if not marker:
            raise corrupt
        code = marker[0]
        if code == 0x01 or 0xD0 <= code <= 0xD8:  # markers without a length
            continue
        if code in (0xD9, 0xDA):  # end of image, start of scan: no frame header before them
            raise corrupt
        length = handle.read(2)
        if len(length) < 2 or struct.unpack(">H", length)[0] < 2:
            raise corrupt
        size = struct.unpack(">H", length)[0] - 2
        if code in _JPEG_SOF:
            body = handle.read(size)
            if len(body) < 5:
                raise corrupt
            height, width = struct.unpack(">HH", body[1:5])
            if not (height and width):  # the height of a DNL segment: decoders disagree on it
                raise InputError(f"{what} {path} is a JPEG without a declared height; save it again")
            return ImageHeader("jpeg", width, height)
        handle.seek(size, os.SEEK_CUR)


def check_size(
    header: ImageHeader, path: Path, what: str, max_width: int = MAX_SIDE, max_height: int = MAX_SIDE
) -> None:
    """Refuse an image larger than the limits (MAX_PIXELS, and at most max_width x max_height)."""
    width, height = header.width, header.height
    if not (width and height):
        raise InputError(f"{what} {path} declares {width}x{height} pixels; save it again")
    if width > min(max_width, MAX_SIDE) or height > min(max_height, MAX_SIDE) or width * height > MAX_PIXELS:
        limit = f"{min(max_width, MAX_SIDE)}x{min(max_height, MAX_SIDE)} and {MAX_PIXELS:,} pixels"
        raise InputError(
            f"{what} {path} declares {width}x{height} pixels, over the limit of {limit} "
            "(docs/formats.md, 'Image limits'); it was not decoded: resize it"
        )


def read_image(
    path: str | os.PathLike, flags: int, what: str = "image", max_width: int = MAX_SIDE, max_height: int = MAX_SIDE
) -> tuple[np.ndarray, ImageHeader]:
    """(OpenCV's decode with `flags`, the header) of a PNG or JPEG within the limits; InputError otherwise."""
    path = Path(path)
    header = read_header(path, what)
    check_size(header, path, what, max_width, max_height)
    image = cv2.imdecode(np.fromfile(path, np.uint8), flags)
    if image is None:
        raise InputError(f"{what} {path} does not decode (truncated or corrupt); save it again")
    return image, header
