"""Weight-free label propagation: each object moved by its own motion (its inside's or its outline's),
settled by its colour against its surroundings, held or found again when its evidence vanishes, and
dropped at a scene cut unless its appearance is found in the new shot."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from rvos_cli.errors import InputError
from rvos_cli.models.flow.appearance import LOOKALIKE, TEXTURED, ColourModels, colour_index, texture
from rvos_cli.models.flow.cleanup import clean_labels, keep_attached
from rvos_cli.models.flow.cuts import CutDetector
from rvos_cli.models.flow.fusion import MAX_GROWTH, assign, cap_area, object_score, prior_log_odds
from rvos_cli.models.flow.masks import bounds, object_ids, touches_border
from rvos_cli.models.flow.motion import estimate_motion, match_translation, rescale
from rvos_cli.models.flow.optical_flow import DenseFlow
from rvos_cli.models.flow.outline import FIT_STRONG, FIT_TRUST, FitMap, choose, edge_flow, fit_map, shift_of
from rvos_cli.models.flow.redetect import ObjectMemory
from rvos_cli.models.flow.shape import GROW, GROW_LED, WHOLE, ShapeTrack
from rvos_cli.models.flow.warp import camera_motion, changed, warp_image, warp_labels

# An object whose mask all but vanishes (under this share of its reference area) while nothing hides it
# and its predicted place does not look like its surroundings is shown there for up to HOLD_FRAMES frames.
HOLD_SHARE, HOLD_FRAMES = 0.3, 3
# A lost object is looked for within this many px of where it was expected, plus LOST_SPREAD px for each
# frame it has been lost, for at most LOST_FRAMES frames.
LOST_SPREAD, LOST_FRAMES = 2, 50
# An object is taken to be partly hidden under this share of its reference area, or under WHOLE when it
# lost more than 1 - SHRINKING of its area since the previous frame.
HIDDEN, SHRINKING = 0.75, 0.95
# Mean absolute difference (grey levels) under which the dense flow explains what an object's pixels show.
EXPLAINED = 12.0
# Share of the frame's short side within which a lost object is first looked for.
LOST_RADIUS = 0.05


@dataclass
class Reading:
    """What one step learned about an object: its predicted shape [H, W] bool; whether its colour leads the
    decision (clearly apart from its surroundings, little texture of its own); whether the motion inside it
    agrees with its outline's (else the dense flow, which follows the inside, is left out); whether it was
    whole and in plain view (so a mask that vanishes now is lost evidence, not an occlusion)."""

    predicted: np.ndarray
    colour_led: bool = False
    inner_ok: bool = True
    in_view: bool = True


@dataclass
class Lost:
    """An object whose track ended: the shape [H, W] bool where it was expected, frames since, whether it
    went with a scene cut (then only the first frame of a later shot may find it again), and, if it left
    the frame, its velocity [2] then (it comes back against it, not along it)."""

    expected: np.ndarray | None
    since: int = 0
    at_cut: bool = False
    exit_velocity: np.ndarray | None = None


class FlowPropagator:
    """First-frame labels carried through a video by optical flow, outline and colour.

    start(frame [H, W, 3] uint8 RGB, labels [H, W] uint8 ids), then step(frame) -> [H, W] uint8 ids
    for each following frame. Flow is computed with the frame's short side scaled to `size` pixels
    (never upscaled; 0 = native); labels are decided at full resolution. Each object is predicted by its
    own motion (ShapeTrack): its inside's (tracked corners, else matched pixels, motion.py) or its
    outline's (its shape slid over its colour evidence, outline.py) when the two disagree and the outline
    explains the frame clearly better; the prediction, labels warped along dense flow and the object's
    colour against its local background decide each pixel (fusion.py). An object whose evidence vanishes
    is held a few frames; a lost one is looked for near where it was going (redetect.py). At a scene cut
    (cuts.py) every object is dropped unless its appearance is found in the new shot.
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

    def start(self, frame: np.ndarray, labels: np.ndarray, prompts=(), num_frames=None) -> None:
        self.cuts = CutDetector()
        self.cuts(frame)
        self.colours = ColourModels()
        self.memory = ObjectMemory()
        self.tracks: dict[int, ShapeTrack] = {}
        self.lost: dict[int, Lost] = {}
        self.texture: dict[int, float] = {}
        self._fit: dict[int, float] = {}
        self._visible: dict[int, float] = {}
        self._remember(frame, self._gray(frame), colour_index(frame), labels.astype(np.uint8))

    def step(self, frame: np.ndarray, new_labels: np.ndarray | None = None, prompts=()) -> np.ndarray:
        gray, index = self._gray(frame), colour_index(frame)
        cut = self.cuts(frame)
        labels = self._new_shot(gray, index) if cut else self._follow(gray, index)
        if new_labels is not None:
            labels = self._join(labels, new_labels)
        self._remember(frame, gray, index, labels, cut)
        return labels

    def _remember(self, frame: np.ndarray, gray: np.ndarray, index: np.ndarray, labels: np.ndarray, cut=False):
        """Start tracks for new ids and update every model from the decided `labels`."""
        for object_id in object_ids(labels):
            if object_id not in self.tracks:
                self.tracks[object_id] = ShapeTrack(labels == object_id)
                self.lost.pop(object_id, None)
        shapes = {k: track.template for k, track in self.tracks.items()}
        self.colours.update(index, labels, self._band(frame) * 3, restart=cut, shapes=shapes)
        small = self._small(labels, gray.shape)
        self.memory.update(gray, small)
        for object_id in self.tracks:
            value = texture(gray, small == object_id)
            if value is not None:
                old = self.texture.get(object_id, value)
                self.texture[object_id] = 0.9 * old + 0.1 * value
        areas = {int(k): float((labels == k).sum()) for k in self.tracks}
        self._change = {k: area / max(1.0, self._visible.get(k, area)) for k, area in areas.items()}
        self._visible = areas
        self._previous, self._labels = gray, labels

    # -- within a shot ---------------------------------------------------------------------------------

    def _follow(self, gray: np.ndarray, index: np.ndarray) -> np.ndarray:
        shape = index.shape
        flow = self.flow(gray, self._previous)
        self._residual = cv2.absdiff(gray, warp_image(self._previous, flow))
        backward = self._to_full(flow, shape)
        dense = warp_labels(self._labels, backward)
        readings = {k: self._read(k, track, gray, index, backward, dense) for k, track in self.tracks.items()}
        still = self._still(gray, flow, shape) if any(r.colour_led for r in readings.values()) else None
        labels = self._decide(index, dense, readings, still)
        labels = clean_labels(labels, radius=max(1, round(min(shape) / 480)))
        labels = keep_attached(labels, {k: r.predicted for k, r in readings.items()}, reach=self._band(index))
        self._hold(labels, index, readings)
        self._find(labels, index, gray, backward)
        self._settle(labels, readings)
        return labels

    def _read(
        self,
        object_id: int,
        track: ShapeTrack,
        gray: np.ndarray,
        index: np.ndarray,
        backward: np.ndarray,
        dense: np.ndarray,
    ) -> Reading:
        """Predict the object's shape in this frame from its motion (see the class docstring)."""
        scale = gray.shape[1] / self._labels.shape[1]
        visible = self._labels == object_id
        small = self._small(visible, gray.shape)
        guess = rescale(track.motion, scale)
        inner = estimate_motion(self._previous, gray, small, guess)
        textureless = self.texture.get(object_id, 0.0) < TEXTURED
        if self._hidden(object_id, track, visible):
            # Partly hidden or leaving the frame: the flow there is the occluder's or unreliable; without
            # corners of its own, coast on the last velocity measured on the object itself.
            predicted = track.predict(None if inner is None else rescale(inner, 1 / scale))
            led = textureless and self._fit.get(object_id, -np.inf) >= FIT_TRUST
            return Reading(predicted, colour_led=led, in_view=False)
        if inner is None:
            # Whole but too small or smooth for corners: match its pixels.
            inner = match_translation(self._previous, gray, small, guess)
        inner = None if inner is None else rescale(inner, 1 / scale)
        fits = self._fits(object_id, track, index, inner)
        self._fit[object_id] = fits.best()[1] if fits is not None else -np.inf
        motion, inner_ok = self._motion(object_id, track, inner, fits)
        if motion is not None:
            predicted = track.predict(motion)
        elif track.measured and not self._flow_explains(dense == object_id, gray):
            # Nothing of it could be measured in this frame, nor does the flow explain what is there (a flash,
            # something passing in front of it): it goes on as it was going.
            predicted = track.predict(None)
        else:
            # No motion of its own: the dense flow along its outline, where its edge moves.
            predicted = track.predict(edge_flow(backward, dense == object_id, self._band(index)), measured=False)
        led = textureless and self._fit[object_id] >= FIT_TRUST
        return Reading(predicted, colour_led=led, inner_ok=inner_ok)

    def _motion(
        self, object_id: int, track: ShapeTrack, inner: np.ndarray | None, fits: FitMap | None
    ) -> tuple[np.ndarray | None, bool]:
        """(the object's motion [2, 3] or None, whether it is its inside's): the inner motion unless there is
        none (then the outline's, if its colour fits at all) or the consistency test prefers the outline's."""
        fit = self._fit[object_id]
        if inner is None:
            return (fits.best()[0], False) if fit >= FIT_TRUST else (None, True)
        if fit >= FIT_STRONG and self.colours.lookalike.get(object_id, 1.0) < LOOKALIKE:
            outline = choose(inner, fits, track.centre())
            if outline is not None:
                return outline, False
        return inner, True

    def _flow_explains(self, mask: np.ndarray, gray: np.ndarray) -> bool:
        """Whether the dense flow, applied to the previous frame, reproduces this one over `mask` [H, W] bool."""
        small = self._small(mask, gray.shape)
        return bool(small.any()) and float(self._residual[small].mean()) < EXPLAINED

    def _hidden(self, object_id: int, track: ShapeTrack, visible: np.ndarray) -> bool:
        """Whether the object is partly hidden or leaving the frame: on the frame's edge, under HIDDEN of its
        reference area, or short of whole and shrinking fast (an occluder covering it); a mask that is slowly
        losing a few pixels is not."""
        area = float(visible.sum())
        if touches_border(visible) or area < HIDDEN * track.area:
            return True
        return area < WHOLE * track.area and self._change.get(object_id, 1.0) < SHRINKING

    def _fits(self, object_id: int, track: ShapeTrack, index: np.ndarray, inner: np.ndarray | None) -> FitMap | None:
        """The fit of the object's shape over its colour evidence, around where its velocity and its inner
        motion put it."""
        box = bounds(track.template, 0)
        if box is None:
            return None
        band = self._band(index)
        centre = track.centre()
        shifts = [track.velocity] + ([shift_of(inner, centre)] if inner is not None else [])
        reach = 2 * band + 4 + 0.5 * float(np.hypot(*track.velocity)) + 2 * band
        height, width = index.shape
        x0 = max(0, int(min(box[1].start + s[0] for s in shifts) - reach))
        x1 = min(width, int(np.ceil(max(box[1].stop + s[0] for s in shifts) + reach)))
        y0 = max(0, int(min(box[0].start + s[1] for s in shifts) - reach))
        y1 = min(height, int(np.ceil(max(box[0].stop + s[1] for s in shifts) + reach)))
        window = (slice(y0, y1), slice(x0, x1))
        return fit_map(self.colours.evidence(index[window], object_id), window, track.template, box, 2 * band)

    def _still(self, gray: np.ndarray, flow: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """[H, W] bool: pixels that did not change beyond the camera's motion (fitted to the flow away from the
        objects), where colour must not lead."""
        objects = cv2.dilate((self._small(self._labels, gray.shape) > 0).astype(np.uint8), np.ones((9, 9), np.uint8))
        moved = changed(gray, self._previous, camera_motion(flow, objects.astype(bool)))
        return ~self._small(moved, shape)

    def _decide(
        self, index: np.ndarray, dense: np.ndarray, readings: dict[int, Reading], still: np.ndarray | None
    ) -> np.ndarray:
        """Labels [H, W] uint8 from the dense warp, the predictions and colour evidence."""
        band = self._band(index)
        labels = np.zeros(dense.shape, np.uint8)
        best = np.zeros(dense.shape, np.float32)
        for object_id, reading in readings.items():
            rigid = reading.predicted
            warped = dense == object_id if reading.inner_ok else rigid
            region = bounds(rigid | warped, 3 * band)
            if region is None:
                continue
            prior = prior_log_odds(rigid[region], warped[region], softness=band / 2)
            evidence = self.colours.evidence(index[region], object_id, smooth=reading.colour_led)
            lead = (~still[region] | (dense[region] == object_id)) if reading.colour_led else None
            score = object_score(prior, evidence, smoothing=band | 1, lead=lead)
            growth = 1 + GROW_LED if reading.colour_led else 1
            score = cap_area(score, MAX_GROWTH * growth * self.tracks[object_id].area)
            assign(labels, best, region, score, object_id)
        return labels

    def _hold(self, labels: np.ndarray, index: np.ndarray, readings: dict[int, Reading]) -> None:
        """Show the prediction of an object whose evidence vanished (in place)."""
        for object_id, reading in readings.items():
            track = self.tracks[object_id]
            if (labels == object_id).sum() >= HOLD_SHARE * track.area:
                track.held = 0
                continue
            free = reading.predicted & (labels == 0)
            if not reading.in_view or track.held >= HOLD_FRAMES or not free.any():
                continue
            if self.colours.evidence(index[free], object_id).mean() < 0:  # it looks like its surroundings
                continue
            labels[free] = object_id
            track.held += 1

    def _find(self, labels: np.ndarray, index: np.ndarray, gray: np.ndarray, backward: np.ndarray) -> None:
        """Look for missing objects near where they were expected (in place)."""
        band = self._band(index)
        for object_id, track in self.tracks.items():
            if track.missing and not (labels == object_id).any():
                found = self._search(object_id, track.template, band + LOST_SPREAD * track.missing, index, gray)
                if found is not None:
                    labels[found & (labels == 0)] = object_id
        for object_id, lost in list(self.lost.items()):
            lost.since += 1
            if lost.at_cut or lost.expected is None:
                continue
            if lost.since > LOST_FRAMES:
                del self.lost[object_id]
                continue
            radius = round(LOST_RADIUS * min(index.shape)) + LOST_SPREAD * lost.since
            found = self._search(object_id, lost.expected, radius, index, gray)
            if found is None:
                continue
            # Something of its look where it left the frame, moving on the way it left, is another one
            # (the next hatch on a roof passing under the camera), not it coming back.
            if lost.exit_velocity is not None and float(-np.median(backward[found], axis=0) @ lost.exit_velocity) > 0:
                continue
            labels[found & (labels == 0)] = object_id

    def _search(self, object_id, expected, radius, index, gray) -> np.ndarray | None:
        textured = self.texture.get(object_id, 0.0) >= TEXTURED
        return self.memory.find_near(object_id, index, gray, self.colours, expected, radius, textured)

    def _settle(self, labels: np.ndarray, readings: dict[int, Reading]) -> None:
        """Update shape templates; end the tracks of objects unseen too long or gone out of the frame (with
        what is left of them in `labels`, in place, so a sliver at the border does not live on)."""
        for object_id, reading in readings.items():
            track = self.tracks[object_id]
            mask = labels == object_id
            grow = GROW_LED if reading.colour_led else GROW
            if not track.settle(reading.predicted, mask, (labels != 0) & ~mask, grow):
                left = touches_border(track.template)
                self.lost[object_id] = Lost(
                    self._expected(object_id, track), exit_velocity=track.velocity.copy() if left else None
                )
                del self.tracks[object_id]
                labels[mask] = 0

    def _expected(self, object_id: int, track: ShapeTrack) -> np.ndarray | None:
        """Where an object whose track ends is to be looked for: its last shape, or, if it left the frame,
        its remembered view at the place it left by."""
        inside = track.template
        view = self.memory.views.get(object_id)
        if view is None or not inside.any():
            return inside if inside.any() else None
        if inside.sum() >= WHOLE * track.area:
            return inside
        height, width = inside.shape
        ys, xs = np.nonzero(inside)
        h, w = view.mask.shape
        scale = height / self._previous.shape[0]
        mask = cv2.resize(
            view.mask.astype(np.uint8), (round(w * scale), round(h * scale)), interpolation=cv2.INTER_NEAREST
        )
        h, w = mask.shape
        y = int(np.clip(ys.mean() - h / 2, 0, max(0, height - h)))
        x = int(np.clip(xs.mean() - w / 2, 0, max(0, width - w)))
        expected = np.zeros_like(inside)
        expected[y : y + h, x : x + w] = mask[: height - y, : width - x].astype(bool)
        return expected

    # -- across a cut ----------------------------------------------------------------------------------

    def _new_shot(self, gray: np.ndarray, index: np.ndarray) -> np.ndarray:
        """Labels of the first frame of a new shot: the objects whose appearance is found in it; the others
        are dropped (found again only at a later cut)."""
        labels = np.zeros(index.shape, np.uint8)
        for object_id in sorted(set(self.tracks) | set(self.lost)):
            textured = self.texture.get(object_id, 0.0) >= TEXTURED
            found = self.memory.find_anywhere(object_id, index, gray, self.colours, textured)
            if found is not None:
                labels[found & (labels == 0)] = object_id
            else:
                self.lost[object_id] = Lost(None, at_cut=True)
        self.tracks = {}
        return labels

    # -- helpers ---------------------------------------------------------------------------------------

    def _scale(self, shape: tuple[int, int]) -> float:
        return min(1.0, self.size / min(shape)) if self.size else 1.0  # 0 = native resolution

    def _gray(self, frame: np.ndarray) -> np.ndarray:
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        scale = self._scale(gray.shape)
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        return gray

    @staticmethod
    def _small(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """A label map or mask resized (nearest) to `shape`."""
        if image.shape[:2] == tuple(shape):
            return image
        resized = cv2.resize(image.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
        return resized.astype(bool) if image.dtype == bool else resized

    @staticmethod
    def _band(image: np.ndarray) -> int:
        """Width of the uncertain band around each predicted edge: a few pixels at 480p, scaled with the frame."""
        return max(2, round(4 * min(image.shape[:2]) / 480))

    def _join(self, labels: np.ndarray, new_labels: np.ndarray) -> np.ndarray:
        """Objects first annotated on this frame replace whatever was predicted under them."""
        labels = labels.copy()
        for object_id in object_ids(new_labels):
            if object_id not in self.memory.known:
                labels[new_labels == object_id] = object_id
        return labels

    @staticmethod
    def _to_full(flow: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        if flow.shape[:2] == shape:
            return flow
        scale = shape[1] / flow.shape[1]
        return cv2.resize(flow, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR) * scale
