"""Turn the store's inventory and queue into the scheduler's columnar Snapshot."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from huangpu.core.catalog import load_catalog
from huangpu.core.jobspec import JobSpec
from huangpu.scheduling import Snapshot, SnapshotBuilder
from huangpu.store.inventory import DeviceView


@dataclass(frozen=True)
class NodeIndex:
    """What the control layer needs to turn a Placement back into rows."""

    pool_ids: tuple[str, ...]
    device_ids: dict[tuple[str, int], str]  # (node id, device index) -> device id
    node_agent: dict[str, str]  # node id -> agent id


def _chip_index() -> tuple[tuple[str, ...], dict[str, int]]:
    chips = tuple(m.id for m in load_catalog())
    return chips, {c: i for i, c in enumerate(chips)}


def build_snapshot(
    devices: Iterable[DeviceView],
    jobs: Sequence[tuple[str, JobSpec, int, float]],
    now: float,
    all_free: bool = False,
) -> tuple[Snapshot, NodeIndex]:
    """``jobs`` rows are (key, spec, org index, submit time). With ``all_free`` every healthy
    device counts as free: the capacity an idle city offers, for submit-time checks."""
    chips, chip_index = _chip_index()
    by_node: dict[str, list[DeviceView]] = {}
    pool_ids: list[str] = []
    for dev in devices:
        by_node.setdefault(dev.node_id, []).append(dev)
        if dev.pool_id not in pool_ids:
            pool_ids.append(dev.pool_id)
    pool_index = {p: i for i, p in enumerate(pool_ids)}
    builder = SnapshotBuilder(chips, pool_ids, now)
    device_ids: dict[tuple[str, int], str] = {}
    node_agent: dict[str, str] = {}
    for node_id, devs in by_node.items():
        # A node is one chip model in practice; a mixed node is split by chip.
        for chip in sorted({d.chip for d in devs}):
            same = [d for d in devs if d.chip == chip]
            key = node_id if len(by_node[node_id]) == len(same) else f"{node_id}#{chip}"
            free = [d.index for d in same if all_free or not d.allocated]
            builder.add_node(
                pool_index[same[0].pool_id],
                key,
                chip_index[chip],
                f"{same[0].pool_id}/{same[0].domain}",
                free,
                min(d.memory_gib for d in same),
            )
            for d in same:
                device_ids[(key, d.index)] = d.device_id
            node_agent[key] = same[0].agent_id
    for key, spec, org, submitted in jobs:
        r = spec.resources
        builder.add_job(
            key,
            r.accelerators,
            r.nodes,
            r.min_memory_gib,
            [chip_index[m.id] for m in r.accepted_models()],
            org,
            spec.priority,
            submitted,
        )
    return builder.build(), NodeIndex(tuple(pool_ids), device_ids, node_agent)
