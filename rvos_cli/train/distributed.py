"""Several GPUs through `torchrun` (DistributedDataParallel, one process per GPU, as the original trainer).

`torchrun --nproc_per_node N -m rvos_cli train ...` sets RANK, LOCAL_RANK and WORLD_SIZE; every process
then loads the same data with its own shard of each epoch, the gradients are averaged by DDP, the logged
losses and the criterion's mask count are averaged over processes, and only rank 0 writes.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def launched() -> bool:
    """Started by torchrun (or another launcher that sets WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def is_main() -> bool:
    return rank() == 0


def init(device: torch.device) -> torch.device:
    """Join the process group of a torchrun launch; the device becomes this process's GPU (cuda:LOCAL_RANK)."""
    if not launched() or active():
        return device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def mean(value: torch.Tensor) -> torch.Tensor:
    """The average of `value` over processes (itself in a single process)."""
    if not active():
        return value
    value = value.clone()
    dist.all_reduce(value)
    return value / world_size()


def mean_dict(values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Scalars averaged over processes, for logging (detached)."""
    if not active():
        return {k: v.detach() for k, v in values.items()}
    names = sorted(values)  # the same order in every process
    stacked = dict(zip(names, mean(torch.stack([values[k].detach().float() for k in names]))))
    return {k: stacked[k] for k in values}


def barrier() -> None:
    if active():
        dist.barrier()
