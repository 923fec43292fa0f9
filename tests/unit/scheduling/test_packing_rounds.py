"""FGD packing and Gavel's time-sharing rounds, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from huangpu.scheduling.packing import BestFit, FgdPacker, TaskType, fragmentation
from huangpu.scheduling.rounds import plan_round

HALF = [TaskType(cpu_milli=0, gpu_milli=500, weight=1.0)]


def test_fragmentation_by_hand() -> None:
    # one node, GPUs with 300 and 1000 free: for a 500-milli task the 300 is a sliver
    gpu = np.array([[300, 1000]])
    assert fragmentation(gpu, np.array([0]), HALF)[0] == 300
    # a whole-GPU task cannot use the 300 either; a node that fits nothing strands everything
    whole = [TaskType(0, 1000, 1.0)]
    assert fragmentation(gpu, np.array([0]), whole)[0] == 300
    assert fragmentation(np.array([[300, 200]]), np.array([0]), whole)[0] == 500


def test_fgd_avoids_stranding_a_sliver_where_best_fit_does_not() -> None:
    # GPU A has 700 free, GPU B 1000. The workload is half-GPU tasks. A 300 task:
    # best fit takes A (700 -> 400: a sliver no 500 task can use); FGD takes B
    # (1000 -> 700, still fits a 500 task), so fragmentation does not grow.
    gpu, cpu = np.array([[700, 1000]]), np.array([1000])
    fgd, best = FgdPacker(gpu, cpu, HALF), BestFit(gpu, cpu, HALF)
    assert fgd.place(0, 300) == (0, (1,))
    assert best.place(0, 300) == (0, (0,))
    assert fgd.total_fragmentation() == 0 < best.total_fragmentation() == 400


def test_whole_gpu_tasks_take_full_gpus_and_cpu_is_checked() -> None:
    p = FgdPacker(np.array([[1000, 500, 1000, -1]]), np.array([4000]), HALF)
    assert p.place(1000, 2000) == (0, (0, 2))
    assert p.place(5000, 100) is None  # not enough CPU anywhere
    assert p.place(0, 1000) is None  # no full GPU left
    with pytest.raises(ValueError):
        FgdPacker(np.array([[1200]]), np.array([0]), HALF)


def test_rounds_realise_a_half_half_allocation() -> None:
    # Two one-GPU jobs each allocated half the time of the only GPU: they alternate.
    alloc = np.array([[0.5], [0.5]])
    received = np.zeros((2, 1))
    ran = []
    for r in range(6):
        chosen = plan_round(alloc, received, 360.0 * r, np.array([1, 1]), np.array([1]))
        assert (chosen >= 0).sum() == 1
        j = int(np.flatnonzero(chosen >= 0)[0])
        received[j, 0] += 360.0
        ran.append(j)
    assert ran == [0, 1, 0, 1, 0, 1]


def test_rounds_respect_capacity_and_sizes() -> None:
    alloc = np.array([[1.0, 0.0], [0.6, 0.4], [0.0, 1.0]])
    chosen = plan_round(alloc, np.zeros((3, 2)), 0.0, np.array([4, 4, 2]), np.array([4, 2]))
    assert chosen.tolist() == [0, -1, 1]
