"""Video Swin Transformer (Liu et al., CVPR 2022) as the RVOS models use it: per-frame features.

The temporal patch size is 1, so every stage keeps one token map per frame; each stage's output
is taken before its patch merging and without a norm. The patch mergings are stored apart, at
`downsamples.{i}`, as in MTTR's and ReferFormer's wrapper of `SwinTransformer3D`. The models use
the first 3 (MTTR) or all 4 (ReferFormer) stages of the T, S or B size.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from rvos_cli.models.common.attention import attend

WINDOW = (8, 7, 7)
SHIFT = (4, 3, 3)  # half a window, used by every second block
ATTENTION_CHUNK_ELEMENTS = 2**25
# name -> (embed_dim, depths, num_heads)
SIZES = {
    "t": (96, (2, 2, 6, 2), (3, 6, 12, 24)),
    "s": (96, (2, 2, 18, 2), (3, 6, 12, 24)),
    "b": (128, (2, 2, 18, 2), (4, 8, 16, 32)),
}


def relative_position_index(window: tuple[int, int, int] = WINDOW) -> torch.Tensor:
    """[N, N] int64 index into the bias table for all token pairs of a (D, H, W) window, N = D*H*W."""
    coords = torch.stack(torch.meshgrid(*(torch.arange(w) for w in window), indexing="ij")).flatten(1)
    relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)
    relative = relative + torch.tensor([w - 1 for w in window])
    strides = torch.tensor([(2 * window[1] - 1) * (2 * window[2] - 1), 2 * window[2] - 1, 1])
    return (relative * strides).sum(-1)


def effective_window(size, window, shift):
    """A dimension no larger than its window gets a window of its own size and no shift."""
    shift = tuple(0 if s <= w else sh for s, w, sh in zip(size, window, shift))
    window = tuple(min(s, w) for s, w in zip(size, window))
    return window, shift


def window_partition(x: torch.Tensor, window) -> torch.Tensor:
    """[B, D, H, W, C] -> [B * num_windows, window volume, C], windows in (d, h, w) order."""
    b, d, h, w, c = x.shape
    x = x.view(b, d // window[0], window[0], h // window[1], window[1], w // window[2], window[2], c)
    return x.permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(-1, window[0] * window[1] * window[2], c)


def window_reverse(windows: torch.Tensor, window, b: int, d: int, h: int, w: int) -> torch.Tensor:
    x = windows.view(b, d // window[0], h // window[1], w // window[2], window[0], window[1], window[2], -1)
    return x.permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(b, d, h, w, -1)


def shifted_window_mask(padded_size, window, shift, device: torch.device) -> torch.Tensor:
    """[num_windows, N, N] additive mask (-100 between tokens from different regions after the cyclic shift).

    Computed on the padded size, so padded tokens are masked only by region, as in the reference.
    Built once per geometry and device: every shifted block of a stage shares it. Under `torch.compile`
    it is built in the graph, where it becomes a constant.
    """
    if torch.compiler.is_compiling():
        return _shifted_window_mask(padded_size, window, shift, device)
    return _cached_shifted_window_mask(padded_size, window, shift, device)


def _shifted_window_mask(padded_size, window, shift, device: torch.device) -> torch.Tensor:
    img_mask = torch.zeros((1, *padded_size, 1), device=device)
    regions = [(slice(-w), slice(-w, -s), slice(-s, None)) for w, s in zip(window, shift)]
    count = 0
    for d in regions[0]:
        for h in regions[1]:
            for w in regions[2]:
                img_mask[:, d, h, w, :] = count
                count += 1
    windows = window_partition(img_mask, window).squeeze(-1)
    mask = windows.unsqueeze(1) - windows.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)


_cached_shifted_window_mask = lru_cache(maxsize=32)(_shifted_window_mask)


class WindowAttention3D(nn.Module):
    """Multi-head self-attention inside 3D windows with a learned relative position bias.

    In: x [num_windows * B, N, C], optional mask [num_windows, N, N]. Out: [num_windows * B, N, C].
    """

    def __init__(self, dim: int, num_heads: int, window=WINDOW):
        super().__init__()
        self.num_heads = num_heads
        self.window = tuple(window)
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window[0] - 1) * (2 * window[1] - 1) * (2 * window[2] - 1), num_heads)
        )
        self.register_buffer("relative_position_index", relative_position_index(self.window))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b_, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b_, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        # The reference slices the full window's index instead of recomputing it for smaller windows;
        # that is only right when just D shrinks, but the released weights were trained with it.
        index = self.relative_position_index[:n, :n].reshape(-1)
        bias = self.relative_position_bias_table[index].reshape(n, n, -1).permute(2, 0, 1).unsqueeze(0).to(q.dtype)
        if torch.is_grad_enabled():  # training: the original's arithmetic (bias, then mask), for its gradients
            bias = self.relative_position_bias_table[index].reshape(n, n, -1).permute(2, 0, 1).unsqueeze(0)
            scores = (q * (c // self.num_heads) ** -0.5) @ k.transpose(-2, -1) + bias
            if mask is not None:
                scores = (scores.view(-1, mask.shape[0], self.num_heads, n, n) + mask[None, :, None]).flatten(0, 1)
            return self.proj(attend(scores, v).transpose(1, 2).reshape(b_, n, c))
        # Chunks of windows bound the [windows, heads, N, N] attention (1.6 GB for 24 frames at 360x640).
        step = max(1, ATTENTION_CHUNK_ELEMENTS // (self.num_heads * n * n))
        out = torch.empty_like(q)
        for start in range(0, b_, step):
            rows = slice(start, min(start + step, b_))
            attn_mask = bias
            if mask is not None:
                windows = torch.arange(rows.start, rows.stop, device=mask.device) % mask.shape[0]
                attn_mask = bias + mask[windows].unsqueeze(1).to(q.dtype)
            out[rows] = F.scaled_dot_product_attention(q[rows], k[rows], v[rows], attn_mask=attn_mask)
        return self.proj(out.transpose(1, 2).reshape(b_, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth (timm's DropPath): in training, zero a residual branch for a whole sample
    (first dimension) with probability `rate` and scale the kept ones by 1 / (1 - rate)."""
    if rate == 0.0 or not training:
        return x
    keep = 1.0 - rate
    mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
    return x * mask.div_(keep)


class SwinTransformerBlock3D(nn.Module):
    """(Shifted) window attention + MLP, pre-norm residual. In/out: [B, D, H, W, C].

    `window` and `shift` are the ones in effect for the stage's map size (see `SwinStage`).
    drop_path: the stochastic-depth rate of both residual branches (training only).
    """

    def __init__(self, dim: int, num_heads: int, window=WINDOW, drop_path: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention3D(dim, num_heads, window)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, 4 * dim)
        self.drop_path_rate = drop_path

    def forward(self, x: torch.Tensor, window, shift, mask: torch.Tensor | None) -> torch.Tensor:
        x = x + drop_path(self.windowed_attention(x, window, shift, mask), self.drop_path_rate, self.training)
        return x + drop_path(self.mlp(self.norm2(x)), self.drop_path_rate, self.training)

    def windowed_attention(self, x: torch.Tensor, window, shift, mask: torch.Tensor | None) -> torch.Tensor:
        b, d, h, w, _ = x.shape
        x = self.norm1(x)
        # Padding comes after norm1 and padded tokens are not masked: they attend as zero vectors.
        pad = [(-s) % win for s, win in zip((d, h, w), window)]
        x = F.pad(x, (0, 0, 0, pad[2], 0, pad[1], 0, pad[0]))
        _, dp, hp, wp, _ = x.shape
        shifted = any(shift)
        if shifted:
            x = torch.roll(x, shifts=tuple(-s for s in shift), dims=(1, 2, 3))
        windows = self.attn(window_partition(x, window), mask=mask if shifted else None)
        x = window_reverse(windows, window, b, dp, hp, wp)
        if shifted:
            x = torch.roll(x, shifts=shift, dims=(1, 2, 3))
        return x[:, :d, :h, :w, :]


class SwinStage(nn.Module):
    """One Swin stage: blocks alternating regular and shifted windows. In/out: [B, D, H, W, C].

    clamp_window: Video Swin shrinks a window (and drops its shift) along a dimension that is no
    larger than the window; the image Swin of ReferFormer keeps 7x7 windows shifted by 3 always.
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        window=WINDOW,
        shift=SHIFT,
        clamp_window: bool = True,
        drop_path: Sequence[float] = (),
    ):
        super().__init__()
        self.window, self.shift, self.clamp_window = tuple(window), tuple(shift), clamp_window
        rates = list(drop_path) or [0.0] * depth
        self.blocks = nn.ModuleList(SwinTransformerBlock3D(dim, num_heads, window, rates[i]) for i in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = tuple(x.shape[1:4])
        window, shift = (
            effective_window(size, self.window, self.shift) if self.clamp_window else (self.window, self.shift)
        )
        padded = tuple(-(-s // win) * win for s, win in zip(size, window))
        mask = shifted_window_mask(padded, window, shift, x.device) if any(shift) else None
        no_shift = (0, 0, 0)
        for i, block in enumerate(self.blocks):
            x = block(x, window, shift if i % 2 else no_shift, mask)
        return x


class PatchEmbed3D(nn.Module):
    """Non-overlapping (1,4,4) patches. In: [B, 3, T, H, W]; out: [B, T, ceil(H/4), ceil(W/4), C]."""

    def __init__(self, embed_dim: int):
        super().__init__()
        self.proj = nn.Conv3d(3, embed_dim, kernel_size=(1, 4, 4), stride=(1, 4, 4))
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = self.proj(F.pad(x, (0, (-w) % 4, 0, (-h) % 4)))
        return self.norm(x.permute(0, 2, 3, 4, 1))


class PatchMerging(nn.Module):
    """2x2 spatial merge, C -> 2C. In: [B, D, H, W, C]; out: [B, D, ceil(H/2), ceil(W/2), 2C]."""

    def __init__(self, dim: int):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:4]
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[:, :, 0::2, 0::2], x[:, :, 1::2, 0::2], x[:, :, 0::2, 1::2], x[:, :, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x))


class VideoSwinBackbone(nn.Module):
    """Video Swin stages 1..len(depths), window (8,7,7).

    In: video [T, B, 3, H, W]. Out: one feature map [T, B, C_i, h_i, w_i] per stage, C_i = embed_dim * 2**i
    at stride 4 * 2**i (each taken before its stage's patch merging, without an extra norm).
    drop_path: the stochastic-depth rate of each block in order (training only; default none).
    """

    def __init__(self, embed_dim: int = 96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), drop_path=()):
        super().__init__()
        self.channels = tuple(embed_dim * 2**i for i in range(len(depths)))
        self.patch_embed = PatchEmbed3D(embed_dim)
        rates = list(drop_path) or [0.0] * sum(depths)
        starts = [sum(depths[:i]) for i in range(len(depths))]
        self.layers = nn.ModuleList(
            SwinStage(c, d, h, drop_path=rates[s : s + d])
            for c, d, h, s in zip(self.channels, depths, num_heads, starts)
        )
        self.downsamples = nn.ModuleList(PatchMerging(c) for c in self.channels[:-1])

    def forward(self, video: torch.Tensor) -> list[torch.Tensor]:
        x = self.patch_embed(video.permute(1, 2, 0, 3, 4))  # [B, T, h, w, C]
        outputs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            outputs.append(x.permute(1, 0, 4, 2, 3))
            if i < len(self.downsamples):
                x = self.downsamples[i](x)
        return outputs
