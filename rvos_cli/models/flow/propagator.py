"""Weight-free label propagation: warp the previous label map along dense optical flow."""

from __future__ import annotations

import cv2
import numpy as np

from rvos_cli.errors import InputError
from rvos_cli.models.flow.appearance import ColourModels
from rvos_cli.models.flow.cleanup import clean_labels
from rvos_cli.models.flow.optical_flow import DenseFlow
from rvos_cli.models.flow.redetect import ObjectMemory
from rvos_cli.models.flow.warp import consistent, warp_labels


class FlowPropagator:
    """First-frame labels carried through a video by optical flow.

    start(frame [H, W, 3] uint8 RGB, labels [H, W] uint8 ids), then step(frame) -> [H, W] uint8 ids
    for each following frame. Flow is computed with the frame's short side scaled to `size` pixels
    (never upscaled; 0 = native); labels are warped at full resolution. Pixels failing the forward-backward check
    become background. An object that disappears is looked for again by template matching
    (see ObjectMemory) and put back where its last good appearance matches well.
    """

    name = "flow"

    def __init__(self, size: int = 480):
        if size < 0:
            raise InputError(f"--size must be 0 (native) or a positive shorter side, got {size}")
        self.size = size
        self.flow = DenseFlow()

    def options(self) -> dict:
        """The settings in effect, for the run summary."""
        return {"size": self.size, "device": "cpu"}

    def _gray(self, frame: np.ndarray) -> np.ndarray:
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        scale = min(1.0, self.size / min(gray.shape)) if self.size else 1.0  # 0 = native resolution
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        return gray

    def start(self, frame: np.ndarray, labels: np.ndarray) -> None:
        self._previous = self._gray(frame)
        self._labels = labels.astype(np.uint8)
        self.memory = ObjectMemory()
        self.memory.update(frame, self._labels)
        self.colours = ColourModels()
        self.colours.fit(frame, self._labels, ring=self._band(frame) * 3)

    def step(self, frame: np.ndarray, new_labels: np.ndarray | None = None) -> np.ndarray:
        gray = self._gray(frame)
        backward = self.flow(gray, self._previous)
        forward = self.flow(self._previous, gray)
        trusted = consistent(backward, forward)
        labels = warp_labels(self._labels, self._to_full(backward, frame.shape[:2]))
        labels[~self._mask_to_full(trusted, frame.shape[:2])] = 0
        labels = self.colours.refine(frame, labels, band=self._band(frame))
        labels = clean_labels(labels, radius=max(1, round(min(frame.shape[:2]) / 480)))
        labels = self.memory.redetect(frame, labels)
        if new_labels is not None:
            labels = self._join(labels, new_labels)
            self.colours.fit(frame, labels, ring=self._band(frame) * 3)
        self.memory.update(frame, labels)
        self._previous, self._labels = gray, labels
        return labels

    @staticmethod
    def _band(frame: np.ndarray) -> int:
        """Width of the boundary band re-decided by colour: a few pixels at 480p, scaled with the frame."""
        return max(2, round(4 * min(frame.shape[:2]) / 480))

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

    @staticmethod
    def _mask_to_full(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        if mask.shape == shape:
            return mask
        return cv2.resize(mask.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST).astype(bool)
