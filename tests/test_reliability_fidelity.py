"""Issue 11: RDE-VOS resizes label masks as the official evaluation does; the tokenizer reports truncation."""

from __future__ import annotations

import numpy as np
import torch
from conftest import write_tiny_tokenizer

from rvos_cli.models.rdevos.preprocess import processing_size, resize_labels
from rvos_cli.models.tokenizer import MAX_TOKENS, RobertaTokenizer


def test_label_masks_are_resized_with_legacy_nearest_at_an_odd_ratio():
    """torchvision's Resize(NEAREST) on tensors: output pixel d reads source pixel floor(d * in / out)."""
    labels = torch.arange(720 * 1280 // 64, dtype=torch.int64).reshape(720 // 8, 1280 // 8) % 251
    labels = labels.to(torch.uint8)
    out_h, out_w = 61, 107  # 90 -> 61 and 160 -> 107: odd ratios where nearest-exact picks other rows
    resized = resize_labels(labels, (out_h, out_w))
    rows = np.floor(np.arange(out_h) * labels.shape[0] / out_h).astype(int)
    cols = np.floor(np.arange(out_w) * labels.shape[1] / out_w).astype(int)
    expected = labels.numpy()[rows][:, cols]
    np.testing.assert_array_equal(resized.numpy(), expected)
    assert resized.dtype == torch.uint8


def test_processing_size_upscales_only_when_asked():
    assert processing_size(64, 96, 480, upscale=False) == (64, 96)
    assert processing_size(64, 96, 480) == (480, 720)
    assert processing_size(720, 1280, 480, upscale=False) == (480, 853)


def test_the_tokenizer_says_which_texts_it_truncated(tmp_path):
    tokenizer = RobertaTokenizer(write_tiny_tokenizer(tmp_path / "tok"))
    fits = "a " * (MAX_TOKENS - 2 - 1)  # <s> ... </s> exactly at the limit (the last "a" has no space token)
    ids, mask, truncated = tokenizer.encode(["a b", "a " * 600, fits.strip()])
    assert truncated == [1]
    assert ids.shape[1] == MAX_TOKENS
