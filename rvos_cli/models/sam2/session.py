"""One object's transformers inference session, fed frame by frame and kept to what the model can still read.

transformers' `Sam2VideoInferenceSession` keeps every frame, every frame's outputs and every prompt for
the whole video (the offline API needs them to propagate again); a streamed clip would grow without
bound. What the model reads when it segments frame t+1 is only: the object's conditioning frames (where
it was prompted) for their memories and object pointers, the memories (`maskmem_features`,
`maskmem_pos_enc`) of frames t+2-num_maskmem .. t, and the object pointers of frames
t+2-max_object_pointers_in_encoder .. t (`_gather_memory_frame_outputs`, `_get_object_pointers`).
`prune` drops everything else after each frame: older outputs, the memories of frames that only still
give a pointer, the high-resolution masks (read once, by the memory encoder of their own frame), the
frame's image features and the consumed prompt.

Each object has its own session, as the official evaluation of objects that join later
(`vos_separate_inference_per_object`) runs each object alone: in one shared session transformers
encodes all objects' memories of a frame in one batch, binarising every object's mask when any one of
them has a prompt on that frame, which couples the objects. The image features are computed once per
frame and handed to every session (`add_features`), so the image encoder still runs once.

SAM 3's tracker's session class is generated from the same source as this one (transformers' modular
`Sam3TrackerVideoInferenceSession(Sam2VideoInferenceSession): pass`), so one class serves both models.
"""

from __future__ import annotations

import sys

import torch
from torch import Tensor
from transformers import Sam2VideoInferenceSession

OBJECT_INDEX = 0  # the session's only object
CONDITIONING, TRACKED = "cond_frame_outputs", "non_cond_frame_outputs"
MEMORY_KEYS = ("maskmem_features", "maskmem_pos_enc")
READ_ONCE_KEYS = ("high_res_masks",)  # read by the memory encoder of its own frame only


class ObjectSession(Sam2VideoInferenceSession):
    """The session of one object, `object_id`, on `device`; frames never enter it, only their features.

    clip_length: the clip's number of frames when known. The model reads it (`num_frames`) to scale the
    temporal positions of object pointers by min(clip length, max_object_pointers_in_encoder) - 1, as the
    offline evaluation does; unknown, it is taken as unbounded, which is transformers' streaming rule
    (the two differ only for clips shorter than max_object_pointers_in_encoder).
    """

    def __init__(self, object_id: int, device: torch.device, clip_length: int | None = None):
        super().__init__(
            inference_device=device,
            inference_state_device=device,
            video_storage_device=device,
            dtype=torch.float32,
        )
        self.clip_length = clip_length
        self.object_id = object_id
        self.obj_id_to_idx(object_id)
        self.first_frame: int | None = None

    @property
    def num_frames(self) -> int:
        return self.clip_length or sys.maxsize

    def add_mask(self, frame_idx: int, mask: Tensor) -> None:
        """The object joins on `frame_idx` with a mask prompt [1, 1, S, S] (0/1)."""
        self.add_mask_inputs(OBJECT_INDEX, frame_idx, mask)
        self._joins(frame_idx)

    def add_points(self, frame_idx: int, points: dict[str, Tensor]) -> None:
        """The object joins on `frame_idx` with box corners and/or points (`FrameTransform.prompt`)."""
        self.add_point_inputs(OBJECT_INDEX, frame_idx, points)
        self._joins(frame_idx)

    def _joins(self, frame_idx: int) -> None:
        self.first_frame = frame_idx
        self.obj_with_new_inputs = [self.object_id]

    def add_features(self, frame_idx: int, features: dict[str, list[Tensor]]) -> None:
        """The frame's image features, {"vision_feats": [...], "vision_pos_embeds": [...]} as
        `_prepare_vision_features` caches them (on the session's device: shared, not copied)."""
        self.cache.cache_vision_features(frame_idx, features)

    def prune(self, frame_idx: int, num_maskmem: int, max_object_pointers: int) -> None:
        """After `frame_idx`: keep what the model reads for the next frame, drop the rest."""
        outputs = self.output_dict_per_obj[OBJECT_INDEX]
        pointers_from = frame_idx + 2 - max(num_maskmem, max_object_pointers)
        memories_from = frame_idx + 2 - num_maskmem
        for index in [i for i in outputs[TRACKED] if i < pointers_from]:
            del outputs[TRACKED][index]
        for index, output in outputs[TRACKED].items():
            for key in READ_ONCE_KEYS + ("pred_masks",) + (MEMORY_KEYS if index < memories_from else ()):
                output.pop(key, None)
        for output in outputs[CONDITIONING].values():
            for key in READ_ONCE_KEYS:
                output.pop(key, None)
        self.frames_tracked_per_obj[OBJECT_INDEX].clear()  # read only when a tracked frame gets a new prompt
        self.mask_inputs_per_obj[OBJECT_INDEX].clear()
        self.point_inputs_per_obj[OBJECT_INDEX].clear()
        self.cache.clear_all()

    def held_frames(self) -> set[int]:
        """The frame indices anything in the session still belongs to."""
        outputs = self.output_dict_per_obj[OBJECT_INDEX]
        return (
            set(outputs[CONDITIONING])
            | set(outputs[TRACKED])
            | set(self.frames_tracked_per_obj[OBJECT_INDEX])
            | set(self.mask_inputs_per_obj[OBJECT_INDEX])
            | set(self.point_inputs_per_obj[OBJECT_INDEX])
            | set(self.cache._vision_features)
            | set(self.processed_frames or ())
        )
