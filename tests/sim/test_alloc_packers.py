"""FGD's allocation experiment: the packers on tiny clusters worked by hand, FGD's
inflation, and determinism of the Alibaba runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from huangpu.scheduling.packing import FgdK8s, FgdPacker, TaskType, fragmentation, k8s_score
from huangpu.scheduling.packing_fgd_balance import FgdBalance, FgdPack, cpu_per_gpu
from huangpu.scheduling.packing_node_fit import NodeBestFit
from huangpu.sim import alibaba, alibaba_alloc

HALF = [TaskType(cpu_milli=0, gpu_milli=500, weight=1.0)]


def _pod(name: str, cpu: int, num: int, milli: int, spec: tuple[str, ...] = ()) -> alibaba.Pod:
    return alibaba.Pod(name, cpu, 1, num, milli, spec, 0, 1)


def test_fragmentation_counts_gpu_models_and_cpu_only_types() -> None:
    gpu = np.array([[1000, 300], [1000, 300]])
    cpu = np.array([1000, 1000])
    # A V100-only half-GPU type: the T4 node cannot host it, so all its free GPU counts.
    v100 = [TaskType(0, 500, 1.0, ("V100",))]
    assert fragmentation(gpu, cpu, v100, ["V100", "T4"]).tolist() == [300, 1300]
    # A CPU-only type never uses GPUs: all free GPU counts (FGD's artifact does the same).
    mixed = [TaskType(0, 500, 1.0), TaskType(500, 0, 1.0)]
    assert fragmentation(gpu, cpu, mixed).tolist() == [0.5 * 300 + 0.5 * 1300] * 2


def test_fgd_k8s_score_is_fgd_plugin_integer_sigmoid() -> None:
    # ⌊100·sigmoid(−ΔF/1000)⌋: 50 for no change, 73 for −1000 milli, 26 for +1000.
    assert k8s_score(np.array([0.0, -1000.0, 1000.0, np.inf])).tolist() == [50, 73, 26, 0]


def test_incremental_cache_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    work = [
        TaskType(4000, 500, 3.0),
        TaskType(8000, 1000, 2.0),
        TaskType(2000, 0, 1.0),
        TaskType(16000, 2000, 1.0),
        TaskType(1000, 250, 1.0, ("A",)),
    ]
    gpu = np.full((12, 4), 1000)
    gpu[8:, 2:] = -1
    models = ["A"] * 6 + ["B"] * 6
    p = FgdPacker(gpu, np.full(12, 32000), work, models=models)
    for _ in range(40):
        t = work[int(rng.integers(len(work)))]
        c = p.cluster
        best = None
        for n, gs in c.candidates(t.cpu_milli, t.gpu_milli, 0, t.gpu_spec):
            g2, c2 = c.gpu.copy(), c.cpu.copy()
            c2[n] -= t.cpu_milli
            for g in gs:
                g2[n, g] -= min(t.gpu_milli, 1000)
            f = float(fragmentation(g2, c2, work, models).sum())
            best = f if best is None else min(best, f)
        placed = p.place(t.cpu_milli, t.gpu_milli, 0, t.gpu_spec)
        assert (placed is None) == (best is None)
        if best is not None:
            assert p.total_fragmentation() == pytest.approx(best)
            assert p.total_fragmentation() == pytest.approx(
                float(fragmentation(c.gpu, c.cpu, work, models).sum())
            )


def test_gpu_spec_and_memory_filter_nodes() -> None:
    gpu = np.array([[1000], [1000]])
    p = FgdPacker(gpu, np.array([8000, 8000]), HALF, np.array([100, 10]), ["T4", "V100"])
    assert p.place(1000, 500, 50, ("V100",)) is None  # V100 node: memory too small
    assert p.place(1000, 500, 5, ("V100",)) == (1, (0,))
    assert p.place(1000, 500, 50) == (0, (0,))


def test_fgd_balance_breaks_fgd_ties_by_cpu_deficit_then_best_fit() -> None:
    # Whole-GPU types with 0.5 and 2.5 cores: ρ = 1.5 cores per GPU. Node 0 has 4 GPUs and
    # 5 cores (short of 4 × 1.5 = 6: deficit 1 core), node 1 has 4 GPUs and 64 cores.
    work = [TaskType(500, 1000, 1.0), TaskType(2500, 1000, 1.0)]
    assert cpu_per_gpu(work) == 1.5
    gpu, cpu = np.full((2, 4), 1000), np.array([5000, 64000])
    # A 1-GPU, 2.5-core task fits both types afterwards on either node: FGD's score ties.
    # Best fit takes the tighter node 0; its deficit would grow to 3 × 1.5 − 2.5 = 2 cores,
    # so FgdBalance takes node 1 (no deficit) instead.
    assert FgdPack(gpu, cpu, work).place(2500, 1000) == (0, (0,))
    assert FgdBalance(gpu, cpu, work).place(2500, 1000) == (1, (0,))
    # A CPU-light task (0.5 core) shrinks node 0's deficit to 3 × 1.5 − 4.5 = 0: node 0.
    assert FgdBalance(gpu, cpu, work).place(500, 1000) == (0, (0,))


def test_fgd_k8s_ties_are_seeded() -> None:
    gpu = np.full((8, 1), 1000)
    picks = []
    for _ in range(2):
        p = FgdK8s(gpu, np.full(8, 4000), HALF, seed=7)
        picks.append([p.place(0, 1000) for _ in range(8)])
    assert picks[0] == picks[1]
    assert sorted(pick[0] for pick in picks[0] if pick is not None) == list(range(8))


def test_node_best_fit_takes_the_tightest_gpu() -> None:
    gpu = np.array([[1000, 600, 800], [1000, 1000, 1000]])
    p = NodeBestFit(gpu, np.array([8000, 8000]), HALF)
    assert p.place(0, 500) == (0, (1,))
    assert p.place(0, 2000) == (1, (0, 1))


def test_fgd_inflation_keeps_every_trace_pod_once() -> None:
    pods = [_pod(f"p{i}", 1000, 1, 500) for i in range(3)] + [_pod("c", 1000, 0, 0)]
    out = alibaba.inflate_fgd(pods, capacity_gpus=2, percent=150, seed=3)
    assert all(out.count(p) >= 1 for p in pods)  # the trace once, plus copies
    assert sum(p.gpu_request_milli for p in out) <= 3000
    assert sum(p.gpu_request_milli for p in out) > 3000 - 500
    assert out == alibaba.inflate_fgd(pods, capacity_gpus=2, percent=150, seed=3)
    # Asking for less than the trace removes random pods.
    few = alibaba.inflate_fgd(pods, capacity_gpus=2, percent=50, seed=3)
    assert sum(p.gpu_request_milli for p in few) <= 1000


def test_target_workload_is_the_trace_distribution() -> None:
    pods = [_pod("a", 1000, 1, 500)] * 3 + [_pod("b", 2000, 2, 1000, ("V100",))]
    work = alibaba_alloc.target_workload(pods)
    assert work == [TaskType(1000, 500, 3.0), TaskType(2000, 2000, 1.0, ("V100",))]
    assert alibaba_alloc.target_workload(pods, popularity=0.5) == work[:1]


@pytest.mark.parametrize("packer", ["fgd", "fgd-balance"])
def test_alibaba_runs_are_deterministic(data_dir: Path, packer: str) -> None:
    csv = data_dir / "alibaba-gpu-v2023" / "csv"
    nodes = list(alibaba.read_nodes(csv / "openb_node_list_all_node.csv"))
    pods = list(alibaba.read_pods(csv / "openb_pod_list_default.csv"))
    one = alibaba_alloc.run(nodes, pods, packer, percent=40, seed=5)
    two = alibaba_alloc.run(nodes, pods, packer, percent=40, seed=5)
    assert one.percent_allocated == two.percent_allocated and one.failed == two.failed
    assert one.percent_requested[-1] == 40


def test_cli_alloc_reports_pods_per_second_and_per_seed_figures(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from huangpu.cli.main import app

    csv = tmp_path / "alibaba-gpu-v2023" / "csv"
    csv.mkdir(parents=True)
    (csv / "openb_node_list_all_node.csv").write_text(
        "sn,cpu_milli,memory_mib,gpu,model\nn0,8000,1024,2,T4\nn1,4000,1024,0,\n"
    )
    (csv / "openb_pod_list_default.csv").write_text(
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
        "deletion_time,scheduled_time\n"
        "p0,1000,10,1,500,,LS,Running,0,10,0\n"
        "p1,1000,10,0,0,,LS,Running,0,10,0\n"
        "p2,2000,10,1,1000,T4,LS,Running,0,10,0\n"
    )
    out = tmp_path / "out"
    args = ["sim", "alloc", "--packer", "fgd-balance", "--packer", "best-fit", "--seeds", "2"]
    r = CliRunner().invoke(app, [*args, "--data", str(tmp_path), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "pods/s" in r.output
    rows = json.loads((out / "alloc.json").read_text())
    assert [row["packer"] for row in rows] == ["fgd-balance", "best-fit"]
    assert [s["seed"] for s in rows[0]["per_seed"]] == [42, 43]
    assert (out / "allocation.png").exists()
    bad = CliRunner().invoke(app, ["sim", "alloc", "--packer", "nope", "--out", str(out)])
    assert bad.exit_code != 0 and "unknown packer" in bad.output
