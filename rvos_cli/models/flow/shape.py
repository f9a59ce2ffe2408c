"""Each object's full shape, carried by its own motion even while it is hidden.

The visible mask of an object that passes behind another shrinks; warping only what is visible
would lose the hidden part for good. The shape template keeps the whole object, moved rigidly,
and is replaced by the visible mask whenever the object is (nearly) whole again. Being whole is
judged against a reference area that follows the object's scale and forgets slowly, so a gradual
occlusion is not mistaken for the object shrinking, while a real change of shape is adopted in time.
An object whose colour sets it clearly apart (its outline leads) may grow much faster: an animal standing
up or a head turning grows by a third within a few frames, and its colour, not a rate, bounds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from rvos_cli.models.flow.masks import centroid
from rvos_cli.models.flow.motion import IDENTITY

# The visible mask replaces the template when it covers this share of the reference area.
WHOLE = 0.9
# Per frame, the reference area moves this share of the way towards the visible area when smaller.
FORGET = 0.02
# ... and at most this share towards it per frame when larger (beyond the scale its motion explains),
# or this much when its colour leads (outline.py).
GROW, GROW_LED = 0.005, 0.05
# A template not seen for this many frames is dropped; re-detection may bring the object back.
MAX_MISSING = 12
# A track whose predicted shape keeps less than this share of its reference area has left the frame.
GONE = 0.15


@dataclass
class ShapeTrack:
    """template [H, W] bool full-frame shape; area: reference area (px); motion [2, 3] float32 last
    full-resolution motion; velocity [2] float32 (dx, dy) of its centre at the last measured motion;
    missing: frames unseen; coasting: whether the last prediction had no motion of its own to go by;
    held: frames in a row its prediction was shown in place of evidence that vanished; measured: whether
    its velocity was ever measured on the object itself."""

    template: np.ndarray
    area: float = 0.0
    motion: np.ndarray = field(default_factory=IDENTITY.copy)
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    missing: int = 0
    coasting: bool = False
    held: int = 0
    measured: bool = False

    def __post_init__(self):
        self.area = self.area or float(self.template.sum())

    def predict(self, motion: np.ndarray | None, measured: bool = True) -> np.ndarray:
        """The template moved by `motion` ([2, 3], full resolution), or, when None, by the last measured
        velocity alone (constant velocity through an occlusion, no runaway scaling). `measured`: whether
        `motion` comes from the object itself (tracked corners, template match), so that it may be
        coasted on later; a guess from the dense flow around it is not. -> [H, W] bool."""
        self.coasting = motion is None
        if self.coasting:
            motion = IDENTITY.copy()
            motion[:, 2] = self.velocity
        elif measured:
            centre = self.centre()
            self.velocity = motion[:, :2] @ centre + motion[:, 2] - centre
            self.measured = True
        self.motion = motion
        self.area *= abs(float(np.linalg.det(motion[:, :2])))
        height, width = self.template.shape
        # An object cut by the frame's edge goes on beyond it: what the motion brings in across that edge
        # is more of the object (a van passing under the camera), so the edge is replicated, not cleared.
        moved = cv2.warpAffine(
            self.template.astype(np.uint8) * 255,
            motion,
            (width, height),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        return moved > 127

    def centre(self) -> np.ndarray:
        """[2] float32 (x, y) centroid of the template (0, 0 when empty)."""
        return centroid(self.template)

    def settle(self, predicted: np.ndarray, visible: np.ndarray, others: np.ndarray, grow: float = GROW) -> bool:
        """predicted, visible, others [H, W] bool (others: pixels of other objects). Adopt the visible mask,
        plus what other objects hide of the prediction, when it is whole; else keep the prediction. `grow`:
        the most the reference area may grow this frame (GROW, or GROW_LED). -> False when the object has
        been unseen long enough to drop the track."""
        if predicted.sum() < GONE * self.area:  # most of the shape has left the frame
            return False
        shown = visible | (predicted & others)
        area = float(shown.sum())
        self.missing = self.missing + 1 if not visible.any() else 0
        if area >= WHOLE * self.area:
            # The reference follows a whole object slowly both ways, so neither bleeding nor erosion sticks.
            self.template = shown
            self.area = min(self.area * (1 + grow), max(area, self.area - FORGET * (self.area - area)))
        else:
            self.template = predicted
            if visible.any() and not self.coasting:  # a hidden object says nothing about its size
                self.area -= FORGET * (self.area - area)
        return self.missing <= MAX_MISSING and self.template.any()
