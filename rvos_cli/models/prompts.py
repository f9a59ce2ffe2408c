"""Objects that join a video by a box or points instead of a mask (the promptable trackers: SAM 2, SAM 3's tracker).

A mask comes through the label map a propagator reads; an `ObjectPrompt` says where another object is
on the frame it is given with, in that frame's pixels (x to the right, y down, continuous coordinates:
the frame spans [0, width] x [0, height]).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rvos_cli.errors import InputError

POSITIVE, NEGATIVE = 1, 0


@dataclass(frozen=True, eq=False)
class ObjectPrompt:
    """An object that joins on the frame it is given with.

    object_id: 1-255, its value in the label maps. box: (x0, y0, x1, y1) with x0 < x1 and y0 < y1, or
    None. points: ((x, y, label), ...), label 1 for a point on the object, 0 for one off it. A box, a
    point with label 1, or both; the model reads the box first, then the points in order. mask: the
    object's own mask, bool [H, W] at the frame size, instead of a box or points: unlike the objects of
    a label map, objects given so may overlap (`rvos refer --track` seeds a tracker with them).
    """

    object_id: int
    box: tuple[float, float, float, float] | None = None
    points: tuple[tuple[float, float, int], ...] = ()
    mask: np.ndarray | None = None

    def __post_init__(self):
        object.__setattr__(self, "points", tuple((float(x), float(y), int(label)) for x, y, label in self.points))
        if self.box is not None:
            object.__setattr__(self, "box", tuple(float(v) for v in self.box))
        if not 1 <= self.object_id <= 255:
            raise InputError(f"object id {self.object_id} is out of range; number objects 1-255")
        if self.box is not None:
            x0, y0, x1, y1 = self.box
            if not (x0 < x1 and y0 < y1):
                raise InputError(
                    f"the box {_coords(self.box)} of object {self.object_id} has no area; "
                    "give X0,Y0,X1,Y1 with X0 < X1 and Y0 < Y1 (top-left, bottom-right corners)"
                )
        if any(label not in (POSITIVE, NEGATIVE) for _, _, label in self.points):
            raise InputError(f"a point of object {self.object_id} has a label other than 1 (on it) or 0 (off it)")
        if self.mask is not None:
            if self.box is not None or self.points or self.mask.ndim != 2 or not self.mask.any():
                raise InputError(f"object {self.object_id}'s mask must be a non-empty [H, W] mask, given alone")
            return
        if self.box is None and not any(label == POSITIVE for _, _, label in self.points):
            raise InputError(
                f"object {self.object_id} has no box and no point on it; give a box or at least one positive point"
            )

    def check_inside(self, height: int, width: int) -> None:
        """InputError unless the box and points (or the mask) lie within (or fit) a `width` x `height` frame."""
        if self.mask is not None:
            if self.mask.shape != (height, width):
                raise InputError(
                    f"the mask of object {self.object_id} is {self.mask.shape[1]}x{self.mask.shape[0]} but the "
                    f"frames are {width}x{height}"
                )
            return
        corners = [(self.box[0], self.box[1]), (self.box[2], self.box[3])] if self.box is not None else []
        for x, y in corners + [(x, y) for x, y, _ in self.points]:
            if not (0 <= x <= width and 0 <= y <= height):
                what = f"box {_coords(self.box)}" if (x, y) in corners else f"point {_coords((x, y))}"
                raise InputError(
                    f"the {what} of object {self.object_id} is outside the {width}x{height} frame; "
                    f"give coordinates in pixels within 0-{width} (x) and 0-{height} (y)"
                )


def _coords(values) -> str:
    return ",".join(f"{v:g}" for v in values)
