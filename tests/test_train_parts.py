"""The pieces of training: the assignment solver, the matcher, the criterion, transforms, dataset readers."""

from __future__ import annotations

import itertools
import json
import struct
import zlib

import numpy as np
import pytest
import torch

from rvos_cli.errors import InputError
from rvos_cli.models.common.assignment import linear_sum_assignment
from rvos_cli.models.mttr.criterion import SetCriterion
from rvos_cli.models.mttr.matcher import HungarianMatcher
from rvos_cli.train.datasets import A2DSentences, JHMDBSentences, RefYouTubeVOS, centred_window, detect, windows
from rvos_cli.train.matfile import load_mat
from rvos_cli.train.transforms import Transforms, swap_left_right


def brute_force(cost: np.ndarray) -> float:
    rows, cols = cost.shape
    if rows <= cols:
        return min(sum(cost[i, p[i]] for i in range(rows)) for p in itertools.permutations(range(cols), rows))
    return brute_force(cost.T)


@pytest.mark.parametrize("seed", range(6))
def test_assignment_is_optimal_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    for _ in range(40):
        shape = tuple(rng.integers(1, 7, size=2))
        cost = rng.random(shape) if seed % 2 else rng.integers(0, 4, size=shape).astype(float)  # ties too
        rows, cols = linear_sum_assignment(cost)
        assert len(rows) == min(shape) and len(set(cols.tolist())) == len(cols)
        assert np.all(np.diff(rows) > 0)
        assert cost[rows, cols].sum() == pytest.approx(brute_force(cost))


def test_assignment_matches_scipy_when_installed():
    scipy_optimize = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(7)
    for _ in range(200):
        shape = (50, int(rng.integers(1, 6))) if rng.random() < 0.5 else tuple(rng.integers(1, 8, size=2))
        cost = rng.integers(0, 3, size=shape).astype(float) if rng.random() < 0.3 else rng.random(shape)
        ours, theirs = linear_sum_assignment(cost), scipy_optimize.linear_sum_assignment(cost)
        assert np.array_equal(ours[0], theirs[0]) and np.array_equal(ours[1], theirs[1])


def test_assignment_edge_cases():
    assert [a.tolist() for a in linear_sum_assignment(np.full((3, 3), 2.0))] == [[0, 1, 2], [0, 1, 2]]
    assert [a.size for a in linear_sum_assignment(np.zeros((0, 4)))] == [0, 0]
    with pytest.raises(ValueError, match="NaN"):
        linear_sum_assignment(np.array([[np.nan, 1.0]]))


def _targets(masks_per_frame, referred, visible):
    return [
        tuple(
            {"masks": m, "referred_instance_idx": torch.tensor(r), "is_ref_inst_visible": torch.tensor(v)}
            for m, r, v in zip(frame, referred, vis)
        )
        for frame, vis in zip(masks_per_frame, visible)
    ]


def test_matcher_minimises_the_documented_cost():
    """Per video the matching minimises 2 x (minus the probability of each object's label) + 5 x (minus dice),
    computed here directly from the definitions."""
    torch.manual_seed(0)
    t, b, n, h, w = 2, 2, 6, 8, 8
    outputs = {"pred_is_referred": torch.randn(t, b, n, 2), "pred_masks": torch.randn(t, b, n, h // 2, w // 2)}
    counts = [3, 2]
    masks = [[(torch.rand(k, h, w) > 0.5).to(torch.uint8) for k in counts] for _ in range(t)]
    visible = [[True, True], [True, False]]
    targets = _targets(masks, [1, 0], visible)
    matching = HungarianMatcher(2.0, 5.0)(outputs, targets)
    for video, (queries, objects) in enumerate(matching):
        cost = np.zeros((n, counts[video]))
        for q in range(n):
            for k in range(counts[video]):
                total = 0.0
                for f in range(t):
                    prob = outputs["pred_is_referred"][f, video, q].softmax(-1)
                    referred = k == [1, 0][video] and visible[f][video]
                    logits = torch.nn.functional.interpolate(
                        outputs["pred_masks"][f, video, q][None, None], size=(h, w), mode="bilinear"
                    )[0, 0]
                    p, g = logits.sigmoid().flatten(), masks[f][video][k].flatten().float()
                    dice = (2 * (p * g).sum() + 1) / (p.sum() + g.sum() + 1)
                    total += -2 * prob[0 if referred else 1].item() - 5 * dice.item()
                cost[q, k] = total / t
        assert cost[queries.numpy(), objects.numpy()].sum() == pytest.approx(brute_force(cost), abs=1e-5)
        assert np.all(np.diff(queries.numpy()) > 0)


def test_referred_loss_weights_and_visibility():
    """-log p(label), the unmatched queries and the text's object on hidden frames weighted eos_coef=0.1...
    except the matched query, which keeps weight 1 on every frame."""
    t, n = 2, 3
    logits = torch.randn(t, 1, n, 2)
    outputs = {"pred_is_referred": logits, "pred_masks": torch.zeros(t, 1, n, 2, 2)}
    targets = _targets([[torch.ones(1, 4, 4, dtype=torch.uint8)]] * t, [0], [[True], [False]])
    criterion = SetCriterion(lambda o, tg: [(torch.tensor([1]), torch.tensor([0]))], {"loss_is_referred": 2.0})
    losses, _ = criterion(outputs, targets)
    log_p = logits[:, 0].log_softmax(-1)
    expected = 0.0
    for f in range(t):
        for q in range(n):
            label = 0 if (q == 1 and f == 0) else 1
            expected += -log_p[f, q, label] * (1.0 if q == 1 else 0.1)
    assert losses["loss_is_referred"].item() == pytest.approx(expected.item() / t, rel=1e-6)
    assert list(losses) == ["loss_is_referred"]


def test_flip_swaps_left_and_right_and_mirrors_masks():
    assert swap_left_right("the left dog right of the cat") == "the right dog left of the cat"
    frames = [np.zeros((8, 12, 3), np.uint8)]
    frames[0][:, :3] = 255
    masks = torch.zeros(1, 8, 12, dtype=torch.uint8)
    masks[0, :, :3] = 1
    target = {"masks": masks, "referred_instance_idx": torch.tensor(0)}

    class Heads:  # rng.random() < 0.5 flips
        def random(self):
            return 0.0

        def choice(self, values):
            return values[0]

    video, targets, text = Transforms((8,), None, flip=True)(frames, [target], "a left cat", Heads())
    assert text == "a right cat" and targets[0]["masks"][0, :, -3:].all() and not targets[0]["masks"][0, :, :3].any()
    assert video[0, 0, 0, -1] > video[0, 0, 0, 0]
    video, targets, _ = Transforms((4,), 6, flip=True)(frames, [target], "x", None)  # eval: no flip, resized
    assert video.shape == (1, 3, 4, 6) and targets[0]["masks"].shape == (1, 4, 6)
    assert targets[0]["referred_mask"].shape == (8, 12)


def test_windows_as_the_original_cuts_videos():
    assert windows(list("abcde"), 2) == [["a", "b"], ["c", "d"], ["d", "e"]]
    assert windows(list("ab"), 4) == [["a", "b", "b", "b"]]
    assert centred_window(1, 4, 1, 10) == (1, 1, 1, 2)  # the annotated frame at position size // 2


def _mat_v5(name: str, array: np.ndarray, compress: bool) -> bytes:
    """A level-5 MAT file with one uint8 array (what scipy.io.savemat writes)."""

    def element(kind: int, payload: bytes) -> bytes:
        return struct.pack("<II", kind, len(payload)) + payload + b"\0" * ((-len(payload)) % 8)

    matrix = (
        element(6, struct.pack("<II", 9, 0))  # array flags: mxUINT8_CLASS
        + element(5, struct.pack(f"<{array.ndim}i", *array.shape))
        + element(1, name.encode())
        + element(2, array.tobytes(order="F"))
    )
    body = element(14, matrix)
    if compress:
        packed = zlib.compress(body)
        body = struct.pack("<II", 15, len(packed)) + packed
    return b"MATLAB 5.0 MAT-file".ljust(116) + b"\0" * 8 + struct.pack("<H", 0x0100) + b"IM" + body


@pytest.mark.parametrize("compress", [False, True])
def test_mat_files_are_read(tmp_path, compress):
    array = (np.random.default_rng(0).random((5, 7, 3)) > 0.5).astype(np.uint8)
    (tmp_path / "m.mat").write_bytes(_mat_v5("part_mask", array, compress))
    assert np.array_equal(load_mat(tmp_path / "m.mat")["part_mask"], array)


def test_jhmdb_root_is_read(tmp_path):
    import cv2

    frames = tmp_path / "Rename_Images" / "run" / "clip1"
    frames.mkdir(parents=True)
    for i in range(1, 6):
        cv2.imwrite(str(frames / f"{i:05d}.png"), np.full((6, 8, 3), 10 * i, np.uint8))
    masks = np.zeros((6, 8, 4), np.uint8)  # masks for 4 of the 5 frames
    masks[2:4, 3:6, 2] = 1
    (tmp_path / "puppet_mask" / "run" / "clip1").mkdir(parents=True)
    (tmp_path / "puppet_mask" / "run" / "clip1" / "puppet_mask.mat").write_bytes(_mat_v5("part_mask", masks, True))
    (tmp_path / "jhmdb_annotation.txt").write_text("video_id,query\nclip1,the man running\n")
    reader = detect(tmp_path, print)
    assert isinstance(reader, JHMDBSentences)
    refs = reader.samples("train", 4, 0)
    assert [r.frames for r in refs] == [(i, 4) for i in range(1, 5)] and len(reader.samples("valid", 4, 0)) == 3
    sample = reader.load(refs[2], "train", 4)
    assert [f[0, 0, 0] for f in sample.frames] == [10, 20, 30, 40]  # frames 1..4 around frame 3
    assert sample.targets[:2] + sample.targets[3:] == [None] * 3
    assert torch.equal(sample.targets[2]["masks"][0], torch.from_numpy(masks[..., 2]).bool().to(torch.uint8))


def test_a2d_root_is_read(tmp_path):
    h5py = pytest.importorskip("h5py")
    import cv2

    (tmp_path / "Release" / "clips320H").mkdir(parents=True)
    writer = cv2.VideoWriter(str(tmp_path / "Release" / "clips320H" / "vidA.mp4"), cv2.VideoWriter_fourcc(*"mp4v"),
                             24, (16, 8))  # fmt: skip
    for i in range(6):
        writer.write(np.full((8, 16, 3), 40 * i, np.uint8))
    writer.release()
    (tmp_path / "Release" / "videoset.csv").write_text("vidA,x,0,1,8,16,6,1,0\nvidB,x,0,1,8,16,6,1,1\n")
    text = tmp_path / "text_annotations"
    (text / "a2d_annotation_with_instances" / "vidA").mkdir(parents=True)
    (text / "a2d_annotation.txt").write_text("video_id,instance_id,query\nvidA,2,The Dog\nvidA,1 (copy),x\n")
    masks = np.zeros((2, 16, 8), np.uint8)  # MATLAB order: [instances, W, H]
    masks[1, 2:5, 1:3] = 1
    with h5py.File(text / "a2d_annotation_with_instances" / "vidA" / "00003.h5", "w") as f:
        f["instance"] = np.array([1, 2])
        f["reMask"] = masks
    reader = detect(tmp_path, print)
    assert isinstance(reader, A2DSentences)
    (ref,) = reader.samples("train", 4, 0)
    assert ref.text == "the dog" and ref.frames == (3,) and ref.image_id == "v_vidA_f_3_i_2"
    assert reader.samples("valid", 4, 0) == []
    sample = reader.load(ref, "train", 4)
    assert len(sample.frames) == 4 and sample.targets[2] is not None and sample.targets[0] is None
    target = sample.targets[2]
    assert int(target["referred_instance_idx"]) == 1 and target["masks"].shape == (2, 8, 16)
    assert torch.equal(target["masks"][1], torch.from_numpy(masks[1].T.copy()))


def test_ref_youtube_vos_expressions_file_and_unknown_roots(tmp_path):
    (tmp_path / "train" / "JPEGImages").mkdir(parents=True)
    (tmp_path / "meta_expressions" / "train").mkdir(parents=True)
    (tmp_path / "meta_expressions" / "train" / "meta_expressions.json").write_text(json.dumps({"videos": {}}))
    assert isinstance(detect(tmp_path, print), RefYouTubeVOS)
    with pytest.raises(InputError, match="is not a dataset root"):
        detect(tmp_path / "train", print)


def test_a_few_steps_on_synthetic_shapes_lower_the_loss(tmp_path):
    """The dataset, transforms and collator feed the step; four steps on one batch lower its loss."""
    from rvos.train import Trainer
    from rvos_cli.models.tokenizer import RobertaTokenizer, write_stand_in_tokenizer
    from rvos_cli.train.datasets import ReferringDataset
    from rvos_cli.train.synthetic import write_synthetic_dataset
    from rvos_cli.train.transforms import collate

    data = write_synthetic_dataset(tmp_path / "data", train_videos=1, valid_videos=0, frames=2, size=(32, 48))
    reader = detect(data, print)
    refs = reader.samples("train", 2, 0)
    assert sorted(r.text for r in refs) == sorted(
        e["exp"] for e in json.loads((data / "meta_expressions/train/meta_expressions.json").read_text())["videos"][
            "train000"]["expressions"].values()
    )  # fmt: skip
    dataset = ReferringDataset(reader, "train", refs, 2, Transforms((32,), 48), seed=0, train=True)
    batch = collate([dataset[0], dataset[1]], RobertaTokenizer(write_stand_in_tokenizer(tmp_path / "tok")))
    assert batch.videos.shape == (2, 2, 3, 32, 48) and len(batch.targets) == 2 and len(batch.targets[0]) == 2
    trainer = Trainer("mttr", None, device="cpu", dropout=False, seed=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        losses = [trainer.step_runner(batch).total_loss for _ in range(4)]
    finally:
        torch.set_num_threads(threads)
    assert losses[-1] < losses[0] and all(np.isfinite(losses))
