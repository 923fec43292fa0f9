"""Turn the store's inventory and queue into the scheduler's columnar Snapshot."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from huangpu.control.runtime_history import RuntimeKey, runtime_key
from huangpu.core.catalog import load_catalog
from huangpu.core.families import FAMILIES
from huangpu.core.jobspec import JobSpec
from huangpu.scheduling import Reservation, Snapshot, SnapshotBuilder
from huangpu.scheduling.tables import Market, Quotas
from huangpu.scheduling.throughput import ThroughputMatrix, normalised_compute, roofline_matrix
from huangpu.store.inventory import DeviceView
from huangpu.store.quota_repo import QuotaEntry


@dataclass(frozen=True, slots=True)
class RunningView:
    """A job holding devices: what quotas count, backfill waits for and preemption may stop."""

    job_id: str
    org_id: str
    priority: int
    start: float  # when it was placed or started running
    expected_end: float  # start + its estimate (the tenant's, else history's); inf: none
    preemptible: bool  # False while it is already being cancelled or preempted
    device_ids: tuple[str, ...]


@dataclass(frozen=True)
class SchedulingContext:
    """What control knows beyond inventory and queue; every part may be left empty.

    - ``pool_suppliers``: pool id -> (supplier id, supplier name), for allow/deny lists;
    - ``price``: (pool id, chip id) -> fen per accelerator-hour, or None when unpriced;
    - ``orgs``: org ids in the index order the job rows use, and ``blocked``: org id -> the
      ledger's words for a budget or cash stop (``BUDGET_EXHAUSTED`` in the snapshot);
    - ``subsidy_bp``: (org id, chip id) -> voucher share of the rent the ledger will apply;
    - ``throughput``: a measured or learned matrix replacing the catalog roofline;
    - ``running``: jobs holding devices (their orgs must be in ``orgs``);
    - ``quotas``: (org id, chip family) -> nominal quota and limits in NCU, ``cohorts``: org id
      -> cohort name; an (org, family) without an entry is unlimited and lends nothing;
    - ``decayed_usage``: org id -> NCU·s with half-life decay, for fair share;
    - ``runtime_estimates``: (org id, kind, accelerators, nodes) -> seconds, from the runs of
      recent similar jobs (control/runtime_history.py), for jobs without ``estimated_hours``;
    - ``held``: the last full cycle's EASY reservation, kept by an incremental cycle.
    """

    pool_suppliers: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    price: Callable[[str, str], int | None] | None = None
    orgs: Sequence[str] = ()
    blocked: Mapping[str, str] = field(default_factory=dict)
    subsidy_bp: Mapping[tuple[str, str], int] = field(default_factory=dict)
    throughput: ThroughputMatrix | None = None
    running: Sequence[RunningView] = ()
    quotas: Mapping[tuple[str, str], QuotaEntry] = field(default_factory=dict)
    cohorts: Mapping[str, str] = field(default_factory=dict)
    decayed_usage: Mapping[str, float] = field(default_factory=dict)
    runtime_estimates: Mapping[RuntimeKey, float] = field(default_factory=dict)
    held: Reservation | None = None  # the reservation an incremental cycle carries


@cache
def _roofline() -> ThroughputMatrix:
    return roofline_matrix(list(load_catalog()))


def _market(chips: tuple[str, ...], pools: list[str], ctx: SchedulingContext) -> Market:
    matrix = ctx.throughput or _roofline()
    rates = np.array([[matrix.rate(c, chip) if chip in matrix.chips else 0.0 for chip in chips]
                      for c in matrix.classes])  # fmt: skip
    ncu = normalised_compute(
        ThroughputMatrix(matrix.classes, chips, rates, tuple(("",) * len(chips) for _ in rates))
    )
    price = np.zeros((len(pools), len(chips)), dtype=np.int64)
    if ctx.price is not None:
        for p, pool in enumerate(pools):
            for c, chip in enumerate(chips):
                price[p, c] = ctx.price(pool, chip) or 0
    orgs = list(ctx.orgs)
    subsidy = np.zeros((len(orgs), len(chips)), dtype=np.int64)
    for (org, chip), bp in ctx.subsidy_bp.items():
        if org in orgs and chip in chips:
            subsidy[orgs.index(org), chips.index(chip)] = bp
    unset = np.zeros((0, 0), np.int64)
    return Market(matrix.classes, rates, ncu, price, subsidy if orgs else unset)


def _allowed_pools(
    spec: JobSpec, pools: list[str], region: dict[str, str], ctx: SchedulingContext
) -> list[int] | None:
    """Pools the spec's regions, residency and supplier lists allow (None: all of them)."""
    if not (spec.regions or spec.residency or spec.suppliers_allow or spec.suppliers_deny):
        return None
    ok: list[int] = []
    for i, pool in enumerate(pools):
        where = region.get(pool, "")
        supplier = set(ctx.pool_suppliers.get(pool, ()))
        if spec.regions and where not in spec.regions:
            continue
        if spec.residency and where != spec.residency:
            continue
        if spec.suppliers_allow and not supplier & set(spec.suppliers_allow):
            continue
        if supplier & set(spec.suppliers_deny):
            continue
        ok.append(i)
    return ok


def _quotas(chips: tuple[str, ...], ctx: SchedulingContext) -> Quotas:
    """Budget stops and fair-share usage always; quota tables only when some quota is set."""
    orgs = list(ctx.orgs)
    blocked = np.array([o in ctx.blocked for o in orgs], dtype=np.bool_)
    reasons = tuple(ctx.blocked.get(o, "") for o in orgs)
    usage = np.array([ctx.decayed_usage.get(o, 0.0) for o in orgs], dtype=np.float64)
    if not ctx.quotas:
        return Quotas(blocked=blocked, block_reason=reasons, decayed_usage=usage)
    families = tuple(FAMILIES)
    catalog = load_catalog()
    chip_family = np.array([families.index(catalog.models[c].family) for c in chips])
    shape = (len(orgs), len(families))
    # No entry: unlimited for the org itself, and nothing to lend to its cohort.
    nominal, borrow, lend = np.full(shape, np.inf), np.full(shape, np.inf), np.zeros(shape)
    row = {o: i for i, o in enumerate(orgs)}
    for (org, family), q in ctx.quotas.items():
        if org in row and family in families:
            o, f = row[org], families.index(family)
            nominal[o, f] = q.nominal
            borrow[o, f] = np.inf if q.borrow_limit is None else q.borrow_limit
            lend[o, f] = np.inf if q.lend_limit is None else q.lend_limit
    names = sorted({c for o, c in ctx.cohorts.items() if o in row})
    cohort = np.array([names.index(ctx.cohorts[o]) if o in ctx.cohorts else -1 for o in orgs])
    return Quotas(
        families=families,
        chip_family=chip_family,
        nominal=nominal,
        borrow_limit=borrow,
        lend_limit=lend,
        cohort=cohort.astype(np.int64),
        blocked=blocked,
        block_reason=reasons,
        decayed_usage=usage,
    )


def _add_running(
    builder: SnapshotBuilder, ctx: SchedulingContext, node_of: dict[str, tuple[str, int]]
) -> None:
    """Running jobs, with their devices counted per snapshot node. Devices of agents that went
    offline are not in the snapshot: such a job counts only what is still visible."""
    org_index = {o: i for i, o in enumerate(ctx.orgs)}
    for run in ctx.running:
        per_node: dict[str, int] = {}
        for device in run.device_ids:
            where = node_of.get(device)
            if where is not None:
                per_node[where[0]] = per_node.get(where[0], 0) + 1
        if not per_node or run.org_id not in org_index:
            continue
        builder.add_running(
            run.job_id,
            org_index[run.org_id],
            run.priority,
            run.start,
            sorted(per_node.items()),
            run.expected_end,
            run.preemptible,
        )


def _runtime_s(spec: JobSpec, org: int, ctx: SchedulingContext) -> float:
    """The tenant's estimate; else history's for the job's org, kind and shape; else NaN."""
    if spec.estimated_hours:
        return spec.estimated_hours * 3600
    if not ctx.runtime_estimates or not 0 <= org < len(ctx.orgs):
        return np.nan
    r = spec.resources
    key = runtime_key(ctx.orgs[org], str(spec.kind.value), r.accelerators, r.nodes)
    return ctx.runtime_estimates.get(key, np.nan)


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
    context: SchedulingContext | None = None,
) -> tuple[Snapshot, NodeIndex]:
    """``jobs`` rows are (key, spec, org index, submit time). With ``all_free`` every healthy
    device counts as free: the capacity an idle city offers, for submit-time checks."""
    ctx = context or SchedulingContext()
    chips, chip_index = _chip_index()
    by_node: dict[str, list[DeviceView]] = {}
    pool_ids: list[str] = []
    pool_region: dict[str, str] = {}
    for dev in devices:
        by_node.setdefault(dev.node_id, []).append(dev)
        if dev.pool_id not in pool_ids:
            pool_ids.append(dev.pool_id)
            pool_region[dev.pool_id] = dev.region
    pool_index = {p: i for i, p in enumerate(pool_ids)}
    builder = SnapshotBuilder(chips, pool_ids, now)
    regions = sorted({*pool_region.values(), *(s.residency for _, s, _, _ in jobs if s.residency)})
    builder.set_regions(regions, [regions.index(pool_region[p]) for p in pool_ids])
    market = _market(chips, pool_ids, ctx)
    builder.set_market(market)
    if ctx.orgs:
        builder.set_orgs(list(ctx.orgs))
        builder.set_quotas(_quotas(chips, ctx))
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
    if ctx.orgs:
        _add_running(builder, ctx, {d: key for key, d in device_ids.items()})
    held = ctx.held
    if (
        held is not None
        and len(held.hold) == len(held.node_keys)
        and all(k in node_agent for k in held.node_keys)
    ):
        holds = list(zip(held.node_keys, held.hold, strict=True))
        builder.set_reservation(held.job_key, held.start, holds)
    classes = market.classes
    for key, spec, org, submitted in jobs:
        r = spec.resources
        kind = str(spec.kind.value)
        builder.add_job(
            key,
            r.accelerators,
            r.nodes,
            r.min_memory_gib,
            [chip_index[m.id] for m in r.accepted_models()],
            org,
            spec.priority,
            submitted,
            _allowed_pools(spec, pool_ids, pool_region, ctx),
            work_class=classes.index(kind) if kind in classes else 0,
            # CNY to fen, rounded down: a max price never lets a dearer pool through.
            max_price_fen=int(spec.max_price_cny_per_hour * 100)
            if spec.max_price_cny_per_hour
            else 0,
            deadline=spec.deadline.timestamp() if spec.deadline else np.inf,
            runtime_s=_runtime_s(spec, org, ctx),
            residency=regions.index(spec.residency) if spec.residency else -1,
        )
    return builder.build(), NodeIndex(tuple(pool_ids), device_ids, node_agent)
