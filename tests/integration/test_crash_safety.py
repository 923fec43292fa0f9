"""Crash safety under load (issue 9, item 4): SIGKILL the server five times while submitters,
two agents running real jobs, and metering are all busy, then audit the books.

After everything settles:
- every job the API acknowledged (HTTP 201) exists and reached a terminal state;
- no job completes twice: at most one terminal move per job, one exit per attempt;
- every usage sample is charged exactly once after a final metering pass, every charge
  transaction charges at least one sample, and its device-seconds are its samples' sum;
- the ledger sums to zero and every program budget matches its postings (consistency.check).

Runs on SQLite and on a fresh PostgreSQL database (``--db`` picks). The kill moments come from
a seeded RNG, so a failure can be replayed with the same seed (HUANGPU_CRASH_SEED).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from fractions import Fraction
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from huangpu.cli.demo_ledger import inventory_chip
from huangpu.control import consistency
from huangpu.control.metering import Metering
from huangpu.core.clock import SystemClock
from huangpu.core.states import LEASED, TERMINAL
from huangpu.ledger import seed_prices
from huangpu.store.db import connect
from huangpu.store.ledger_models import LedgerTransactionRow
from huangpu.store.models import JobEventRow, JobRow, UsageSampleRow
from huangpu.testing.builders import job_spec
from huangpu.testing.processes import Platform

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SEED = int(os.environ.get("HUANGPU_CRASH_SEED", "20261125"))
KILLS = 5
SUBMITTERS = 4
SUBMIT_GAP_S = 0.25  # per submitter: ~16 jobs/s in all, well within two agents' capacity
SETTLE_TIMEOUT_S = 120.0
ENV = {
    # Leases outlive a server restart, so a kill does not by itself requeue running jobs.
    "HUANGPU_LEASE_SECONDS": "10",
    "HUANGPU_POLL_TIMEOUT_SECONDS": "1",
    "HUANGPU_SCHEDULER_INTERVAL_SECONDS": "0.2",
    "HUANGPU_METERING_INTERVAL_SECONDS": "1",
}
PROGRAM = {
    "id": "crash-city",
    "name": "crash test city vouchers",
    "funder": "city",
    "rate_bp_domestic": 3000,
    "rate_bp_other": 2000,
    "program_budget_fen": 10_000_000,
    "per_tenant_cap_fen": 1_000_000,
    "stack_group": "city",
    "stack_ceiling_bp": 10_000,
    "eligible_categories": ["startup"],
}
TERMINAL_NAMES = {s.value for s in TERMINAL}
LEASED_NAMES = {s.value for s in LEASED}


class Submitter(threading.Thread):
    """Submits jobs until told to stop; records every id acknowledged with a 201.

    A transport error (the server died mid-request) is retried with a new job: the lost
    request may or may not have been stored, but it was never acknowledged.
    """

    def __init__(self, index: int, url: str, token: str, stop: threading.Event) -> None:
        super().__init__(name=f"submitter-{index}", daemon=True)
        self.index, self.url, self.token, self.stop_event = index, url, token, stop
        self.acked: list[str] = []
        self.transport_errors = 0
        self.unexpected: list[str] = []

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.url, timeout=10.0, trust_env=False) as http:
            n = 0
            while not self.stop_event.is_set():
                n += 1
                name = f"s{self.index}-{n}"
                batch = n % 4 == 0  # every fourth request is a batch of three
                try:
                    if batch:
                        specs = [self._spec(f"{name}-{i}", n + i) for i in range(3)]
                        resp = http.post("/v1/jobs:batch", json={"jobs": specs}, headers=headers)
                    else:
                        resp = http.post(
                            "/v1/jobs", json={"spec": self._spec(name, n)}, headers=headers
                        )
                except httpx.TransportError:
                    self.transport_errors += 1
                    time.sleep(0.05)
                    continue
                if resp.status_code == 201:
                    body = resp.json()
                    self.acked += [j["id"] for j in body["jobs"]] if batch else [body["id"]]
                elif resp.status_code in (429, 503):
                    time.sleep(0.1)
                else:
                    self.unexpected.append(f"HTTP {resp.status_code}: {resp.text[:300]}")
                self.stop_event.wait(SUBMIT_GAP_S)

    def _spec(self, name: str, n: int) -> dict[str, Any]:
        chip = "a100" if n % 2 else "910b"
        return job_spec(name, "sleep 0.5; echo ok", chips=[chip])


def _setup_ledger(plat: Platform, org: str) -> None:
    seeded = seed_prices()
    for name, handle in plat.pools.items():
        chip = inventory_chip(handle.chip)
        plat.api.post("/v1/prices", {"pool": name, "chip": chip, "fen_per_hour": seeded[chip]})
    plat.api.post(
        f"/v1/orgs/{org}/topups",
        {"amount_fen": 5_000_000, "idempotency_key": "crash-opening", "note": "opening"},
    )
    plat.api.post("/v1/vouchers/programs", PROGRAM)
    plat.api.post("/v1/vouchers/grants", {"program": PROGRAM["id"], "org": org})


def _wait_terminal(db_url: str, ids: set[str], timeout: float) -> dict[str, str]:
    db = connect(db_url, migrate=False)
    try:
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while True:
            with db.read() as s:
                states = {i: st for i, st in s.execute(select(JobRow.id, JobRow.state))}
            pending = {i for i in ids if states.get(i) not in TERMINAL_NAMES}
            if not pending or time.monotonic() > deadline:
                return states
            time.sleep(0.5)
    finally:
        db.dispose()


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_sigkill_server_under_load_loses_and_doubles_nothing(database_url: str) -> None:
    rng = random.Random(SEED)
    plat = Platform(database_url=database_url, env=ENV)
    stop = threading.Event()
    submitters: list[Submitter] = []
    try:
        plat.start()
        token = plat.add_org("crash-org", "startup")
        plat.add_pool("crash-a100", "crash-supplier-a", "a100", 8)
        plat.add_pool("crash-910b", "crash-supplier-b", "910b", 16)
        _setup_ledger(plat, "crash-org")

        submitters = [Submitter(i, plat.url, token, stop) for i in range(SUBMITTERS)]
        for sub in submitters:
            sub.start()
        kills: list[float] = []
        for _ in range(KILLS):
            time.sleep(rng.uniform(1.0, 4.0))
            plat.server.kill()  # SIGKILL, by PID
            kills.append(time.monotonic())
            time.sleep(rng.uniform(0.0, 0.5))
            plat.server.start()  # same home, database and port
        time.sleep(rng.uniform(1.0, 2.0))
        stop.set()
        for sub in submitters:
            sub.join(timeout=15)

        acked = [i for sub in submitters for i in sub.acked]
        unexpected = [u for sub in submitters for u in sub.unexpected]
        assert not unexpected, unexpected[:5]
        assert len(acked) >= 50, f"too little load to mean anything: {len(acked)} acked"
        assert len(set(acked)) == len(acked), "the API acknowledged one job id twice"

        states = _wait_terminal(database_url, set(acked), SETTLE_TIMEOUT_S)
        missing = [i for i in acked if i not in states]
        assert not missing, f"{len(missing)} acknowledged job(s) lost, e.g. {missing[:5]}"
        stuck = {i: states[i] for i in acked if states[i] not in TERMINAL_NAMES}
        assert not stuck, (
            f"{len(stuck)} acknowledged job(s) not terminal: {list(stuck.items())[:5]}"
        )
        failed = {i: states[i] for i in acked if states[i] != "SUCCEEDED"}
        # A lease can expire across a restart and the job run again; it must still succeed.
        assert not failed, f"jobs that did not succeed: {list(failed.items())[:5]}"

        # Quiesce: agents first (their outboxes are flushed by now), then the scheduler, so the
        # final metering pass below is the only writer.
        for handle in plat.pools.values():
            handle.agent.stop()
        plat.scheduler.stop()
        _audit(database_url)
    except BaseException:
        stop.set()
        tails = "\n".join(f"--- {k}\n{v}" for k, v in plat.log_tails(6000).items())
        print(f"seed {SEED}; process logs:\n{tails}")
        raise
    finally:
        stop.set()
        for sub in submitters:
            sub.join(timeout=15)
        plat.stop()


def _audit(database_url: str) -> None:
    db = connect(database_url, migrate=False)
    try:
        Metering(db, SystemClock()).run_once()  # the final pass
        again = Metering(db, SystemClock()).run_once()
        assert again.lines == 0 and again.postings == 0, f"a rerun charged again: {again}"
        with db.read() as s:
            events = s.execute(
                select(JobEventRow.job_id, JobEventRow.attempt, JobEventRow.from_state)
                .add_columns(JobEventRow.to_state)
                .order_by(JobEventRow.id)
            ).all()
            samples = s.execute(
                select(
                    UsageSampleRow.id,
                    UsageSampleRow.job_id,
                    UsageSampleRow.attempt,
                    UsageSampleRow.device_seconds,
                    UsageSampleRow.charge_key,
                )
            ).all()
            charges = s.execute(
                select(LedgerTransactionRow.key, LedgerTransactionRow.device_seconds).where(
                    LedgerTransactionRow.key.like("charge:%")
                )
            ).all()
        # No job completes twice; no attempt exits twice.
        terminal_moves = Counter(j for j, _, _, to in events if to in TERMINAL_NAMES)
        twice = {j: n for j, n in terminal_moves.items() if n > 1}
        assert not twice, f"jobs that reached a terminal state more than once: {twice}"
        exits = Counter(
            (j, a) for j, a, frm, to in events if frm in LEASED_NAMES and to not in LEASED_NAMES
        )
        double_exits = {k: n for k, n in exits.items() if n > 1}
        assert not double_exits, f"attempts that exited more than once: {double_exits}"

        # Usage: every sample charged exactly once, by a charge that exists and is its own.
        assert samples, "no usage samples were reported at all"
        uncharged = [r.id for r in samples if r.charge_key is None]
        assert not uncharged, f"{len(uncharged)} usage sample(s) never billed"
        keys = {k for k, _ in charges}
        by_key: dict[str, Fraction] = {}
        for r in samples:
            assert r.charge_key in keys, f"sample {r.id} charged by a missing tx {r.charge_key}"
            assert r.charge_key.startswith(f"charge:{r.job_id}:{r.attempt}:"), (r.id, r.charge_key)
            by_key[r.charge_key] = by_key.get(r.charge_key, Fraction(0)) + Fraction(
                r.device_seconds
            )
        orphans = keys - set(by_key)
        assert not orphans, f"charges with no sample behind them (double billing?): {orphans}"
        for key, device_seconds in charges:
            # Each line rounds its exact sum of sample device-seconds half-up to whole seconds.
            assert abs(Fraction(device_seconds) - by_key[key]) <= Fraction(1, 2), (
                key,
                device_seconds,
                float(by_key[key]),
            )
        total_samples = sum(by_key.values(), Fraction(0))
        total_charged = sum(int(d) for _, d in charges)
        assert abs(total_charged - total_samples) <= Fraction(len(charges), 2)

        report = consistency.check(db)
        assert report.ok, report.problems
        assert report.counts["transactions"] > len(charges) > 0, report.counts
    finally:
        db.dispose()
