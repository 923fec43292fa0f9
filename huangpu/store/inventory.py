"""Read-side queries over pools, nodes, devices and allocations."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from huangpu.store.models import AgentRow, AllocationRow, DeviceRow, NodeRow, PoolRow


@dataclass(frozen=True, slots=True)
class DeviceView:
    pool_id: str
    pool_name: str
    region: str
    agent_id: str
    node_id: str
    node_name: str
    domain: str
    device_id: str
    index: int
    chip: str
    memory_gib: float
    allocated: bool


def devices(session: Session, online_since: float | None = None) -> list[DeviceView]:
    """Healthy devices, with whether each is allocated. ``online_since`` keeps only nodes whose
    agent was seen at or after that time."""
    query = (
        select(
            PoolRow.id,
            PoolRow.name,
            PoolRow.region,
            NodeRow.agent_id,
            NodeRow.id,
            NodeRow.name,
            NodeRow.domain,
            DeviceRow.id,
            DeviceRow.idx,
            DeviceRow.chip,
            DeviceRow.memory_gib,
            AllocationRow.job_id,
        )
        .join(NodeRow, NodeRow.id == DeviceRow.node_id)
        .join(PoolRow, PoolRow.id == DeviceRow.pool_id)
        .join(AgentRow, AgentRow.id == NodeRow.agent_id)
        .outerjoin(AllocationRow, AllocationRow.device_id == DeviceRow.id)
        .where(DeviceRow.healthy.is_(True))
        .order_by(PoolRow.created_at, NodeRow.name, DeviceRow.idx)
    )
    if online_since is not None:
        query = query.where(AgentRow.last_seen >= online_since)
    return [
        DeviceView(
            r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11] is not None
        )
        for r in session.execute(query)
    ]


def job_devices(session: Session, job_id: str) -> list[tuple[str, int, str]]:
    """(node name, device index, chip) of the devices a job holds."""
    rows = session.execute(
        select(NodeRow.name, DeviceRow.idx, DeviceRow.chip)
        .join(DeviceRow, DeviceRow.node_id == NodeRow.id)
        .join(AllocationRow, AllocationRow.device_id == DeviceRow.id)
        .where(AllocationRow.job_id == job_id)
        .order_by(NodeRow.name, DeviceRow.idx)
    )
    return [(r[0], r[1], r[2]) for r in rows]
