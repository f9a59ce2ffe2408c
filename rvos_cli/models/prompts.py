"""Prompts beside label masks: an object given on a frame by a box or by points."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ObjectPrompt:
    """One object that joins on a frame. box: (x0, y0, x1, y1) in frame pixels; points: (x, y, label)
    in frame pixels, label 1 for a point on the object and 0 for one off it. A box and points may go
    together (to models that take both)."""

    object_id: int
    box: tuple[float, float, float, float] | None = None
    points: tuple[tuple[float, float, int], ...] = ()
