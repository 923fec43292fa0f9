"""Alibaba (openb) and Microsoft ITP loaders on the real files and on corrupted copies, and
FGD's allocation experiment on a tiny cluster worked by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from huangpu.sim import alibaba, alibaba_alloc, itp
from huangpu.sim.trace_errors import TraceError


def test_alibaba_real_files(data_dir: Path) -> None:
    csv = data_dir / "alibaba-gpu-v2023" / "csv"
    nodes = list(alibaba.read_nodes(csv / "openb_node_list_all_node.csv"))
    assert len(nodes) == 1523 and sum(n.gpus for n in nodes) == 6212
    pods = list(alibaba.read_pods(csv / "openb_pod_list_default.csv"))
    assert len(pods) == 8152
    assert any(0 < p.gpu_milli < 1000 for p in pods)


def test_alibaba_corrupt_pod_row(tmp_path: Path) -> None:
    bad = tmp_path / "pods.csv"
    bad.write_text(
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
        "deletion_time,scheduled_time\n"
        "p0,1000,10,1,500,,LS,Running,0,10,0\n"
        "p1,1000,10,2,500,,LS,Running,0,10,0\n"
    )
    with pytest.raises(TraceError, match=r"pods\.csv:3: a multi-GPU pod"):
        list(alibaba.read_pods(bad))


def test_inflation_stops_at_the_requested_share() -> None:
    pods = [alibaba.Pod("a", 1000, 1, 1, 500, (), 0, 1), alibaba.Pod("b", 1000, 1, 0, 0, (), 0, 1)]
    drawn = list(alibaba.inflate(pods, capacity_gpus=2, percent=100, seed=1))
    assert sum(p.gpu_request_milli for p in drawn) == 2000


def test_allocation_rate_by_hand() -> None:
    # One node with 2 GPUs and room for 3 CPUs; 0.5-GPU pods, 1 CPU each. Requests reach
    # 150% (6 pods × 0.5 GPU of 2 GPUs): CPU caps it at 3 pods, 1.5 GPUs, 75% allocated.
    nodes = [alibaba.Node("n", 3000, 64, 2, "T4")]
    pods = [alibaba.Pod("p", 1000, 1, 1, 500, (), 0, 1)]
    run = alibaba_alloc.run(nodes, pods, "best-fit", percent=150, seed=0)
    assert run.pods == 6 and run.failed == 3
    assert run.percent_allocated[-1] == pytest.approx(75.0)
    assert run.unallocated_gpus == pytest.approx(0.5)


def test_memory_caps_allocation_by_hand() -> None:
    # Same, but memory (2 MiB, 1 MiB per pod) runs out first: 2 pods, 1 GPU, 50% allocated.
    nodes = [alibaba.Node("n", 3000, 2, 2, "T4")]
    pods = [alibaba.Pod("p", 1000, 1, 1, 500, (), 0, 1)]
    run = alibaba_alloc.run(nodes, pods, "fgd-balance", percent=150, seed=0)
    assert run.pods == 6 and run.failed == 4
    assert run.percent_allocated[-1] == pytest.approx(50.0)


def test_itp_real_files_both_forms(data_dir: Path) -> None:
    root = data_dir / "microsoft-itp"
    raw = list(itp.read_jobs(root / "raw-traces" / "cluster01.csv"))
    flow = list(itp.read_jobs(root / "elasticflow-traces" / "cluster01.csv"))
    assert len(raw) == len(flow) > 1000
    assert raw[0].key == flow[0].key


def test_itp_corrupt_row(tmp_path: Path) -> None:
    bad = tmp_path / "c.csv"
    bad.write_text("job_id,submission_time,duration,num_gpu\na,0,10,1\nb,5,ten,1\n")
    with pytest.raises(TraceError, match=r"c\.csv:3"):
        list(itp.read_jobs(bad))
