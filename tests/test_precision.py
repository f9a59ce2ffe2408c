"""`--precision`: fp32 is real float32 on CUDA (TF32 off), tf32 turns TF32 on; checked without a GPU,
since the TF32 switches are plain attributes of torch.backends."""

import pytest
import torch

from rvos_cli.errors import InputError
from rvos_cli.pipelines.device import Runtime, autocast, resolve_precision, tf32_enabled
from rvos_cli.pipelines.options import PRECISIONS, RuntimeOptions

CUDA = torch.device("cuda")  # a device object only: nothing here touches a GPU


def flags():
    return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32


@pytest.fixture(autouse=True)
def restore_flags():
    before = flags()
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def set_flags(matmul, cudnn):
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


def test_tf32_is_a_precision():
    assert "tf32" in PRECISIONS
    assert RuntimeOptions("cpu", "TF32").precision == "tf32"
    with pytest.raises(InputError, match="unknown --precision"):
        RuntimeOptions("cpu", "tf16")


@pytest.mark.parametrize("before", [(True, True), (False, True), (False, False)])
def test_fp32_on_cuda_turns_tf32_off_and_restores(before):
    set_flags(*before)
    with Runtime(CUDA, "fp32").compute():
        assert flags() == (False, False)
    assert flags() == before


@pytest.mark.parametrize("before", [(False, False), (False, True)])
def test_tf32_on_cuda_turns_tf32_on_and_restores(before):
    set_flags(*before)
    with Runtime(CUDA, "tf32").math():
        assert flags() == (True, True)
    assert flags() == before


def test_flags_restored_after_an_error():
    set_flags(True, False)
    with pytest.raises(RuntimeError):
        with Runtime(CUDA, "fp32").compute():
            raise RuntimeError("boom")
    assert flags() == (True, False)
    with tf32_enabled(True):
        with tf32_enabled(False):
            assert flags() == (False, False)
        assert flags() == (True, True)
    assert flags() == (True, False)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_leaves_the_flags(precision):
    set_flags(False, True)
    with Runtime(CUDA, precision).math():
        assert flags() == (False, True)


@pytest.mark.parametrize("precision", ["fp32", "tf32", "bf16", "fp16"])
def test_cuda_turns_the_cudnn_autotuner_on_and_restores_it(precision):
    before = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = False
        with Runtime(CUDA, precision).compute() if precision in ("fp32", "tf32") else Runtime(CUDA, precision).math():
            assert torch.backends.cudnn.benchmark
        assert not torch.backends.cudnn.benchmark
    finally:
        torch.backends.cudnn.benchmark = before


@pytest.mark.parametrize("precision", ["fp32", "tf32"])
def test_cpu_computes_in_float32_under_the_same_flags(precision):
    """One policy on every device: the flags follow the precision on the CPU too (only CUDA reads them),
    so a run sets the same flags wherever it is checked; the CPU computes in float32 either way."""
    set_flags(True, False)
    runtime = Runtime(torch.device("cpu"), precision)
    with runtime.compute():
        assert flags() == (precision == "tf32",) * 2
        out = torch.nn.Linear(4, 4)(torch.ones(2, 4))
    assert out.dtype == torch.float32 and flags() == (True, False)
    assert autocast(runtime.device, precision).__class__.__name__ == "nullcontext"


def test_auto_precision():
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert resolve_precision("tf32", torch.device("cpu")) == "tf32"
    assert resolve_precision("fp32", CUDA) == "fp32"


def test_auto_is_bf16_on_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", CUDA) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", CUDA) == "fp16"


def test_tf32_runs_on_cpu_as_fp32():
    runtime = Runtime(torch.device("cpu"), "tf32")
    with runtime.compute():
        assert not torch.is_autocast_enabled("cpu")
        out = torch.nn.Linear(4, 4)(torch.ones(2, 4))
    assert out.dtype == torch.float32
