"""The weights registry (weights.yaml), the local cache, and downloads.

Public API used by the pipelines (the download work fills in the rest):
- `cache_root(cache_dir=None) -> Path`
- `registry_entry(name, registry=None) -> dict`
- `locate_checkpoint(name, cache_dir=None) -> Path`: the installed checkpoint of an entry, else MissingWeightsError
- `locate_entry_dir(name, cache_dir=None) -> Path`: the entry's installed folder (tokenizer files), else MissingWeightsError
"""
