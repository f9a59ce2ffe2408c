"""Video in and out: streaming decode, trimming, overlay MP4s, palette and binary mask PNGs."""

from rvos_cli.video.overlay import overlay_labels, overlay_masks, query_color
from rvos_cli.video.palette import DAVIS_PALETTE, read_label_png, write_palette_png
from rvos_cli.video.reader import VideoInfo, VideoSource, open_video
from rvos_cli.video.writers import BinaryMaskWriter, Mp4Writer, OverlayVideoWriter, PaletteWriter

__all__ = [
    "DAVIS_PALETTE",
    "BinaryMaskWriter",
    "Mp4Writer",
    "OverlayVideoWriter",
    "PaletteWriter",
    "VideoInfo",
    "VideoSource",
    "open_video",
    "overlay_labels",
    "overlay_masks",
    "query_color",
    "read_label_png",
    "write_palette_png",
]
