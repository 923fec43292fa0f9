"""`huangpu sim sweep --ray` on a real Ray head: the grid runs as Ray tasks and comes back in
grid order with the same figures as the local run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from huangpu.sim import native
from huangpu.testing.engines import RayHead
from huangpu.testing.processes import child_env
from tests.sim.conftest import job, one_chip_trace


def _sweep(trace: str, out: Path, extra: list[str]) -> list[dict[str, object]]:
    cmd = [str(Path(sys.executable).parent / "huangpu"), "sim", "sweep", "--trace", trace]
    cmd += ["--policy", "first-fit", "--policy", "las", "--seed", "1", "--seed", "2"]
    done = subprocess.run(
        [*cmd, "--out", str(out), *extra],
        # Ray maps a loopback address to the host's IP unless told this is a one-host
        # cluster; the test head listens on loopback only (as scripts/ray-up.sh starts it).
        env=child_env({"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_sweep_on_ray_matches_local(tmp_path: Path, ray_head: RayHead) -> None:
    jobs = [job(f"j{i}", i * 10.0, 100.0 + 7 * i) for i in range(8)]
    t = one_chip_trace(jobs)
    path = tmp_path / "t.jsonl"
    native.write_trace(path, "t", t.world, t.matrix, jobs)
    trace = f"jsonl:{path}"

    on_ray = _sweep(trace, tmp_path / "ray.jsonl", ["--ray", ray_head.gcs_address])
    local = _sweep(trace, tmp_path / "local.jsonl", ["--workers", "1"])

    assert [r["spec"] for r in on_ray] == [r["spec"] for r in local]
    assert len(on_ray) == 4
    for a, b in zip(on_ray, local, strict=True):
        assert a["jct_avg_h"] == b["jct_avg_h"]
        assert a["makespan_h"] == b["makespan_h"]
