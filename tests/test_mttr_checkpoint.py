"""Loading MTTR checkpoints: the official layouts are accepted, anything else is one clear error.

Most tests use a state dict of zero-stride tensors, so files stay a few kilobytes.
"""

from __future__ import annotations

import pickle

import pytest
import torch

from rvos_cli.errors import CheckpointError
from rvos_cli.models.common.video_swin import relative_position_index
from rvos_cli.models.mttr import load_mttr
from rvos_cli.models.mttr.layout import layout

POSITION_IDS = "transformer.text_encoder.embeddings.position_ids"
MARKED = "is_referred_head.bias"


@pytest.fixture(scope="module")
def shapes():
    return layout().shapes


@pytest.fixture(scope="module")
def official(shapes):
    """An official-layout state dict (integer buffers included) that costs no memory."""
    state = {}
    for name, shape in shapes.items():
        if name == POSITION_IDS:
            state[name] = torch.arange(shape[1])[None]
        elif name.endswith("relative_position_index"):
            state[name] = relative_position_index()
        else:
            state[name] = torch.zeros(()).expand(shape)
    state[MARKED] = torch.tensor([0.25, -0.5])
    return state


def test_layout_matches_the_official_checkpoint(shapes, fixtures_dir, random_weights):
    manifest = random_weights.load_manifest(fixtures_dir / "mttr" / "manifest.json")
    assert list(shapes) == [name for name, _, _ in manifest]
    assert all(shapes[name] == tuple(shape) for name, shape, _ in manifest)


def test_layout_counts():
    shapes = layout().shapes
    floats = [s for k, s in shapes.items() if not (k.endswith("relative_position_index") or k == POSITION_IDS)]
    assert len(shapes) == 475
    assert sum(torch.Size(s).numel() for s in floats) == 146_489_864


def _assert_loaded(model):
    assert not model.training
    assert torch.equal(model.is_referred_head.bias, torch.tensor([0.25, -0.5]))
    assert all(p.device.type == "cpu" and p.dtype == torch.float32 for p in model.parameters())
    assert torch.equal(model.backbone.layers[2].blocks[5].attn.relative_position_index, relative_position_index())
    embeddings = model.transformer.text_encoder.embeddings
    assert embeddings.position_ids.device.type == "cpu" and embeddings.position_ids[0, -1] == 513


@pytest.mark.parametrize("wrapped", [True, False])
@pytest.mark.parametrize("with_position_ids", [True, False])
def test_official_file_forms_load(official, tmp_path, wrapped, with_position_ids):
    state = {k: v for k, v in official.items() if with_position_ids or k != POSITION_IDS}
    path = tmp_path / "refer-youtube-vos_window-12.pth.tar"
    torch.save({"epoch": 30, "model_state_dict": state, "optimizer_state_dict": {}} if wrapped else state, path)
    _assert_loaded(load_mttr(path))


def test_state_dict_without_integer_buffers_loads(official):
    state = {k: v for k, v in official.items() if not k.endswith("relative_position_index") and k != POSITION_IDS}
    _assert_loaded(load_mttr(state))


def test_safetensors_loads(official, tmp_path):
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in official.items() if k != POSITION_IDS}
    path = tmp_path / "model.safetensors"
    save_file(state, str(path))
    del state
    _assert_loaded(load_mttr(path))


def test_wrong_checkpoint_names_keys(official, tmp_path):
    state = {k.replace("backbone.", "swin."): v for k, v in official.items()}
    state["extra.weight"] = torch.zeros(3)
    path = tmp_path / "other.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(CheckpointError) as error:
        load_mttr(path)
    message = str(error.value)
    assert "not a MTTR (video-swin-t) checkpoint" in message and "\n" not in message
    assert "missing: backbone." in message and "unexpected: swin." in message


def test_wrong_shape_is_reported(official):
    state = dict(official)
    state["obj_queries.weight"] = torch.zeros(100, 256)
    with pytest.raises(CheckpointError, match=r"obj_queries.weight \(100, 256\) != \(50, 256\)"):
        load_mttr(state)


def test_truncated_file(official, tmp_path):
    path = tmp_path / "model.pth.tar"
    torch.save({"model_state_dict": official}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_mttr(path)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth.tar"
    torch.save({"model_state_dict": {"x": torch.zeros(1)}, "payload": _Payload(marker)}, path)
    raw = tmp_path / "evil_raw.pth"
    raw.write_bytes(pickle.dumps(_Payload(marker)))
    for candidate in (path, raw):
        with pytest.raises(CheckpointError, match="not unpickled for safety|not a readable checkpoint"):
            load_mttr(candidate)
    assert not marker.exists()


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_mttr(tmp_path / "nope.pth.tar")


@pytest.mark.parametrize("content", [b"hello", b"\x00\x00\x00 ftypisom\x00\x00\x02\x00", b""])
def test_a_file_of_another_kind_is_named_as_such(tmp_path, content):
    """A text file used to escape as KeyError, a video was called 'objects other than tensors'."""
    path = tmp_path / "model.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="is not a PyTorch checkpoint or .safetensors file"):
        load_mttr(path)


def test_corrupt_pickle_body_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "model.pth"
    path.write_bytes(b"\x80\x02h\x05.")  # BINGET of a memo entry that does not exist
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_mttr(path)


def test_unsafe_pickle_error_names_the_refused_global(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"x": _Payload(tmp_path / "pwned")}, path)
    with pytest.raises(CheckpointError, match=r"GLOBAL io\.open[^.;]*\); use the official"):
        load_mttr(path)
