"""MTTR's input preparation: resize rule, normalisation, text, tokenizer, windows."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import frames_to_tensor, write_tiny_tokenizer

from rvos_cli.errors import InputError
from rvos_cli.models.mttr.preprocess import normalize_text
from rvos_cli.models.mttr.referrer import MttrReferrer
from rvos_cli.models.tokenizer import RobertaTokenizer


def resized_size(height, width, size=360, max_size=640):
    return MttrReferrer(network=None, size=size, max_size=max_size).input_size(height, width)


@pytest.mark.parametrize(
    "size, expected",
    [
        ((720, 1280), (360, 640)),  # 16:9: short side 360
        ((1080, 1920), (360, 640)),
        ((480, 640), (360, 480)),  # 4:3
        ((360, 1280), (180, 640)),  # very wide: the long side caps at 640
        ((1280, 720), (640, 360)),  # portrait
        ((360, 500), (360, 500)),  # already the right size
        ((100, 150), (360, 540)),  # small videos are enlarged
    ],
)
def test_resize_rule(size, expected):
    assert resized_size(*size) == expected


def test_resize_rule_rounds_like_the_reference():
    # long/short*360 > 640: short = int(round(640*short/long)), long = int(short'*long/short)
    assert resized_size(333, 1000) == (213, 639)
    assert resized_size(64, 96, size=64, max_size=640) == (64, 96)


def test_frames_are_normalized_with_imagenet_statistics():
    frames = [np.full((8, 12, 3), value, np.uint8) for value in (0, 255)]
    video = frames_to_tensor(frames, (8, 12))
    assert video.shape == (2, 3, 8, 12) and video.dtype == torch.float32
    torch.testing.assert_close(
        video[0, :, 0, 0], -torch.tensor([0.485, 0.456, 0.406]) / torch.tensor([0.229, 0.224, 0.225])
    )
    torch.testing.assert_close(
        video[1, :, 0, 0], torch.tensor([0.515, 0.544, 0.594]) / torch.tensor([0.229, 0.224, 0.225])
    )
    assert frames_to_tensor(frames, (4, 6)).shape == (2, 3, 4, 6)


def test_text_normalisation():
    assert normalize_text("  A Man\tRiding   a BIKE \n") == "a man riding a bike"


@pytest.fixture
def tiny_tokenizer(tmp_path):
    return RobertaTokenizer(write_tiny_tokenizer(tmp_path))


def test_tokenizer_right_pads_with_id_1(tiny_tokenizer):
    ids, mask, _ = tiny_tokenizer.encode(["ab a", "a ab c ab"])
    assert ids.tolist() == [[0, 9, 8, 2, 1, 1], [0, 5, 10, 12, 10, 2]]
    assert mask.tolist() == [[1, 1, 1, 1, 0, 0], [1] * 6]


def test_tokenizer_folder_must_hold_the_files(tmp_path):
    (tmp_path / "vocab.json").write_text("{}")
    with pytest.raises(InputError, match="lacks merges.txt"):
        RobertaTokenizer(tmp_path)
