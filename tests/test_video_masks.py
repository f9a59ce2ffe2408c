"""Palette PNGs, mask reading, mask folders and overlay colours."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rvos_cli.errors import InputError
from rvos_cli.video import (
    DAVIS_PALETTE,
    BinaryMaskWriter,
    PaletteWriter,
    overlay_labels,
    overlay_masks,
    query_color,
    read_label_png,
    write_palette_png,
)


def test_davis_palette_values():
    assert DAVIS_PALETTE.shape == (256, 3)
    assert DAVIS_PALETTE[:6].tolist() == [
        [0, 0, 0],
        [128, 0, 0],
        [0, 128, 0],
        [128, 128, 0],
        [0, 0, 128],
        [128, 0, 128],
    ]
    assert DAVIS_PALETTE[255].tolist() == [224, 224, 192]
    assert len({tuple(c) for c in DAVIS_PALETTE.tolist()}) == 256


def test_palette_png_round_trip(tmp_path):
    labels = np.random.default_rng(0).integers(0, 256, (37, 53)).astype(np.uint8)
    path = tmp_path / "m.png"
    write_palette_png(path, labels)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[24:26] == bytes([8, 3])  # 8-bit, colour type 3 (palette)
    np.testing.assert_array_equal(read_label_png(path), labels)
    # Other decoders see the DAVIS colours.
    colours = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(colours, DAVIS_PALETTE[labels])


def test_read_grayscale_binary_rgb_and_16_bit(tmp_path):
    ids = np.zeros((6, 8), np.uint8)
    ids[1:3, 1:3], ids[4:, 5:] = 3, 7
    cv2.imwrite(str(tmp_path / "gray.png"), ids)
    np.testing.assert_array_equal(read_label_png(tmp_path / "gray.png"), ids)
    cv2.imwrite(str(tmp_path / "binary.png"), (ids > 0).astype(np.uint8) * 255)
    np.testing.assert_array_equal(read_label_png(tmp_path / "binary.png"), (ids > 0).astype(int))
    cv2.imwrite(str(tmp_path / "rgb.png"), cv2.cvtColor(DAVIS_PALETTE[ids], cv2.COLOR_RGB2BGR))
    np.testing.assert_array_equal(read_label_png(tmp_path / "rgb.png"), ids)
    wide = ids.astype(np.uint16) * 100
    cv2.imwrite(str(tmp_path / "wide.png"), wide)
    assert read_label_png(tmp_path / "wide.png").max() == 700


def test_read_rejects_non_masks(tmp_path):
    (tmp_path / "x.png").write_text("not an image")
    with pytest.raises(InputError, match="not an image"):
        read_label_png(tmp_path / "x.png")
    cv2.imwrite(str(tmp_path / "photo.png"), np.random.default_rng(0).integers(0, 256, (4, 4, 3)).astype(np.uint8))
    with pytest.raises(InputError, match="palette or grayscale"):
        read_label_png(tmp_path / "photo.png")


def test_jpeg_mask_is_refused(tmp_path):
    """A 0/255 mask saved as JPEG decodes to dozens of grey levels, each of which would become an object."""
    mask = np.zeros((48, 64), np.uint8)
    mask[10:30, 20:50] = 255
    cv2.imwrite(str(tmp_path / "mask.jpg"), mask)
    with pytest.raises(InputError, match="is a JPEG.*save the mask as a PNG"):
        read_label_png(tmp_path / "mask.jpg")


def test_palette_writer_names_and_atomicity(tmp_path):
    out = tmp_path / "masks"
    labels = np.zeros((4, 5), np.uint8)
    with PaletteWriter(out, ["a", "b"]) as pngs:
        pngs.write(0, labels)
        pngs.write(1, labels + 2)
        assert not out.exists()
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    assert read_label_png(out / "b.png").max() == 2
    with pytest.raises(KeyboardInterrupt):
        with PaletteWriter(tmp_path / "other", ["a"]) as pngs:
            pngs.write(0, labels)
            raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["masks"]


def test_binary_mask_writer_layout(tmp_path):
    masks = np.zeros((2, 4, 5), np.uint8)
    masks[1, 1:3, 1:3] = 1
    with BinaryMaskWriter(tmp_path / "out", ["00000"], queries=2) as writer:
        writer.write(0, masks)
    written = cv2.imread(str(tmp_path / "out" / "1" / "00000.png"), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint8 and set(np.unique(written)) == {0, 255}
    np.testing.assert_array_equal(written > 0, masks[1] > 0)
    assert not cv2.imread(str(tmp_path / "out" / "0" / "00000.png"), cv2.IMREAD_UNCHANGED).any()


def test_overlay_labels_colours_the_mask_only():
    frame = np.full((40, 40, 3), 100, np.uint8)
    labels = np.zeros((40, 40), np.uint8)
    labels[10:30, 10:30] = 2
    out = overlay_labels(frame, labels, alpha=0.6)
    expected = np.round(0.4 * 100 + 0.6 * DAVIS_PALETTE[2]).astype(int).tolist()
    assert out[20, 20].tolist() == expected
    assert out[10, 20].tolist() == DAVIS_PALETTE[2].tolist()  # contour
    assert out[5, 5].tolist() == [100, 100, 100]
    assert (out[labels == 0] == 100).all()


def test_overlay_masks_query_colours_and_legend():
    assert query_color(0) == (0, 0, 255) and query_color(1) == (255, 0, 0)
    assert len({query_color(i) for i in range(16)}) == 16
    frame = np.full((60, 80, 3), 50, np.uint8)
    masks = np.zeros((2, 60, 80), np.uint8)
    masks[0, 30:50, 5:25] = 1
    masks[1, 30:50, 50:70] = 1
    out = overlay_masks(frame, masks, alpha=0.5)
    assert out[40, 15].tolist() == [25, 25, 153]
    assert out[40, 60].tolist() == [153, 25, 25]
    assert out[5, 40].tolist() == [50, 50, 50]
    with_legend = overlay_masks(frame, masks, legend=["a dog", "a cat"])
    assert with_legend.shape == frame.shape and (with_legend[:10] != 50).any()
