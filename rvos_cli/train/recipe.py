"""What training a model needs beyond the network: which parameters train, its criterion, its defaults.

MTTR is the first; ReferFormer and SOC (box losses on top) and SAM 2 add a `Recipe` each.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from rvos_cli.errors import InputError
from rvos_cli.models.mttr.criterion import EOS_COEF, LOSS_WEIGHTS, SetCriterion
from rvos_cli.models.mttr.matcher import HungarianMatcher
from rvos_cli.models.random_weights import random_state_dict
from rvos_cli.models.registry import MODELS
from rvos_cli.train import distributed

Source = str | os.PathLike | Mapping[str, torch.Tensor] | None


@dataclass(frozen=True)
class LossConfig:
    """Matching costs, loss weights (each auxiliary layer the same), the no-object weight."""

    set_cost_is_referred: float = 2.0
    set_cost_dice: float = 5.0
    is_referred_loss_coef: float = LOSS_WEIGHTS["loss_is_referred"]
    dice_loss_coef: float = LOSS_WEIGHTS["loss_dice"]
    sigmoid_focal_loss_coef: float = LOSS_WEIGHTS["loss_sigmoid_focal"]
    eos_coef: float = EOS_COEF


@dataclass(frozen=True)
class Recipe:
    """name: the registry's model. frozen(name): a parameter that never trains (the original freezes the
    text encoder). num_decoder_layers: for the auxiliary losses. exact(network): switches to the
    original's arithmetic where a faster path rounds differently."""

    name: str
    frozen: Callable[[str], bool]
    num_decoder_layers: int
    exact: Callable[[nn.Module], None] = lambda network: None

    def network(self, source: Source = None, seed: int = 0) -> nn.Module:
        """The network in float32 on the CPU, from weights (a registry entry's file, a checkpoint file or a
        state dict in the official layout) or, with none, random weights drawn from the layout; its own
        copy of every tensor, with gradients on for the parameters that train."""
        spec = MODELS[self.name]
        variant = spec.variants[0]  # the published configuration (MTTR has one)
        if source is None:
            source = random_state_dict(spec.layout(variant), seed)
        network = spec.load(source, variant)
        for name, param in network.named_parameters():
            param.data = param.data.clone()
            param.requires_grad_(not self.frozen(name))
        for module in network.modules():  # the loader shares one index table between blocks
            for key, buffer in module._buffers.items():
                if buffer is not None:
                    module._buffers[key] = buffer.clone()
        self.exact(network)
        return network

    def criterion(self, config: LossConfig) -> SetCriterion:
        weights = {
            "loss_is_referred": config.is_referred_loss_coef,
            "loss_dice": config.dice_loss_coef,
            "loss_sigmoid_focal": config.sigmoid_focal_loss_coef,
        }
        matcher = HungarianMatcher(config.set_cost_is_referred, config.set_cost_dice)
        return SetCriterion(matcher, weights, config.eos_coef, self.num_decoder_layers, reduce=distributed.mean)


def _eager_text_attention(network: nn.Module) -> None:
    """RoBERTa's explicit softmax attention, the original's arithmetic (its SDPA path rounds differently)."""
    network.transformer.text_encoder.set_attn_implementation("eager")


RECIPES = {
    "mttr": Recipe("mttr", lambda name: name.startswith("transformer.text_encoder."), 3, _eager_text_attention),
}


def recipe(model: str) -> Recipe:
    if model not in RECIPES:
        trainable = ", ".join(RECIPES)
        raise InputError(f"training {model!r} is not supported yet; models that train: {trainable}")
    return RECIPES[model]


def pad_token_ids(token_ids: list[list[int]], pad_id: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """B lists of token ids -> (input_ids, attention_mask) [B, longest], right-padded with `pad_id`."""
    longest = max(len(ids) for ids in token_ids)
    input_ids = torch.full((len(token_ids), longest), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(token_ids), longest), dtype=torch.long)
    for row, ids in enumerate(token_ids):
        input_ids[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
        attention_mask[row, : len(ids)] = 1
    return input_ids, attention_mask


def official_state_dict(model: str, network: nn.Module) -> dict[str, torch.Tensor]:
    """The network's tensors under the official checkpoint's names, in its order (with the legacy
    buffers the official files carry, such as RoBERTa's `position_ids`), detached and on the CPU."""
    layout = MODELS[model].layout(MODELS[model].variants[0])
    state = {k: v.detach().cpu().clone() for k, v in network.state_dict().items()}
    out = {}
    for name, shape in layout.shapes.items():
        if name in state:
            out[name] = state[name]
        elif name.endswith("position_ids"):
            out[name] = torch.arange(shape[-1], dtype=torch.long).expand(shape).clone()
    return out
