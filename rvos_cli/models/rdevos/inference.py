"""Streaming RDE-VOS inference with the reference's `two-frames-compress` memory schedule."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rvos_cli.models.rdevos.aggregate import aggregate
from rvos_cli.models.rdevos.memory import RDEMemory
from rvos_cli.models.rdevos.network import RDEVOS
from rvos_cli.models.rdevos.preprocess import pad_to_stride, unpad


@dataclass
class ObjectGroup:
    """Objects annotated on the same frame; they share one constant-size memory."""

    objects: slice
    memory: RDEMemory


@dataclass
class MemoryFrame:
    """A processed frame waiting to be written to memory (padded tensors)."""

    image: Tensor  # [1,3,H,W]
    key: Tensor  # [1,64,h,w]
    f16: Tensor  # [1,1024,h,w]
    probs: Tensor  # [K+1,1,H,W], aggregated
    new_objects: int  # the last `new_objects` channels were annotated on this frame


class RDETracker:
    """Segments a video frame by frame with constant memory.

    `step(frame, new_masks)` takes one ImageNet-normalised frame [1,3,H,W] (any H, W; padded to a
    multiple of 16 inside) and, on the first frame and wherever objects first appear, their masks
    [K_new,1,H,W]; it returns probabilities [K+1,H,W] (background first, objects in the order they
    were added).

    Schedule (DAVIS `InferenceCore`, mode `two-frames-compress`): the first frame is the annotation,
    and every `mem_every` frames after the latest memory frame the frame's aggregated prediction is
    folded into the recurrent dynamic embedding. A memory frame is written at the start of the next
    step, so the last frame of a video never costs a value encoding (the reference skips it too).

    Objects that first appear later form a new group with its own memory whose annotation is that
    frame; on that frame the existing objects' probabilities are zeroed under the new masks, all
    groups store the frame, and the schedule restarts from it (as the reference YouTube-VOS
    evaluation does, which keeps one memory per object). All groups share the query encoding, and
    their objects are aggregated jointly.
    """

    def __init__(self, net: RDEVOS, top_k: int, mem_every: int):
        if top_k < 1 or mem_every < 1:
            raise ValueError("top_k and mem_every must be positive")
        self.net = net
        self.top_k = top_k
        self.mem_every = mem_every
        self.groups: list[ObjectGroup] = []
        self.pending: MemoryFrame | None = None
        self.num_objects = 0
        self.t = -1
        self.last_memory_t = 0

    def step(self, frame: Tensor, new_masks: Tensor | None = None) -> Tensor:
        if not self.groups and self.pending is None and new_masks is None:
            raise ValueError("the first frame needs the objects' masks")
        self.write_memory()
        self.t += 1
        image, pad = pad_to_stride(frame)
        key, f16_thin, f16, f8, f4 = self.net.encode_key(image)
        probs = None
        if self.groups:
            prob = [self.net.segment(g.memory.read(key, self.top_k), f16_thin, f8, f4) for g in self.groups]
            probs = aggregate(torch.cat(prob).float())
        new_objects = 0
        if new_masks is not None:
            new_objects = new_masks.shape[0]
            probs = self.add_objects(probs, pad_to_stride(new_masks.float())[0])
        if new_objects or self.t - self.last_memory_t >= self.mem_every:
            self.pending = MemoryFrame(image, key, f16, probs, new_objects)
            self.last_memory_t = self.t
        return unpad(probs[:, 0], pad)

    def add_objects(self, probs: Tensor | None, masks: Tensor) -> Tensor:
        """Merge annotated masks [K_new,1,H,W] of new objects into the current prediction."""
        if probs is None:
            return aggregate(masks)
        existing = probs[1:].masked_fill(masks.sum(dim=0, keepdim=True) > 0.5, 0)
        return aggregate(torch.cat([existing, masks]))

    def write_memory(self) -> None:
        """Encode the pending memory frame's values and fold them into every group's memory."""
        if self.pending is None:
            return
        frame, self.pending = self.pending, None
        key = frame.key.unsqueeze(2)
        value = self.net.encode_value(frame.image, frame.f16, frame.probs[1:])
        for group in self.groups:
            group.memory.update(key, value[group.objects], self.net.compress_memory)
        if frame.new_objects:
            objects = slice(self.num_objects, self.num_objects + frame.new_objects)
            self.groups.append(ObjectGroup(objects, RDEMemory(key, value[objects])))
            self.num_objects = objects.stop

    def memory_tensors(self) -> list[Tensor]:
        """Every tensor the tracker keeps between frames."""
        kept = [t for g in self.groups for t in g.memory.tensors()]
        if self.pending is not None:
            kept += [self.pending.image, self.pending.key, self.pending.f16, self.pending.probs]
        return kept


@torch.inference_mode()
def propagate_probs(net: RDEVOS, frames: Tensor, first_labels: Tensor, top_k: int, mem_every: int) -> Tensor:
    """A whole clip at once (the reference evaluation's form, public for scripts and parity checks):
    frames [T,3,H,W] normalised, first_labels [H,W] int64 -> probs [T,K+1,H,W] (frame 0 = the
    aggregated mask; objects in increasing id order)."""
    ids = first_labels.unique()
    masks = (first_labels[None] == ids[ids != 0][:, None, None]).float()[:, None]
    if masks.shape[0] == 0:
        raise ValueError("the first-frame labels contain no object (all zero)")
    tracker = RDETracker(net, top_k=top_k, mem_every=mem_every)
    probs = [tracker.step(frames[:1], masks)]
    probs += [tracker.step(frames[t : t + 1]) for t in range(1, frames.shape[0])]
    return torch.stack(probs)
