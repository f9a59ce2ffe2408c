"""SAM 2's and SAM 3's tracker's pre- and post-processing, as transformers' processors define them, without torchvision.

`Sam2VideoVideoProcessor` (which SAM 3's tracker uses too, with its own size and normalisation)
resizes uint8 frames to the model's square input with torchvision's antialiased bilinear resize,
then rescales by 1/255 and normalises in one float32 step; `Sam2VideoProcessor` resizes mask prompts
to the same square and scales box and point coordinates onto it; `post_process_masks` brings the
low-resolution mask logits back to the frame size. torchvision has no CPU build that loads with the
CPU torch here, so these are the same operations in torch, step for step (tests/test_sam2_preprocess.py
compares them with the processors where torchvision imports).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from rvos_cli.models.common.frames import IMAGENET_MEAN, IMAGENET_STD
from rvos_cli.models.prompts import ObjectPrompt

STANDARD_MEAN = STANDARD_STD = (0.5, 0.5, 0.5)  # transformers' IMAGENET_STANDARD_*: SAM 3's normalisation
RESCALE_FACTOR = 1 / 255
BOX_CORNER_LABELS = (2, 3)  # SAM's point labels for a box's top-left and bottom-right corners
BILINEAR = 2  # PIL's resample code, as processor configs store it

# The published checkpoints' video processors: (mean, std) by config `model_type`.
NORMALIZATION = {
    "sam2_video": (IMAGENET_MEAN, IMAGENET_STD),
    "sam3_tracker_video": (STANDARD_MEAN, STANDARD_STD),
}


@dataclass(frozen=True)
class FrameTransform:
    """The video processor's frame preprocessing for a model with a `size` x `size` input.

    frames(uint8 RGB [T, H, W, 3], any device) -> pixel values [T, 3, size, size] float32 on that device;
    mask(bool [H, W]) -> mask prompt [1, 1, size, size] float32 (0/1); points(xy [..., 2]) -> the
    coordinates on the model's square.
    """

    size: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    rescale_factor: float = RESCALE_FACTOR

    def frames(self, frames: Tensor) -> Tensor:
        video = resize_uint8(frames.permute(0, 3, 1, 2).contiguous(), (self.size, self.size))
        # The processor folds the rescale into the normalisation: (x - mean / r) / (std / r), in float32.
        mean = torch.tensor(self.mean, device=video.device) * (1.0 / self.rescale_factor)
        std = torch.tensor(self.std, device=video.device) * (1.0 / self.rescale_factor)
        return video.to(torch.float32).sub_(mean.view(-1, 1, 1)).div_(std.view(-1, 1, 1))

    def mask(self, mask: Tensor) -> Tensor:
        """`process_new_mask_for_video_frame`: antialiased bilinear to the square, then >= 0.5."""
        mask = mask.to(torch.float32)[None, None]
        if tuple(mask.shape[-2:]) == (self.size, self.size):
            return mask
        mask = F.interpolate(mask, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        return (mask >= 0.5).float()

    def points(self, xy: Tensor, height: int, width: int) -> Tensor:
        """Frame pixels [..., 2] (x, y) -> float32 coordinates on the square (`_normalize_coordinates`)."""
        xy = xy.to(torch.float32).clone()
        xy[..., 0] = xy[..., 0] * (self.size / width)
        xy[..., 1] = xy[..., 1] * (self.size / height)
        return xy

    def prompt(self, prompt: ObjectPrompt, height: int, width: int) -> dict[str, Tensor]:
        """A box and/or points as a session's point inputs: {"point_coords": [1, 1, P, 2] float32,
        "point_labels": [1, 1, P] integer}, the box's two corners (labels 2, 3) first, then the points
        (labels 1 on the object, 0 off it), as `process_new_points_or_boxes_for_video_frame` builds them."""
        xy = torch.tensor([(x, y) for x, y, _ in prompt.points], dtype=torch.float32).reshape(-1, 2)
        coords = self.points(xy, height, width)
        coords = coords.reshape(1, 1, -1, 2)
        if prompt.points:
            labels = torch.tensor([[[label for _, _, label in prompt.points]]], dtype=torch.int64)
        else:
            labels = torch.zeros(1, 1, 0, dtype=torch.int32)
        if prompt.box is not None:
            corners = self.points(torch.tensor(prompt.box, dtype=torch.float32).reshape(2, 2), height, width)
            coords = torch.cat([corners.reshape(1, 1, 2, 2), coords], dim=2)
            labels = torch.cat([torch.tensor([[BOX_CORNER_LABELS]], dtype=torch.int32), labels], dim=2)
        return {"point_coords": coords, "point_labels": labels}


def frame_transform(config) -> FrameTransform:
    """The preprocessing of a `Sam2VideoConfig` or `Sam3TrackerVideoConfig` model: its `image_size`
    square and its checkpoints' normalisation."""
    mean, std = NORMALIZATION[config.model_type]
    return FrameTransform(int(config.image_size), mean, std)


def resize_uint8(video: Tensor, size: tuple[int, int]) -> Tensor:
    """uint8 [N, C, H, W] -> uint8 [N, C, *size]: torchvision's `resize(..., BILINEAR, antialias=True)`.

    On a CPU with AVX2 torchvision calls torch's native uint8 kernel; elsewhere (a GPU, an older CPU) it
    resizes in float32 and rounds. Either way a frame already at `size` is returned as it is.
    """
    if tuple(video.shape[-2:]) == tuple(size):
        return video
    if video.device.type == "cpu" and torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512"):
        return F.interpolate(video, size=size, mode="bilinear", align_corners=False, antialias=True)
    resized = F.interpolate(video.to(torch.float32), size=size, mode="bilinear", align_corners=False, antialias=True)
    return resized.round_().to(torch.uint8)


def upsample_logits(logits: Tensor, size: tuple[int, int]) -> Tensor:
    """Low-resolution mask logits [N, 1, h, w] -> [N, 1, H, W] float32 at the frame size: `post_process_masks`
    (one bilinear resize, no padding to remove) without its threshold, as the VOS evaluation needs the logits."""
    return F.interpolate(logits.to(torch.float32), size=size, mode="bilinear", align_corners=False)
