"""SAM 2's VOS evaluation on transformers' offline video API: the reference rvos's streamed SAM 2 is compared with.

`tools/vos_inference.py` (`vos_separate_inference_per_object`) runs each object alone over the whole
clip from the first frame it is given on, with that first prompt only, then scores the objects of each
frame at video resolution (-1024 before an object's first frame), applies
`_apply_non_overlapping_constraints`, thresholds at 0 and paints one PNG (`put_per_obj_mask`). Here the
same with transformers' `init_video_session`, `add_inputs_to_inference_session`,
`propagate_in_video_iterator` and `post_process_masks`. Where torchvision imports, the processors are
transformers' own; elsewhere (no torchvision build for this torch) the frames are preprocessed by
rvos's `FrameTransform` (compared with the processors in test_sam2_preprocess.py) and the prompt and
mask handling is still transformers' processor code.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
import transformers as tf

from rvos_cli.models.prompts import ObjectPrompt
from rvos_cli.models.sam2 import random_model, tiny_config
from rvos_cli.models.sam2.preprocess import frame_transform

ABSENT = -1024.0
TIE = 1e-4


def lively_model(name: str, seed: int = 0):
    """`tiny_config(name)` with every parameter drawn at unit gain (weights N(0, 1/fan-in), norms near 1,
    the rest N(0, 0.1)), and every object scored visible (object-score bias +2).

    transformers' initialisation (N(0, 0.02), several parameters zero) leaves a tiny model's memory paths
    almost silent: dropping an object pointer then changes the logits by 1e-6, which a comparison at 1e-4
    could not see. Here each one moves them by 0.01 or more, and no mask is blanked as absent.
    """
    model = random_model(tiny_config(name), seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            if parameter.dim() >= 2:
                parameter.copy_(noise / parameter[0].numel() ** 0.5)
            elif "norm" in name and name.endswith("weight"):
                parameter.copy_(1 + 0.1 * noise)
            else:
                parameter.copy_(0.1 * noise)
        model.mask_decoder.pred_obj_score_head.proj_out.bias.fill_(2.0)
    return model


def torchvision_available() -> bool:
    try:
        import torchvision  # noqa: F401
    except Exception:  # a torchvision built for another torch fails in many ways
        return False
    return True


def processor_for(config, real: bool | None = None):
    """transformers' video processor for a model of `config`. With torchvision (or `real`), a complete
    one; without, the processor class without its image and video sub-processors, enough for prompts."""
    is_sam3 = config.model_type == "sam3_tracker_video"
    processor_class = tf.Sam3TrackerVideoProcessor if is_sam3 else tf.Sam2VideoProcessor
    transform = frame_transform(config)
    if real if real is not None else torchvision_available():
        size = {"height": transform.size, "width": transform.size}
        norm = {"image_mean": list(transform.mean), "image_std": list(transform.std)}
        image_class = tf.Sam3ImageProcessor if is_sam3 else tf.Sam2ImageProcessor
        return processor_class(
            image_processor=image_class(size=size, **norm),
            video_processor=tf.Sam2VideoVideoProcessor(size=size, **norm),
            target_size=transform.size,
        )
    processor = object.__new__(processor_class)
    processor.target_size, processor.point_pad_value = transform.size, -10
    return processor


def first_prompts(masks: dict[int, np.ndarray], prompts: dict[int, list[ObjectPrompt]]) -> dict[int, tuple]:
    """{object id: (first frame, "mask", bool [H, W]) or (first frame, "prompt", ObjectPrompt)}: each
    object's first input only, as the evaluation without `--use_all_masks` takes it."""
    first: dict[int, tuple] = {}
    for index in sorted(set(masks) | set(prompts)):
        if index in masks:
            for object_id in np.unique(masks[index]):
                if object_id and int(object_id) not in first:
                    first[int(object_id)] = (index, "mask", masks[index] == object_id)
        for prompt in prompts.get(index, ()):
            first.setdefault(prompt.object_id, (index, "prompt", prompt))
    return first


def processor_inputs(prompt: ObjectPrompt) -> dict:
    """An `ObjectPrompt` as `add_inputs_to_inference_session`'s nested lists for one object on one frame."""
    inputs = {}
    if prompt.box is not None:
        inputs["input_boxes"] = [[list(prompt.box)]]
    if prompt.points:
        inputs["input_points"] = [[[[x, y] for x, y, _ in prompt.points]]]
        inputs["input_labels"] = [[[label for _, _, label in prompt.points]]]
    return inputs


def object_logits(model, frames: list[np.ndarray], first: tuple) -> dict[int, torch.Tensor]:
    """One object alone over the whole clip: {frame index: logits [H, W] at video resolution}."""
    height, width = frames[0].shape[:2]
    processor = processor_for(model.config)
    if torchvision_available():
        session = processor.init_video_session(video=np.stack(frames), inference_device="cpu", dtype=torch.float32)
    else:
        pixels = frame_transform(model.config).frames(torch.from_numpy(np.stack(frames)))
        session = tf.Sam2VideoInferenceSession(
            video=pixels, video_height=height, video_width=width, dtype=torch.float32
        )
    index, kind, value = first
    if kind == "mask":
        processor.add_inputs_to_inference_session(session, frame_idx=index, obj_ids=1, input_masks=value)
    else:
        processor.add_inputs_to_inference_session(session, frame_idx=index, obj_ids=1, **processor_inputs(value))
    logits = {}
    for output in model.propagate_in_video_iterator(session, start_frame_idx=index):
        if torchvision_available():
            video_res = processor.post_process_masks([output.pred_masks], [[height, width]], binarize=False)[0]
        else:
            video_res = F.interpolate(output.pred_masks, (height, width), mode="bilinear", align_corners=False)
        logits[output.frame_idx] = video_res[0, 0]
    return logits


def evaluate(model, frames, masks=None, prompts=None) -> tuple[np.ndarray, np.ndarray]:
    """(labels [T, H, W] uint8, scores [T, N, H, W] float32 with objects in ascending id order)."""
    first = first_prompts(masks or {}, prompts or {})
    ids = sorted(first)
    per_object = {object_id: object_logits(model, frames, first[object_id]) for object_id in ids}
    height, width = frames[0].shape[:2]
    labels, scores = [], []
    for index in range(len(frames)):
        score = torch.full((len(ids), 1, height, width), ABSENT)
        for n, object_id in enumerate(ids):
            if index in per_object[object_id]:
                score[n, 0] = per_object[object_id][index]
        scores.append(score[:, 0].numpy())
        labels.append(paint(apply_non_overlapping_constraints(score), ids))
    return np.stack(labels), np.stack(scores)


def apply_non_overlapping_constraints(pred_masks: torch.Tensor) -> torch.Tensor:
    """SAM2Base._apply_non_overlapping_constraints, as the evaluation calls it."""
    if pred_masks.size(0) == 1:
        return pred_masks
    max_obj_inds = torch.argmax(pred_masks, dim=0, keepdim=True)
    batch_obj_inds = torch.arange(pred_masks.size(0))[:, None, None, None]
    keep = max_obj_inds == batch_obj_inds
    return torch.where(keep, pred_masks, torch.clamp(pred_masks, max=-10.0))


def paint(scores: torch.Tensor, ids: list[int]) -> np.ndarray:
    """`(scores > 0)` per object, then vos_inference's put_per_obj_mask (ids painted in reverse order)."""
    mask = np.zeros(scores.shape[-2:], dtype=np.uint8)
    for n in reversed(range(len(ids))):
        mask[(scores[n, 0] > 0).numpy()] = ids[n]
    return mask


def ambiguous(scores: np.ndarray) -> np.ndarray:
    """[T, H, W]: pixels where the reference's winner or its threshold is a tie within TIE."""
    ordered = np.sort(scores, axis=1)
    top = ordered[:, -1]
    close_to_zero = np.abs(top) < TIE
    if scores.shape[1] < 2:
        return close_to_zero
    return close_to_zero | (top - ordered[:, -2] < TIE)


def assert_same_labels(streamed: np.ndarray, reference: np.ndarray, scores: np.ndarray) -> None:
    differ = (streamed != reference) & ~ambiguous(scores)
    assert not differ.any(), f"{differ.sum()} pixels differ, first at (frame, y, x) {np.argwhere(differ)[0]}"
