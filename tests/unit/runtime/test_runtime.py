"""huangpu.runtime: device choice from the agent's env, progress lines, and device-neutral
checkpoints (train on CPU, checkpoint, resume: the same loss curve as an uninterrupted run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from huangpu import runtime
from huangpu.core.families import FAMILIES

ENV = (
    "HUANGPU_CHIP",
    "HUANGPU_CHIP_FAMILY",
    "HUANGPU_PROGRESS_FILE",
    *tuple(f.visibility_env for f in FAMILIES.values()),
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("chip", "expected"),
    [("a100", "cuda"), ("910b2", "npu"), ("mlu370", "mlu"), ("s4000", "musa"),
     ("p800", "xpu"), ("s60", "gcu"), ("k100", "cuda"), ("c500", "cuda")],
)  # fmt: skip
def test_device_type_from_the_chip(
    monkeypatch: pytest.MonkeyPatch, chip: str, expected: str
) -> None:
    monkeypatch.setenv("HUANGPU_CHIP", chip)
    assert runtime.chip() == chip
    assert runtime.device_type() == expected


def test_family_from_visibility_variable_and_cpu_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    assert runtime.device_type() == "cpu"  # nothing set: run by hand on a laptop
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "2,3")
    assert (runtime.family(), runtime.device_type()) == ("ascend", "npu")
    monkeypatch.setenv("HUANGPU_CHIP_FAMILY", "cambricon")
    monkeypatch.setenv("MLU_VISIBLE_DEVICES", "")
    assert runtime.device_type() == "cpu"  # the agent hid every device


def test_device_falls_back_to_cpu_without_the_vendor_plugin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("HUANGPU_CHIP", "910b2")
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "0")
    assert runtime.device() == torch.device("cpu")  # no torch_npu here


def test_report_appends_json_lines(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert runtime.report(step=1) is None  # no agent listening: a no-op
    path = tmp_path / "progress.jsonl"
    monkeypatch.setenv("HUANGPU_PROGRESS_FILE", str(path))
    runtime.report(step=10, samples=640, loss=0.5)
    runtime.report(step=20, samples=1280, loss=float("nan"))
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [(r["step"], r["samples"]) for r in lines] == [(10, 640), (20, 1280)]
    assert lines[0]["metrics"] == {"loss": 0.5} and "metrics" not in lines[1]


def _train(torch, steps: range, state: dict | None) -> tuple[list[float], dict]:  # type: ignore[no-untyped-def,type-arg]
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(1)
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
    losses = []
    for _ in steps:
        x = torch.randn(32, 8, generator=gen)
        loss = torch.nn.functional.mse_loss(model(x), x.sum(1, keepdim=True).sin())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, {"model": model.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state()}


def test_checkpoint_resume_gives_the_same_loss_curve(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    straight, _ = _train(torch, range(40), None)
    first, state = _train(torch, range(20), None)
    path = runtime.checkpoint.save(tmp_path / "ck" / "checkpoint.pt", {**state, "step": 20})
    loaded = runtime.checkpoint.load(path)
    assert loaded["step"] == 20
    assert all(t.device.type == "cpu" for t in loaded["model"].values())
    second, _ = _train(torch, range(20, 40), loaded)
    assert first + second == pytest.approx(straight, rel=0, abs=0)
    assert not list((tmp_path / "ck").glob(".*.tmp"))  # written atomically
