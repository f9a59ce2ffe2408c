"""Texts in the form MTTR was evaluated on (Ref-YouTube-VOS expressions)."""

from __future__ import annotations


def normalize_text(text: str) -> str:
    """Lower case with single spaces, as the Ref-YouTube-VOS expressions were given to the model."""
    return " ".join(text.lower().split())
