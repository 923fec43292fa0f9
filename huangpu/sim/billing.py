"""Bill a run through the production ledger: each usage segment becomes a ``UsageLine`` rated
by ``ledger.rate_charge`` (price × device-hours, voucher subsidy with budgets and caps) and
posted to a ``Journal`` as a balanced transaction, exactly as ``control.metering`` does.

Trace time zero is placed at ``EPOCH`` (2026-01-01 00:00 Beijing time) because grants,
periods and statements live on the calendar.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from huangpu.core.catalog import load_catalog
from huangpu.ledger import (
    Journal,
    UsageLine,
    VoucherGrant,
    charge_transaction,
    rate_charge,
    usage_key,
)
from huangpu.sim.engine import SimResult

EPOCH = 1_767_196_800.0  # 2026-01-01T00:00:00+08:00


@dataclass
class Bill:
    cost_by_org: dict[str, int] = field(default_factory=dict)  # cash paid, fen
    gross_by_org: dict[str, int] = field(default_factory=dict)
    subsidy_by_program: dict[str, int] = field(default_factory=dict)
    revenue_by_supplier: dict[str, int] = field(default_factory=dict)  # gross − platform fee
    device_hours_by_chip: dict[str, float] = field(default_factory=dict)
    domestic_device_hours: float = 0.0
    other_device_hours: float = 0.0
    capped_orgs: dict[str, list[str]] = field(default_factory=dict)  # program → orgs at cap
    program_exhausted_at_h: dict[str, float] = field(default_factory=dict)
    subsidy_curve: list[tuple[float, int]] = field(default_factory=list)  # (hours, cumulative)
    transactions: int = 0
    billed: bool = False


def bill(result: SimResult, fee_bp: int = 0) -> Bill:
    """Rate every segment in end-time order (the order metering would post them)."""
    world, out = result.world, Bill()
    if not any(p.price_fen_per_hour > 0 for p in world.pools):
        return out  # a research trace without prices: nothing to bill
    catalog = load_catalog()
    programs = world.programs
    caps = {p.id: p.per_tenant_cap_fen for p in programs}
    budgets = {p.id: p.program_budget_fen for p in programs}
    # Budgets are enforced where production enforces them, in rate_charge (what is left of
    # the program and of each tenant's cap); the journal here is not pre-funded, so its
    # overdraft guard is off and program accounts simply show what was drawn.
    journal = Journal(guarded=frozenset())
    spent: defaultdict[str, int] = defaultdict(int)
    spent_by_org: defaultdict[tuple[str, str], int] = defaultdict(int)
    grants_cache: dict[str, list[VoucherGrant]] = {}
    cost: defaultdict[str, int] = defaultdict(int)
    gross_by_org: defaultdict[str, int] = defaultdict(int)
    revenue: defaultdict[str, int] = defaultdict(int)
    hours: defaultdict[str, float] = defaultdict(float)
    total_subsidy = 0
    for n, seg in enumerate(sorted(result.segments, key=lambda s: (s.end, s.job, s.start))):
        pool = world.pools[seg.pool]
        org = result.orgs[seg.job]
        device_seconds = round(seg.devices * (seg.end - seg.start))
        if device_seconds <= 0:
            continue
        chip = catalog.resolve(pool.chip).id
        usage = UsageLine(
            job_id=f"{result.keys[seg.job]}.s{n}",
            org=org,
            org_category=world.org_category.get(org, "startup"),
            supplier=pool.supplier,
            pool=pool.name,
            chip=chip,
            job_kind=result.kinds[seg.job],
            device_seconds=device_seconds,
            start=EPOCH + seg.start,
            end=EPOCH + seg.end,
        )
        grants = grants_cache.get(org)
        if grants is None:
            grants = [
                p.grant(org, EPOCH)
                for p in programs
                if world.grants.get(p.id) is None or org in (world.grants.get(p.id) or ())
            ]
            grants_cache[org] = grants
        charge = rate_charge(
            usage, pool.price_fen_per_hour, programs, grants, spent, spent_by_org, fee_bp
        )
        journal.apply(charge_transaction(charge, usage_key(usage)))
        out.transactions += 1
        for s in charge.subsidies:
            spent[s.program_id] += s.amount_fen
            spent_by_org[(org, s.program_id)] += s.amount_fen
            total_subsidy += s.amount_fen
            if spent[s.program_id] >= budgets[s.program_id]:
                out.program_exhausted_at_h.setdefault(s.program_id, seg.end / 3600)
        cost[org] += charge.cash_fen
        gross_by_org[org] += charge.gross_fen
        revenue[pool.supplier] += charge.supplier_fen
        dh = device_seconds / 3600
        hours[pool.chip] += dh
        if catalog.resolve(pool.chip).domestic:
            out.domestic_device_hours += dh
        else:
            out.other_device_hours += dh
        if charge.subsidies:
            out.subsidy_curve.append((seg.end / 3600, total_subsidy))
    out.cost_by_org = dict(sorted(cost.items()))
    out.gross_by_org = dict(sorted(gross_by_org.items()))
    out.subsidy_by_program = {p.id: spent.get(p.id, 0) for p in programs}
    out.revenue_by_supplier = dict(sorted(revenue.items()))
    out.device_hours_by_chip = dict(sorted(hours.items()))
    out.capped_orgs = {
        p: sorted(o for (o, q), v in spent_by_org.items() if q == p and v >= caps[p]) for p in caps
    }
    out.billed = True
    return out
