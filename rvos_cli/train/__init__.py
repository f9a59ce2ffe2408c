"""Training: the referring datasets in their original layouts, the original trainer's step and loop.

`recipe.py` (per model: what trains, its criterion), `optim.py`, `step.py` (one step), `loop.py` (epochs,
checkpoints, resuming, signals), `datasets.py` / `transforms.py`, `validate.py`, `distributed.py` (torchrun).
`rvos_cli/pipelines/train.py` drives it for `rvos train`; `rvos/train.py` is its Python API.
"""
