"""The published architectures as transformers config objects: SAM 2.1 (four Hiera sizes) and SAM 3's tracker.

For random-weight benchmarks and tests without a download. The SAM 2.1 values are those of the
official `sam2/configs/sam2.1/sam2.1_hiera_{t,s,b+,l}.yaml` (with `Hiera`'s defaults where a yaml
leaves a value out), mapped onto the transformers classes as transformers' `convert_sam2_video_to_hf.py`
does: the Hiera trunk's per-stage widths and heads double at each of its four stages, and the neck
reads the stages in reverse (`backbone_channel_list`). Everything else (memory attention, memory
encoder, prompt encoder, mask decoder, 7 memories, 16 object pointers, 1024-pixel input) is the same
for the four sizes and equals the config classes' defaults. SAM 3's tracker is `Sam3TrackerVideoConfig`'s
defaults, which are facebook/sam3's: the SAM 3 ViT (1024 wide, 32 blocks) at 1008 pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rvos_cli.errors import InputError


@dataclass(frozen=True)
class Hiera:
    """One size's image encoder trunk, as the official yaml's `trunk:` block names it."""

    embed_dim: int
    num_heads: int
    stages: tuple[int, int, int, int]
    global_att_blocks: tuple[int, int, int]
    window_pos_embed_bkg_spatial_size: tuple[int, int]
    window_spec: tuple[int, int, int, int] = (8, 4, 14, 7)


HIERA = {
    "hiera-tiny": Hiera(96, 1, (1, 2, 7, 2), (5, 7, 9), (7, 7)),
    "hiera-small": Hiera(96, 1, (1, 2, 11, 2), (7, 10, 13), (7, 7)),
    "hiera-base-plus": Hiera(112, 2, (2, 3, 16, 3), (12, 16, 20), (14, 14)),
    "hiera-large": Hiera(144, 2, (2, 6, 36, 4), (23, 33, 43), (7, 7), (8, 4, 16, 8)),
}
SIZES = tuple(HIERA)
HUB_REPOS = {size: f"facebook/sam2.1-{size}" for size in SIZES} | {"sam3-tracker": "facebook/sam3"}


def sam2_config(size: str):
    """`Sam2VideoConfig` of SAM 2.1 `size` (hiera-tiny, hiera-small, hiera-base-plus or hiera-large)."""
    from transformers import Sam2HieraDetConfig, Sam2VideoConfig, Sam2VisionConfig

    if size not in HIERA:
        raise InputError(f"SAM 2.1 has no size {size!r}; use one of: {', '.join(SIZES)}")
    trunk = HIERA[size]
    widths = [trunk.embed_dim * 2**stage for stage in range(4)]
    backbone = Sam2HieraDetConfig(
        hidden_size=trunk.embed_dim,
        num_attention_heads=trunk.num_heads,
        embed_dim_per_stage=widths,
        num_attention_heads_per_stage=[trunk.num_heads * 2**stage for stage in range(4)],
        blocks_per_stage=list(trunk.stages),
        global_attention_blocks=list(trunk.global_att_blocks),
        window_positional_embedding_background_size=list(trunk.window_pos_embed_bkg_spatial_size),
        window_size_per_stage=list(trunk.window_spec),
    )
    vision = Sam2VisionConfig(backbone_config=backbone, backbone_channel_list=widths[::-1])
    # SAM 2.1 (unlike SAM 2) adds a temporal encoding to the object pointers and a learned embedding
    # to the memories of frames where the object is hidden.
    return Sam2VideoConfig(
        vision_config=vision,
        enable_temporal_pos_encoding_for_object_pointers=True,
        enable_occlusion_spatial_embedding=True,
    )


def sam3_tracker_config():
    """`Sam3TrackerVideoConfig` of facebook/sam3's tracker (its ViT backbone shared with the detector)."""
    from transformers import Sam3TrackerVideoConfig

    return Sam3TrackerVideoConfig()


def config_for(name: str):
    """`sam2_config(name)` for a SAM 2.1 size, `sam3_tracker_config()` for "sam3-tracker" (or "sam3")."""
    return sam3_tracker_config() if name in ("sam3-tracker", "sam3") else sam2_config(name)


# Tiny models of the same structure, for tests: a 64-pixel (SAM 2) or 56-pixel (SAM 3) square, few
# and narrow layers, 3 memories and 4 object pointers (a memory window of 4 frames). The SAM head stays
# 128 wide: transformers splits each object pointer into hidden / 64 memory tokens (the memory cross-
# attention reads 64 channels), which needs a hidden size above 64.
TINY_HIDDEN = 128
TINY_MEMORY = dict(
    num_maskmem=3,
    max_object_pointers_in_encoder=4,
    memory_attention_hidden_size=TINY_HIDDEN,
    memory_attention_num_layers=1,
    memory_attention_feed_forward_hidden_size=64,
    memory_encoder_hidden_size=TINY_HIDDEN,
    memory_encoder_output_channels=64,
    mask_downsampler_embed_dim=TINY_HIDDEN,
    memory_fuser_embed_dim=TINY_HIDDEN,
    memory_fuser_intermediate_dim=64,
)
TINY_DECODER = dict(hidden_size=TINY_HIDDEN, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=32)


def tiny_config(name: str = "sam2"):
    """A few-layer `Sam2VideoConfig` ("sam2") or `Sam3TrackerVideoConfig` ("sam3-tracker") for tests."""
    import transformers as tf

    if name == "sam3-tracker":
        size, patch = 56, 14
        vit = tf.Sam3ViTConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=size,
            patch_size=patch,
            window_size=2,
            global_attn_indexes=[1],
            pretrain_image_size=2 * patch,
        )
        vision = tf.Sam3VisionConfig(backbone_config=vit, fpn_hidden_size=TINY_HIDDEN)
        return tf.Sam3TrackerVideoConfig(
            vision_config=vision,
            prompt_encoder_config=tf.Sam3TrackerVideoPromptEncoderConfig(
                hidden_size=TINY_HIDDEN, image_size=size, patch_size=patch, mask_input_channels=4
            ),
            mask_decoder_config=tf.Sam3TrackerVideoMaskDecoderConfig(**TINY_DECODER),
            image_size=size,  # sets the feature and rope sizes from the patch size
            **TINY_MEMORY,
        )
    size, stride = 64, 16
    backbone = tf.Sam2HieraDetConfig(
        hidden_size=8,
        embed_dim_per_stage=[8, 16, 32, 64],
        num_attention_heads_per_stage=[1, 1, 2, 2],
        blocks_per_stage=[1, 1, 2, 1],
        global_attention_blocks=[3],
        window_size_per_stage=[4, 2, 2, 2],
        window_positional_embedding_background_size=[4, 4],
        image_size=[size, size],
    )
    vision = tf.Sam2VisionConfig(
        backbone_config=backbone,
        backbone_channel_list=[64, 32, 16, 8],
        backbone_feature_sizes=[[size // 4] * 2, [size // 8] * 2, [size // stride] * 2],
        fpn_hidden_size=TINY_HIDDEN,
    )
    return tf.Sam2VideoConfig(
        vision_config=vision,
        prompt_encoder_config=tf.Sam2VideoPromptEncoderConfig(
            hidden_size=TINY_HIDDEN, image_size=size, patch_size=stride, mask_input_channels=4
        ),
        mask_decoder_config=tf.Sam2VideoMaskDecoderConfig(**TINY_DECODER),
        image_size=size,
        memory_attention_rope_feat_sizes=[size // stride] * 2,
        **TINY_MEMORY,
    )


def random_model(config, seed: int = 0):
    """The model of `config` with transformers' random initialisation under `seed`, in eval mode, on the CPU."""
    import transformers as tf

    model_class = tf.Sam3TrackerVideoModel if config.model_type == "sam3_tracker_video" else tf.Sam2VideoModel
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return model_class(config).eval()
