"""`huangpu sim` end to end on a tiny native trace: run, compare and sweep write reports."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from huangpu.cli.main import app
from huangpu.sim import native
from tests.sim.conftest import job, one_chip_trace


def _trace(tmp_path: Path) -> Path:
    jobs = [job(f"j{i}", i * 10.0, 100.0 + i) for i in range(6)]
    t = one_chip_trace(jobs)
    path = tmp_path / "t.jsonl"
    native.write_trace(path, "t", t.world, t.matrix, jobs)
    return path


def test_run_compare_sweep(tmp_path: Path) -> None:
    trace = f"jsonl:{_trace(tmp_path)}"
    runner = CliRunner()
    r = runner.invoke(
        app,
        ["sim", "run", "--trace", trace, "--policy", "first-fit", "--out", str(tmp_path / "run")],
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "run" / "report.md").exists()
    r = runner.invoke(
        app,
        ["sim", "compare", "first-fit", "las", "--trace", trace, "--out", str(tmp_path / "cmp")],
    )
    assert r.exit_code == 0, r.output
    assert len(json.loads((tmp_path / "cmp" / "metrics.json").read_text())) == 2
    r = runner.invoke(
        app,
        [
            "sim",
            "sweep",
            "--trace",
            trace,
            "--policy",
            "first-fit",
            "--policy",
            "las",
            "--workers",
            "1",
            "--out",
            str(tmp_path / "s.jsonl"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert len((tmp_path / "s.jsonl").read_text().splitlines()) == 2


def test_bad_trace_is_bad_input(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        app, ["sim", "run", "--trace", "nope:x", "--policy", "las", "--out", str(tmp_path)]
    )
    assert r.exit_code == 2


def test_voucher_what_if_command(tmp_path: Path) -> None:
    from huangpu.sim.world import PoolSpec, World

    jobs = [job(f"j{i}", i * 60.0, 7200.0) for i in range(4)]
    t = one_chip_trace(jobs)
    world = World((PoolSpec("p", "a100", 1, 2, supplier="cloud", price_fen_per_hour=2000),))
    path = tmp_path / "priced.jsonl"
    native.write_trace(path, "priced", world, t.matrix, jobs)
    r = CliRunner().invoke(
        app,
        [
            "sim",
            "voucher",
            "--trace",
            f"jsonl:{path}",
            "--out",
            str(tmp_path / "v"),
            "--cap-cny",
            "1",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "tenants at cap | – | 4" in (tmp_path / "v" / "voucher.md").read_text()
