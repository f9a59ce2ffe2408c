"""Weight-free label propagation: each object moved by its own motion and by dense flow, then
settled by its colour against its surroundings."""

from __future__ import annotations

import cv2
import numpy as np

from rvos_cli.errors import InputError
from rvos_cli.models.flow.appearance import ColourModels, colour_index
from rvos_cli.models.flow.cleanup import clean_labels
from rvos_cli.models.flow.fusion import MAX_GROWTH, assign, bounds, cap_area, object_score, prior_log_odds
from rvos_cli.models.flow.motion import estimate_motion, match_translation, median_translation, rescale
from rvos_cli.models.flow.optical_flow import DenseFlow
from rvos_cli.models.flow.redetect import ObjectMemory
from rvos_cli.models.flow.shape import WHOLE, ShapeTrack
from rvos_cli.models.flow.warp import warp_labels


def _touches_border(mask: np.ndarray) -> bool:
    """mask [H, W] bool -> whether any of its pixels is on the frame's edge."""
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


class FlowPropagator:
    """First-frame labels carried through a video by optical flow.

    start(frame [H, W, 3] uint8 RGB, labels [H, W] uint8 ids), then step(frame) -> [H, W] uint8 ids
    for each following frame. Flow is computed with the frame's short side scaled to `size` pixels
    (never upscaled; 0 = native); labels are decided at full resolution. Each object is predicted twice,
    by its own similarity motion from tracked corners (ShapeTrack, motion.py) and by the labels warped
    along dense backward flow; the two and the object's colour against its local background decide
    each pixel (fusion.py). An object lost for good is looked for again by template matching (ObjectMemory).
    """

    name = "flow"

    def __init__(self, size: int = 480):
        if size < 0:
            raise InputError(f"--size must be 0 (native) or a positive shorter side, got {size}")
        self.size = size
        self.flow = DenseFlow()

    @classmethod
    def from_options(cls, network: None, options, **context) -> FlowPropagator:
        return cls(size=options.size)

    def working_size(self, height: int, width: int) -> tuple[int, int]:
        """The size the flow is computed at (labels are decided at the frame's own size)."""
        scale = self._scale((height, width))
        return round(height * scale), round(width * scale)

    def settings(self) -> dict:
        return {"size": self.size}

    def _scale(self, shape: tuple[int, int]) -> float:
        return min(1.0, self.size / min(shape)) if self.size else 1.0  # 0 = native resolution

    def _gray(self, frame: np.ndarray) -> np.ndarray:
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        scale = self._scale(gray.shape)
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        return gray

    def start(self, frame: np.ndarray, labels: np.ndarray, prompts=(), num_frames=None) -> None:
        self._previous = self._gray(frame)
        self._labels = labels.astype(np.uint8)
        self.memory = ObjectMemory()
        self.memory.update(frame, self._labels)
        self.colours = ColourModels()
        self.colours.update(colour_index(frame), self._labels, self._band(frame) * 3)
        self.tracks: dict[int, ShapeTrack] = {}
        self._add_tracks(self._labels)

    def step(self, frame: np.ndarray, new_labels: np.ndarray | None = None, prompts=()) -> np.ndarray:
        gray = self._gray(frame)
        index = colour_index(frame)
        backward = self._to_full(self.flow(gray, self._previous), frame.shape[:2])
        dense = warp_labels(self._labels, backward)
        predicted = {k: self._predict(k, track, gray, backward, dense) for k, track in self.tracks.items()}
        labels = self._decide(index, dense, predicted)
        labels = clean_labels(labels, radius=max(1, round(min(frame.shape[:2]) / 480)))
        labels = self.memory.redetect(frame, labels)
        if new_labels is not None:
            labels = self._join(labels, new_labels)
        self._settle(labels, predicted)
        self.colours.update(index, labels, self._band(frame) * 3)
        self.memory.update(frame, labels)
        self._previous, self._labels = gray, labels
        return labels

    def _predict(
        self, object_id: int, track: ShapeTrack, gray: np.ndarray, backward: np.ndarray, dense: np.ndarray
    ) -> np.ndarray:
        """The object's template moved by the similarity its corners followed, else by where its pixels
        match (too few corners: small or smooth objects), else, when partly hidden, by its last measured
        velocity, else by the median dense flow over it; at full resolution. -> [H, W] bool."""
        scale = gray.shape[1] / self._labels.shape[1]
        visible = self._labels == object_id
        small = cv2.resize(visible.astype(np.uint8), gray.shape[::-1], interpolation=cv2.INTER_NEAREST)
        guess = rescale(track.motion, scale)
        motion = estimate_motion(self._previous, gray, small.astype(bool), guess)
        hidden = _touches_border(visible) or visible.sum() < WHOLE * track.area
        if motion is None and not hidden:
            # Whole but too small or smooth for corners: match its pixels. A partly hidden object's
            # remaining pixels may be the occluder's (a lagging edge), which would stop it dead.
            motion = match_translation(self._previous, gray, small.astype(bool), guess)
        if motion is not None:
            return track.predict(rescale(motion, 1 / scale))
        if hidden:
            # Partly hidden or leaving the frame: the flow there is the occluder's or unreliable; coast
            # on the last velocity measured on the object itself.
            return track.predict(None)
        return track.predict(median_translation(backward, dense == object_id), measured=False)

    def _decide(self, index: np.ndarray, dense: np.ndarray, predicted: dict[int, np.ndarray]) -> np.ndarray:
        """Labels [H, W] uint8 from the dense warp, the rigid predictions and colour evidence."""
        band = self._band(index)
        labels = np.zeros(dense.shape, np.uint8)
        best = np.zeros(dense.shape, np.float32)
        for object_id, rigid in predicted.items():
            warped = dense == object_id
            region = bounds(rigid | warped, 3 * band)
            if region is None:
                continue
            prior = prior_log_odds(rigid[region], warped[region], softness=band / 2)
            score = object_score(prior, self.colours.evidence(index[region], object_id), smoothing=band | 1)
            score = cap_area(score, MAX_GROWTH * self.tracks[object_id].area)
            assign(labels, best, region, score, object_id)
        return labels

    def _settle(self, labels: np.ndarray, predicted: dict[int, np.ndarray]) -> None:
        """Update shape templates; drop those unseen too long or gone out of the frame (with what is left
        of them in `labels`, in place, so a sliver at the border does not live on); start new ones."""
        for object_id, rigid in predicted.items():
            mask = labels == object_id
            if not self.tracks[object_id].settle(rigid, mask, (labels != 0) & ~mask):
                del self.tracks[object_id]
                labels[mask] = 0
        self._add_tracks(labels)

    def _add_tracks(self, labels: np.ndarray) -> None:
        for object_id in np.unique(labels):
            if object_id and int(object_id) not in self.tracks:
                self.tracks[int(object_id)] = ShapeTrack(labels == object_id)

    @staticmethod
    def _band(image: np.ndarray) -> int:
        """Width of the uncertain band around each predicted edge: a few pixels at 480p, scaled with the frame."""
        return max(2, round(4 * min(image.shape[:2]) / 480))

    def _join(self, labels: np.ndarray, new_labels: np.ndarray) -> np.ndarray:
        """Objects first annotated on this frame replace whatever was predicted under them."""
        labels = labels.copy()
        for object_id in np.unique(new_labels):
            if object_id and object_id not in self.memory.known:
                labels[new_labels == object_id] = object_id
        return labels

    @staticmethod
    def _to_full(flow: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        if flow.shape[:2] == shape:
            return flow
        scale = shape[1] / flow.shape[1]
        return cv2.resize(flow, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR) * scale
