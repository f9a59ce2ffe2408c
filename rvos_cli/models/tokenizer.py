"""RoBERTa's byte-level BPE tokenizer, read from a folder holding vocab.json and merges.txt."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from rvos_cli.errors import InputError

if TYPE_CHECKING:
    import torch

TOKENIZER_FILES = ("vocab.json", "merges.txt")
MAX_TOKENS = 512  # RoBERTa-base has 514 positions, two of which are reserved for padding offsets


class RobertaTokenizer:
    """Texts -> (input_ids [B, L], attention_mask [B, L]), right-padded with <pad> (id 1) to the longest:
    RoBERTa's byte-level BPE, the text encoder of MTTR, ReferFormer and SOC."""

    def __init__(self, folder: str | os.PathLike):
        from transformers import RobertaTokenizerFast

        folder = Path(folder)
        missing = [name for name in TOKENIZER_FILES if not (folder / name).is_file()]
        if missing:
            raise InputError(
                f"tokenizer folder {folder} lacks {', '.join(missing)}; pass a folder with vocab.json and merges.txt "
                "(roberta-base) to --tokenizer, or run `rvos download mttr-ytvos`"
            )
        self.tokenizer = RobertaTokenizerFast.from_pretrained(str(folder), local_files_only=True)

    def encode(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """(input_ids, attention_mask, indices of the texts cut to MAX_TOKENS tokens).

        The model layer does not print: the caller says which queries were truncated.
        """
        encoded = self.tokenizer(texts, padding="longest", truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
        # One token more than the limit is enough to tell a cut text from one that fits exactly.
        probe = self.tokenizer(texts, truncation=True, max_length=MAX_TOKENS + 1)["input_ids"]
        truncated = [i for i, ids in enumerate(probe) if len(ids) > MAX_TOKENS]
        return encoded["input_ids"], encoded["attention_mask"], truncated


def write_stand_in_tokenizer(folder: str | os.PathLike) -> Path:
    """A tiny byte-level BPE vocabulary (one token per printable ASCII character) in RoBERTa's
    format, for benchmarks and tests with random weights where the real files are not installed."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # Byte-level BPE shows printable ASCII as itself and a space as "Ġ".
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4, "Ġ": 5}
    for code in range(33, 127):
        vocab[chr(code)] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return folder
