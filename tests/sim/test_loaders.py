"""Trace loaders on the real files (skipped when the shared data folder is absent, failed
under CI=1) and on corrupted copies: the error names the file and the line."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from huangpu.sim import gavel, native
from huangpu.sim.trace_errors import TraceError
from tests.sim.conftest import job, one_chip_trace


def test_gavel_matrix_and_job_table(data_dir: Path) -> None:
    m = gavel.load_matrix(data_dir / "gavel" / "simulation_throughputs.json")
    assert set(m.chips) == {"v100", "p100", "k80"}
    assert len(gavel.job_table(m)) == 26  # Gavel's JobTable
    # Per-accelerator rate of a 2-worker job is Gavel's job rate / 2.
    assert "ResNet-50 (batch size 64) x2" in m.classes


def test_gavel_generator_matches_its_distribution(data_dir: Path) -> None:
    trace = gavel.continuous_trace(data_dir / "gavel", jobs_per_hour=6.0, seed=0)
    jobs = list(itertools.islice(trace.jobs, 3000))
    gaps = [b.submit - a.submit for a, b in itertools.pairwise(jobs)]
    assert sum(gaps) / len(gaps) == pytest.approx(600, rel=0.1)  # Poisson at 6/h
    assert all(j.accel == 1 and j.nodes == 1 for j in jobs)
    assert len({j.work_class for j in jobs}) == 26


def test_gavel_trace_file(data_dir: Path) -> None:
    m = gavel.load_matrix(data_dir / "gavel" / "simulation_throughputs.json")
    path = data_dir / "gavel" / "traces" / "physical_cluster" / "small_test.trace"
    jobs = list(gavel.read_trace(path, m))
    assert jobs and jobs[0].work_class == "Transformer (batch size 128) x2"


def test_philly_durations(data_dir: Path) -> None:
    d, g = gavel.read_philly_durations(data_dir / "gavel" / "philly_job_distribution.csv")
    assert len(d) == 33192 and (d > 0).all() and (g >= 1).all()


def test_corrupt_philly_csv_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "philly.csv"
    bad.write_text("duration_s,num_gpus\n100.0,1\nnot-a-number,1\n")
    with pytest.raises(TraceError, match=r"philly\.csv:3"):
        gavel.read_philly_durations(bad)


def test_corrupt_gavel_trace_names_file_and_line(data_dir: Path, tmp_path: Path) -> None:
    m = gavel.load_matrix(data_dir / "gavel" / "simulation_throughputs.json")
    src = data_dir / "gavel" / "traces" / "physical_cluster" / "small_test.trace"
    lines = src.read_text().splitlines()
    lines[1] = lines[1].replace("\t1\t", "\tmany\t", 1)
    lines[2] = "\t".join(lines[2].split("\t")[:4])
    bad = tmp_path / "broken.trace"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(TraceError, match=r"broken\.trace:[23]"):
        list(gavel.read_trace(bad, m))


def test_corrupt_matrix_json(tmp_path: Path) -> None:
    bad = tmp_path / "t.json"
    bad.write_text('{"v100": {\n  "x": \n}')
    with pytest.raises(TraceError, match=r"t\.json:3"):
        gavel.load_matrix(bad)


def test_native_round_trip_and_bad_line(tmp_path: Path) -> None:
    src = one_chip_trace([job("a", 0, 10), job("b", 5, 20)])
    path = tmp_path / "t.jsonl"
    native.write_trace(path, "t", src.world, src.matrix, [job("a", 0, 10), job("b", 5, 20)])
    back = native.read_trace(path)
    assert [j.key for j in back.jobs] == ["a", "b"]
    lines = path.read_text().splitlines()
    row = json.loads(lines[2])
    row["work"] = "lots"
    lines[2] = json.dumps(row)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TraceError, match=r"t\.jsonl:3"):
        list(native.read_trace(path).jobs)
