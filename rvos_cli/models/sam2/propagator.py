"""SAM 2.1 or SAM 3's tracker on one video, streamed: frames and prompts in, label maps out, in bounded memory.

The semantics are those of SAM 2's VOS evaluation (`tools/vos_inference.py`): each object is tracked
from the first frame it is given on (a mask in the label map, or a box or points), alone
(`vos_separate_inference_per_object`), with only that first prompt; before it, it is absent. A frame's
label map is the objects' mask logits at the frame's resolution, each pixel going to the object with
the highest logit if that logit is above 0 (`labels.non_overlapping_labels`).

Per frame: the frame is preprocessed and encoded once (`get_image_features`), every object's session
(`session.ObjectSession`) gets the features and runs the model's own per-frame step
(`model(inference_session=..., frame_idx=...)`: memory attention over its conditioning frame and recent
memories, the mask decoder, the memory encoder), then is pruned to what the next frame reads.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch

from rvos_cli.errors import InputError
from rvos_cli.models.prompts import ObjectPrompt
from rvos_cli.models.rdevos.preprocess import to_device
from rvos_cli.models.sam2.labels import non_overlapping_labels
from rvos_cli.models.sam2.loader import check_transformers
from rvos_cli.models.sam2.preprocess import frame_transform, upsample_logits

if TYPE_CHECKING:
    from rvos_cli.models.sam2.session import ObjectSession

NAMES = {"sam2_video": "sam2", "sam3_tracker_video": "sam3-tracker"}


class Sam2Propagator:
    """`start(frame, labels, prompts)`, then `step(frame, new_labels, prompts) -> labels` per frame.

    model: a `Sam2VideoModel` or `Sam3TrackerVideoModel` (`loader.load_sam2`, or built from
    `configs.config_for`). frame [H, W, 3] uint8 RGB; labels [H, W] uint8 (0 background, ids 1-255):
    objects not tracked yet join on that frame with their mask, ids already tracked are ignored (the
    evaluation uses an object's first mask only); prompts: `ObjectPrompt`s of objects joining on that
    frame by box and/or points. Returns [H, W] uint8 labels; `start` returns the first frame's.
    `object_scores`: {object id: probability that the object is visible} on the latest frame, the
    sigmoid of the model's object score; `object_ids` (ascending) and `logits` [N, H, W] float32 on
    `device`: the latest frame's mask logits at the frame size, before the non-overlapping constraint.
    `autocast`: a torch dtype for mixed precision on `device`.
    """

    def __init__(
        self,
        model,
        device: torch.device = torch.device("cpu"),
        autocast: torch.dtype | None = None,
    ):
        check_transformers()
        self.network = model.to(device).eval()
        self.device, self.autocast = device, autocast
        self.transform = frame_transform(model.config)
        self.name = NAMES[model.config.model_type]
        self.num_maskmem = model.config.num_maskmem
        self.max_object_pointers = model.config.max_object_pointers_in_encoder
        self.encode_image = model.get_image_features
        self.sessions: dict[int, ObjectSession] = {}
        self.object_scores: dict[int, float] = {}
        self.object_ids: list[int] = []
        self.logits: torch.Tensor | None = None
        self.frame_idx = -1

    @classmethod
    def from_options(cls, model, options, device: torch.device, **context) -> Sam2Propagator:
        """The adapter the builder makes: the model is on `device`, the caller's precision policy applies."""
        return cls(model, device=device)

    def working_size(self, height: int, width: int) -> tuple[int, int]:
        """The square every frame is resized to (the model's `image_size`); masks come back at the frame size."""
        return self.transform.size, self.transform.size

    def settings(self) -> dict:
        return {"image_size": self.transform.size, "num_maskmem": self.num_maskmem}

    def compile(self, compile_stage: Callable[[Callable], Callable]) -> None:
        """Replace the image encoder, which sees one fixed-size square per frame, by `compile_stage` of it;
        the memory attention, whose memory grows over the first frames, stays eager."""
        self.encode_image = compile_stage(self.network.get_image_features)

    def start(
        self,
        frame: np.ndarray,
        labels: np.ndarray | None,
        prompts: Sequence[ObjectPrompt] = (),
        num_frames: int | None = None,
    ) -> np.ndarray:
        """Begin a video on its first frame. `num_frames`, the clip's length when known, makes clips
        shorter than `max_object_pointers_in_encoder` (16) frames match the offline evaluation exactly."""
        self.sessions, self.object_scores, self.frame_idx = {}, {}, -1
        self.size, self.clip_length = frame.shape[:2], num_frames
        joining = self._joining(frame, labels, prompts)
        if not joining:
            raise InputError(
                "the first frame has no object (no mask pixel above 0 and no box or point); "
                "give a mask with ids 1-255, a box or a point"
            )
        return self._track(frame, joining)

    def step(
        self, frame: np.ndarray, new_labels: np.ndarray | None = None, prompts: Sequence[ObjectPrompt] = ()
    ) -> np.ndarray:
        if self.frame_idx < 0:
            raise RuntimeError("start() must be called before step()")
        if frame.shape[:2] != self.size:
            raise InputError(
                f"frame {self.frame_idx + 1} is {frame.shape[1]}x{frame.shape[0]} but the video started at "
                f"{self.size[1]}x{self.size[0]}; frames of one video must share a size"
            )
        return self._track(frame, self._joining(frame, new_labels, prompts))

    def object_masks(self) -> dict[int, np.ndarray]:
        """Each object's own mask on the latest frame, bool [H, W] (logit above 0; objects may overlap, unlike
        the label map `step` returns)."""
        masks = (self.logits > 0).cpu().numpy()
        return {object_id: masks[i] for i, object_id in enumerate(self.object_ids)}

    def held_frames(self) -> set[int]:
        """The frame indices the per-video state still holds anything of (bounded by the memory window
        plus each object's first frame)."""
        return set().union(*(session.held_frames() for session in self.sessions.values()))

    def _joining(self, frame: np.ndarray, labels: np.ndarray | None, prompts: Sequence[ObjectPrompt]) -> dict:
        """{object id: ("mask", bool [H, W]) or ("points", prompt)} for the objects that join on this frame."""
        height, width = frame.shape[:2]
        joining: dict = {}
        if labels is not None:
            if labels.shape != (height, width):
                raise InputError(
                    f"the mask is {labels.shape[1]}x{labels.shape[0]} but the frames are {width}x{height}; "
                    "give a mask of the frame size"
                )
            for object_id in np.unique(labels):
                if object_id != 0 and int(object_id) not in self.sessions:
                    joining[int(object_id)] = ("mask", labels == object_id)
        for prompt in prompts:
            prompt.check_inside(height, width)
            where = f"on frame {self.frame_idx + 1}"
            if prompt.object_id in self.sessions:
                first = self.sessions[prompt.object_id].first_frame
                raise InputError(
                    f"object {prompt.object_id} is tracked since frame {first}; a box or points for it {where} "
                    "would be a second prompt, which the evaluation does not use: give each object once"
                )
            if prompt.object_id in joining:
                how = "a mask and a box/points" if joining[prompt.object_id][0] == "mask" else "two box/point prompts"
                raise InputError(
                    f"object {prompt.object_id} is given by {how} {where}; "
                    "SAM 2 takes either a mask or a box with points for an object on one frame"
                )
            joining[prompt.object_id] = ("mask", prompt.mask) if prompt.mask is not None else ("points", prompt)
        return joining

    @torch.inference_mode()
    def _track(self, frame: np.ndarray, joining: dict) -> np.ndarray:
        from rvos_cli.models.sam2.session import ObjectSession

        self.frame_idx += 1
        index, (height, width) = self.frame_idx, self.size
        for object_id, (kind, value) in joining.items():
            session = ObjectSession(object_id, self.device, self.clip_length)
            if kind == "mask":
                session.add_mask(index, self.transform.mask(torch.from_numpy(value).to(self.device)))
            else:
                session.add_points(index, self.transform.prompt(value, height, width))
            self.sessions[object_id] = session
        pixels = self.transform.frames(to_device(frame, self.device)[None])
        logits, scores = [], {}
        with self._mixed():
            encoded = self.encode_image(pixels, return_dict=True)
            features = {"vision_feats": encoded.fpn_hidden_states, "vision_pos_embeds": encoded.fpn_position_encoding}
            for object_id in sorted(self.sessions):
                session = self.sessions[object_id]
                session.add_features(index, features)
                output = self.network(inference_session=session, frame_idx=index)
                logits.append(output.pred_masks[0])
                scores[object_id] = float(torch.sigmoid(output.object_score_logits.float()).reshape(-1)[0])
                session.prune(index, self.num_maskmem, self.max_object_pointers)
        self.object_scores, self.object_ids = scores, sorted(self.sessions)
        self.logits = upsample_logits(torch.stack(logits), (height, width))[:, 0]
        return non_overlapping_labels(self.logits, self.object_ids).cpu().numpy()

    def _mixed(self):
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast)
