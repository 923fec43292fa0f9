"""Slurm executor pieces that need no Slurm: GRES parsing, discovery mapping, the batch script
and both submission forms, the REST transport against a mock (httpx.MockTransport)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from huangpu.agent.executors.slurm import (
    SlurmJobSpec,
    SlurmRest,
    nodes_from_slurm,
    parse_gres,
    parse_gres_map,
    render_script,
)
from huangpu.core.errors import InvalidInput


def test_gres_parsing_and_map() -> None:
    assert parse_gres("gpu:fake:4,npu:8(S:0)") == {"gpu": 4, "npu": 8}
    assert parse_gres("(null)") == {}
    assert parse_gres_map("gpu=a100, npu=910b") == {"gpu": "a100", "npu": "910b2"}
    with pytest.raises(InvalidInput):
        parse_gres_map("gpu")


def test_nodes_from_slurm_maps_gres_to_chips_and_marks_down_nodes() -> None:
    raw = [
        {"name": "n1", "gres": "gpu:a100:4,npu:8", "state": "idle"},
        {"name": "n2", "gres": "npu:8", "state": "down*"},
        {"name": "n3", "gres": "(null)", "state": "idle"},
    ]
    nodes = nodes_from_slurm(raw, {"npu": "910b2"})
    assert [n.name for n in nodes] == ["n1", "n2"]
    assert [d.index for d in nodes[0].devices] == list(range(8))
    assert all(d.chip == "910b2" for d in nodes[0].devices)
    assert not any(d.healthy for d in nodes[1].devices)


def test_script_exports_env_pins_devices_and_records_the_exit(tmp_path: Path) -> None:
    exit_file = tmp_path / "exit_code"
    script = render_script(
        "echo $ASCEND_RT_VISIBLE_DEVICES $X; exit 5",
        {"X": "it's quoted"},
        exit_file,
        nodes=1,
        family_env="ASCEND_RT_VISIBLE_DEVICES",
        slurm_names_devices=True,
    )
    done = subprocess.run(
        ["/bin/sh", "-c", script], env={"CUDA_VISIBLE_DEVICES": "2,3", "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 5
    assert done.stdout.strip() == "2,3 it's quoted"
    assert exit_file.read_text().strip() == "5"
    gang = render_script("hostname", {}, exit_file, 4, None, False)
    assert "srun --export=ALL --ntasks-per-node=1 /bin/sh -c hostname" in gang


def test_submission_forms() -> None:
    job = SlurmJobSpec("hp", "#!/bin/sh\ntrue\n", 2, 1, "npu:8", "debug", "/w", "/o/out.log")
    args = job.sbatch_args()
    assert {"--nodes=2", "--ntasks-per-node=1", "--gres=npu:8", "--partition=debug",
            "--output=/o/out.log", "--export=NONE"} <= set(args)  # fmt: skip
    body = job.rest_body()["job"]
    assert (body["nodes"], body["tasks_per_node"], body["gres"]) == (2, 1, "npu:8")


def test_rest_transport_sends_the_jwt_and_decodes_exit_status() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/job/submit"):
            assert json.loads(request.content)["job"]["gres"] == "gpu:1"
            return httpx.Response(200, json={"errors": [], "job_id": 42})
        return httpx.Response(
            200,
            json={"jobs": [{"job_id": 42, "job_state": "FAILED", "state_reason": "NonZeroExitCode",
                            "exit_code": 3 << 8, "end_time": int(time.time())}]},
        )  # fmt: skip

    rest = SlurmRest(
        "http://slurm:6820", "v0.0.39", token="jwt-1", transport=httpx.MockTransport(handler)
    )
    job = SlurmJobSpec("hp", "#!/bin/sh\n", 1, 1, "gpu:1", None, "/w", "/o")
    assert rest.submit(job) == 42
    state = rest.job(42)
    assert state is not None and (state.state, state.exit_code) == ("FAILED", 3)
    assert seen[0].url.path == "/slurm/v0.0.39/job/submit"
    assert seen[0].headers["X-SLURM-USER-TOKEN"] == "jwt-1"
    assert seen[0].headers["X-SLURM-USER-NAME"] == "root"
