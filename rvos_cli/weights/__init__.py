"""The weights registry (weights.yaml), the local cache, and downloads.

Public API used by the pipelines and the CLI:
- `cache_root(cache_dir=None) -> Path`
- `load_registry(registry=None) -> dict[str, WeightsEntry]`: built-in entries plus RVOS_REGISTRY / --registry ones
- `registry_entry(name, registry=None) -> WeightsEntry`: InputError listing the known names if unknown
- `locate_checkpoint(name, cache_dir=None) -> Path`: the installed checkpoint, else MissingWeightsError
- `locate_entry_dir(name, cache_dir=None) -> Path`: the entry's installed folder (tokenizer files), else
  MissingWeightsError
- `resolve_weights(model, weights, checkpoint, ...) -> ResolvedWeights` (weights.resolve): the one answer to
  "which weights does this run use"
- `install(entry, ...) -> dict`: download (or `--from`), verify, convert to safetensors, record
- `describe(entry, cache_dir=None) -> dict`: a row of `rvos models`
"""

from rvos_cli.weights.cache import (
    cache_root,
    describe,
    locate_checkpoint,
    locate_entry_dir,
)
from rvos_cli.weights.installer import install
from rvos_cli.weights.registry import load_registry, registry_entry

__all__ = [
    "cache_root",
    "describe",
    "install",
    "load_registry",
    "locate_checkpoint",
    "locate_entry_dir",
    "registry_entry",
]
