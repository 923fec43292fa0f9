"""The one job shape every trace loader yields, and a trace: a world plus a stream of jobs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from huangpu.scheduling.throughput import ThroughputMatrix
from huangpu.sim.world import World


@dataclass(frozen=True, slots=True)
class SimJob:
    key: str
    org: str
    submit: float  # seconds from trace zero
    work_class: str  # row of the throughput matrix
    work: float  # progress units to finish (rate × seconds on a chip)
    accel: int = 1  # devices per node
    nodes: int = 1
    chips: tuple[str, ...] = ()  # accepted chip models; empty = any
    priority: int = 0
    kind: str = "train"  # a JobKind value: "serve" is billed under model vouchers


@dataclass
class Trace:
    """What a run needs: the world, the throughput matrix, and jobs in submit order."""

    name: str
    world: World
    matrix: ThroughputMatrix
    jobs: Iterator[SimJob]
    # Average JCT is measured over jobs whose arrival index is in [window[0], window[1]).
    window: tuple[int, int] | None = None
    # Stop generating arrivals once the window has all completed (Gavel's continuous set-up).
    stop_after_window: bool = False
    meta: dict[str, str] = field(default_factory=dict)
