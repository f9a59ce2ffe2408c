"""The RDE-VOS memory bank: a fixed set of memory frames and the top-k memory read."""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

Compress = Callable[[Tensor, Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]


def read_memory(memory_key: Tensor, memory_value: Tensor, query_key: Tensor, top_k: int) -> Tensor:
    """Top-k softmax readout shared by all objects.

    memory_key [1,64,T,h,w], memory_value [K,512,T,h,w], query_key [1,64,h,w] -> readout [K,512,h,w].
    The affinity is the negative squared L2 distance without the query-norm term (constant per query),
    scaled by 1/sqrt(64); only the top-k memory entries of each query pixel get softmax weight.
    """
    mk = memory_key.flatten(2)  # [1, 64, T*h*w]
    qk = query_key.flatten(2)  # [1, 64, h*w]
    affinity = (2 * (mk.transpose(1, 2) @ qk) - mk.pow(2).sum(1).unsqueeze(2)) / math.sqrt(mk.shape[1])
    top, index = torch.topk(affinity, k=min(top_k, affinity.shape[1]), dim=1)
    # No max-subtraction, as in the reference: the weights must match it to the last bit that matters.
    weight = top.exp()
    weight = weight / weight.sum(dim=1, keepdim=True)
    affinity = torch.zeros_like(affinity).scatter_(1, index, weight)
    readout = memory_value.flatten(2) @ affinity  # [K, 512, h*w]
    return readout.view(*readout.shape[:2], *query_key.shape[-2:])


class RDEMemory:
    """Constant-size memory of one group of objects (`two-frames-compress`).

    Holds the annotated frame `gt`, the latest memory frame `last` and the recurrent dynamic
    embedding `rde` (all keys [1,64,1,h,w], values [K,512,1,h,w]). Queries read cat[rde, gt] before
    the first update (rde starts as gt, so the annotation counts twice) and cat[rde, last, gt, gt] after.
    """

    def __init__(self, key: Tensor, value: Tensor):
        self.gt = (key, value)
        self.rde = (key, value)
        self.last: tuple[Tensor, Tensor] | None = None

    def frames(self) -> list[tuple[Tensor, Tensor]]:
        if self.last is None:
            return [self.rde, self.gt]
        return [self.rde, self.last, self.gt, self.gt]

    def read(self, query_key: Tensor, top_k: int) -> Tensor:
        """query_key [1,64,h,w] -> readout [K,512,h,w]."""
        keys, values = zip(*self.frames())
        return read_memory(torch.cat(keys, dim=2), torch.cat(values, dim=2), query_key, top_k)

    def update(self, key: Tensor, value: Tensor, compress: Compress) -> None:
        """Fold a new memory frame (key [1,64,1,h,w], value [K,512,1,h,w]) into the RDE; it becomes `last`."""
        self.rde = compress(*self.rde, key, value)
        self.last = (key, value)

    def tensors(self) -> list[Tensor]:
        """Every distinct tensor the memory holds (to check that it stays a constant size)."""
        unique = {id(t): t for pair in (self.gt, self.rde, self.last or ()) for t in pair}
        return list(unique.values())
