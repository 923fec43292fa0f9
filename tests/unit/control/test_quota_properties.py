"""Property at the control level: whatever the sequence of submits, cycles, preemptions and
job ends, no org holds more than nominal + borrowing limit of a family, and no device is held
by two jobs. Snapshots are built by control's ``build_snapshot`` from a SchedulingContext, as
the live loop builds them; placements and preemptions are applied as the store would."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from huangpu.control.sched_context import chip_ncu
from huangpu.control.snapshots import RunningView, SchedulingContext, build_snapshot
from huangpu.core.catalog import load_catalog
from huangpu.core.jobspec import jobspec_from_dict
from huangpu.scheduling import run_cycle
from huangpu.store.inventory import DeviceView
from huangpu.store.quota_repo import QuotaEntry

ORGS = ("o0", "o1", "o2")
FAMILIES = ("nvidia", "ascend")
DEVICES = [
    DeviceView(pool, pool, "sh", "ag", f"{pool}-n{n}", f"{pool}-n{n}", "sw",
               f"{pool}-n{n}-{i}", i, chip, 64.0, False)
    for pool, chip in (("pa", "a100"), ("pb", "910b2"))
    for n in range(2)
    for i in range(4)
]  # fmt: skip
CHIP = {d.device_id: d.chip for d in DEVICES}

quota = st.tuples(
    st.sampled_from([0.0, 1.0, 2.0, 4.0]),
    st.sampled_from([0.0, 2.0, None]),
    st.sampled_from([0.0, 2.0, None]),
)
action = st.one_of(
    st.tuples(st.just("submit"), st.sampled_from(ORGS), st.integers(1, 4), st.integers(0, 2)),
    st.tuples(st.just("cycle")),
    st.tuples(st.just("finish"), st.integers(0, 50)),
)


@settings(max_examples=40, deadline=None)
@given(
    quotas=st.fixed_dictionaries({(o, f): quota for o in ORGS for f in FAMILIES}),
    cohorts=st.fixed_dictionaries({o: st.sampled_from(["c1", "c1", None]) for o in ORGS}),
    actions=st.lists(action, min_size=1, max_size=25),
)
def test_no_org_exceeds_quota_plus_borrowing_and_no_device_is_held_twice(
    quotas: dict[tuple[str, str], tuple[float, float | None, float | None]],
    cohorts: dict[str, str | None],
    actions: list[tuple[object, ...]],
) -> None:
    entries = {
        k: QuotaEntry(n, b, min(n, lend) if lend is not None else None)
        for k, (n, b, lend) in quotas.items()
    }
    ncu, catalog = chip_ncu(), load_catalog()
    now, seq = 1000.0, 0
    pending: dict[str, tuple[str, int, int]] = {}  # job -> (org, accelerators, priority)
    running: dict[str, tuple[str, int, float, list[str]]] = {}  # job -> org, prio, start, devs
    for act in actions:
        if act[0] == "submit":
            seq += 1
            pending[f"j{seq}"] = (str(act[1]), int(act[2]), int(act[3]))  # type: ignore[call-overload]
            continue
        if act[0] == "finish":
            if running:
                del running[sorted(running)[int(act[1]) % len(running)]]  # type: ignore[call-overload]
            continue
        now += 400.0  # past the preemption thrash guard
        held = {d for *_, devs in running.values() for d in devs}
        devices = [replace(d, allocated=d.device_id in held) for d in DEVICES]
        orgs = list(ORGS)
        ctx = SchedulingContext(
            orgs=tuple(orgs),
            running=[
                RunningView(j, o, p, s, float("inf"), True, tuple(devs))
                for j, (o, p, s, devs) in sorted(running.items())
            ],
            quotas=entries,
            cohorts={o: c for o, c in cohorts.items() if c},
        )
        queue = [
            (j, jobspec_from_dict({"name": "x", "command": "c", "priority": p,
                                   "resources": {"accelerators": a, "chips": ["any"]}}),
             orgs.index(o), float(i))
            for i, (j, (o, a, p)) in enumerate(sorted(pending.items()))
        ]  # fmt: skip
        snapshot, index = build_snapshot(devices, queue, now, context=ctx)
        result = run_cycle(snapshot, "cost-aware")
        for p in result.preemptions:  # the victim checkpoints and is requeued
            org, prio, _, devs = running.pop(p.job_key)
            pending[p.job_key] = (org, len(devs), prio)
        for placement in result.placements:
            devs = [index.device_ids[d] for d in placement.devices]
            in_use = {d for *_, ds in running.values() for d in ds}
            assert not in_use & set(devs), "a device was given twice"
            org, _, prio = pending.pop(placement.job_key)
            running[placement.job_key] = (org, prio, now, devs)
        for o in ORGS:
            for f in FAMILIES:
                used = sum(
                    ncu[CHIP[d]]
                    for org, _, _, devs in running.values()
                    if org == o
                    for d in devs
                    if catalog.models[CHIP[d]].family == f
                )
                q = entries[(o, f)]
                limit = q.nominal + (q.borrow_limit if q.borrow_limit is not None else 1e9)
                if not cohorts[o]:
                    limit = q.nominal
                assert used <= limit + 1e-6, (o, f, used, limit)
