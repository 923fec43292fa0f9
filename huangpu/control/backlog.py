"""Engine backlog: engine-backed pools (Slurm, Ray) queue a bounded number of jobs themselves.

Without it an engine only ever sees as many huangpu jobs as the pool has free devices, so
every freed device waits for huangpu's round trip (agent poll, exit report, release, a
scheduler cycle, a lease, a submit) before the engine can start the next job. With it the
scheduler also places up to ``bound`` jobs per pool *beyond* its free devices:

- a backlog job is SCHEDULED / STARTING like any other, but holds **no** allocation rows (the
  allocations table's primary key keeps its guarantee: a device is never given twice);
- its lease is ``queued`` (no devices, the chip to ask for); the agent submits it to the
  engine and reports Started only when the engine really starts it;
- on Started (or later, when the books have no free device yet) ``settle`` gives it free
  devices of its agent in one transaction, and opens its metering cursor: it is metered
  only from then on. Until then it counts against the bound, and the free devices it will
  take are hidden from the scheduler (``hide_reserved``), so the books do not hand them to
  a newcomer the engine would queue behind it anyway.

The bound is ``pools.engine_backlog`` for Slurm and Ray pools (NULL: the pool's device
count); other pools take no backlog.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import Select, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from huangpu.control.metering import open_cursor
from huangpu.core.jobspec import JobSpec
from huangpu.core.states import HOLDS_DEVICES, JobState
from huangpu.store import jobs as job_repo
from huangpu.store.inventory import DeviceView
from huangpu.store.models import AllocationRow, DeviceRow, JobRow, NodeRow, PoolRow

log = logging.getLogger(__name__)

ENGINE_EXECUTORS = frozenset({"slurm", "ray"})


def default_bound(executor: str, setting: int | None, devices: int) -> int:
    """A pool's backlog bound: its setting, else its device count; always 0 for executors
    that start every job at once (local, Kubernetes): they have no queue to keep one in."""
    if executor not in ENGINE_EXECUTORS:
        return 0
    return devices if setting is None else max(0, setting)


@dataclass(frozen=True, slots=True)
class PoolBacklog:
    pool_id: str
    bound: int
    queued: int  # jobs placed on the pool that need devices and hold none yet
    wants: int  # devices those jobs will take when they start

    @property
    def room(self) -> int:
        return max(0, self.bound - self.queued)


def _needs(spec: Mapping[str, object]) -> int:
    resources = spec.get("resources")
    if not isinstance(resources, Mapping):
        return 0
    return int(resources.get("accelerators", 0) or 0) * int(resources.get("nodes", 1) or 1)


def _unallocated() -> ColumnElement[bool]:
    return ~exists().where(AllocationRow.job_id == JobRow.id)


def backlog_state(session: Session, inventory: Sequence[DeviceView]) -> dict[str, PoolBacklog]:
    """Per pool with devices in ``inventory``: its bound and the jobs queued against it."""
    devices: dict[str, int] = {}
    for d in inventory:
        devices[d.pool_id] = devices.get(d.pool_id, 0) + 1
    if not devices:
        return {}
    pools = session.execute(
        select(PoolRow.id, PoolRow.executor, PoolRow.engine_backlog).where(
            PoolRow.id.in_(list(devices))
        )
    ).all()
    queued: dict[str, list[int]] = {}
    for pool_id, spec in session.execute(
        select(JobRow.pool_id, JobRow.spec).where(
            JobRow.state.in_([s.value for s in HOLDS_DEVICES]),
            JobRow.pool_id.in_(list(devices)),
            _unallocated(),
        )
    ):
        need = _needs(spec)
        if need and pool_id is not None:
            queued.setdefault(pool_id, []).append(need)
    return {
        pool_id: PoolBacklog(
            pool_id,
            default_bound(executor, setting, devices[pool_id]),
            len(queued.get(pool_id, [])),
            sum(queued.get(pool_id, [])),
        )
        for pool_id, executor, setting in pools
    }


def hide_reserved(
    inventory: Sequence[DeviceView], backlog: Mapping[str, PoolBacklog]
) -> list[DeviceView]:
    """The inventory with, per pool, up to ``wants`` free devices shown as taken: they go to
    the pool's queued jobs as the engine starts them."""
    left = {p: b.wants for p, b in backlog.items() if b.wants}
    if not left:
        return list(inventory)
    out: list[DeviceView] = []
    for d in inventory:
        if not d.allocated and left.get(d.pool_id, 0) > 0:
            left[d.pool_id] -= 1
            d = replace(d, allocated=True)
        out.append(d)
    return out


def backlog_inventory(
    inventory: Iterable[DeviceView], backlog: Mapping[str, PoolBacklog]
) -> list[DeviceView]:
    """Devices of the pools that have backlog room, all shown free (what an idle pool
    offers): the second pass places against this."""
    return [
        replace(d, allocated=False)
        for d in inventory
        if d.pool_id in backlog and backlog[d.pool_id].room > 0
    ]


def lease_chip(session: Session, agent_id: str, spec: JobSpec) -> str:
    """The chip a backlog lease asks the engine for: the first accepted chip the agent has."""
    have = set(
        session.scalars(
            select(DeviceRow.chip)
            .join(NodeRow, NodeRow.id == DeviceRow.node_id)
            .where(NodeRow.agent_id == agent_id, DeviceRow.healthy.is_(True))
            .distinct()
        )
    )
    for model in spec.resources.accepted_models():
        if model.id in have:
            return model.id
    return ""


def settle(session: Session, agent_id: str | None = None) -> int:
    """Give devices to RUNNING jobs that hold none (backlog jobs the engine started), oldest
    first, from their agent's free devices; returns how many got them.

    A job for which the books have no free device yet (its Started came before the exit that
    frees one) keeps waiting and is settled when a device is released. Each allocation is its
    own savepoint, so a device taken meanwhile by another writer only skips that job.
    """
    query = select(JobRow.id, JobRow.attempt, JobRow.agent_id, JobRow.pool_id, JobRow.spec).where(
        JobRow.state == JobState.RUNNING.value,
        _unallocated(),
    )
    if agent_id is not None:
        query = query.where(JobRow.agent_id == agent_id)
    waiting = [r for r in session.execute(query.order_by(JobRow.updated_at)) if _needs(r[4])]
    if not waiting:
        return 0
    agents = sorted({r[2] for r in waiting if r[2] is not None})
    free: dict[str, list[tuple[str, str, str]]] = {}  # agent -> (node, device id, chip)
    for agent, node, device, chip in session.execute(
        select(NodeRow.agent_id, NodeRow.id, DeviceRow.id, DeviceRow.chip)
        .join(DeviceRow, DeviceRow.node_id == NodeRow.id)
        .where(
            NodeRow.agent_id.in_(agents),
            DeviceRow.healthy.is_(True),
            ~exists().where(AllocationRow.device_id == DeviceRow.id),
        )
        .order_by(NodeRow.name, DeviceRow.idx)
    ):
        free.setdefault(agent, []).append((node, device, chip))
    settled = 0
    for job_id, attempt, agent, pool_id, raw in waiting:
        spec = JobSpec.model_validate(raw)
        picked = _pick(free.get(agent or "", []), spec)
        if picked is None or pool_id is None:
            continue
        try:
            with session.begin_nested():
                job_repo.allocate(session, job_id, attempt, picked)
                session.flush()
        except IntegrityError:
            log.warning("job %s: a device was taken meanwhile; settling it later", job_id)
            continue
        taken = set(picked)
        free[agent or ""] = [f for f in free.get(agent or "", []) if f[1] not in taken]
        open_cursor(session, job_id, attempt, pool_id, picked)
        settled += 1
    return settled


def _pick(free: list[tuple[str, str, str]], spec: JobSpec) -> list[str] | None:
    """``nodes`` nodes with ``accelerators`` free devices each of one accepted chip."""
    per_node, nodes = spec.resources.accelerators, spec.resources.nodes
    for model in spec.resources.accepted_models():
        by_node: dict[str, list[str]] = {}
        for node, device, chip in free:
            if chip == model.id:
                by_node.setdefault(node, []).append(device)
        fit = [devs[:per_node] for devs in by_node.values() if len(devs) >= per_node]
        if len(fit) >= nodes:
            return [d for devs in fit[:nodes] for d in devs]
    return None


def waiting_for_devices() -> Select[str]:
    """A cheap probe: some RUNNING job holds no devices (``settle`` has work)."""
    return select(JobRow.id).where(JobRow.state == JobState.RUNNING.value, _unallocated()).limit(1)
