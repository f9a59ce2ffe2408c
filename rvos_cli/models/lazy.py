"""Package names that import their module on first use (PEP 562), so that a model package's
torch-free parts (its options) can be read without importing torch."""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, names: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`: names[attribute] is the submodule defining it."""

    def __getattr__(attribute: str) -> Any:
        if attribute not in names:
            raise AttributeError(f"module {package!r} has no attribute {attribute!r}")
        return getattr(importlib.import_module(f"{package}.{names[attribute]}"), attribute)

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
