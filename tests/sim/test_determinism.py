"""The same seed gives byte-identical reports (metrics, Markdown and plots)."""

from __future__ import annotations

from pathlib import Path

from huangpu.sim import gavel, report
from huangpu.sim.engine import SimConfig, simulate


def _run(data_dir: Path, out: Path) -> None:
    trace = gavel.continuous_trace(data_dir / "gavel", 5.6, seed=3, window=(20, 60))
    result = simulate(trace, SimConfig("las-hetero", round_s=360))
    report.write([result], out)


def test_same_seed_same_bytes(data_dir: Path, tmp_path: Path) -> None:
    _run(data_dir, tmp_path / "one")
    _run(data_dir, tmp_path / "two")
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert "metrics.json" in names and "report.md" in names and "jct_cdf.png" in names
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
