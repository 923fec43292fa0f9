"""Metering: usage samples → rated charge lines → postings, idempotently.

Each pass takes the job attempts that have uncharged samples (``usage_samples.charge_key`` is
NULL), or that ended with their cursor still open, and, per batch of attempts, in ONE write
transaction:

1. locks their metering cursors, then the voucher programs their orgs hold grants of (FOR
   UPDATE on PostgreSQL, in id order; SQLite's writer already holds the database lock), so
   no other metering pass can spend the same budget or charge the same samples meanwhile;
2. reads the uncharged samples (late ones included: they become a later line of their own),
   cuts them at month starts, grant dates, price and fee changes (``usage_split``);
3. rates each piece with ``ledger.rate_charge`` against the spends read under the lock (and
   updated in memory line by line), and builds ``ledger.charge_transaction`` under the key
   ``charge:<job>:<attempt>:<window start>:<window end>``;
4. posts them (``ledger_repo.post``: a repeated key is a no-op), marks each sample with the key
   that charged it, moves the cursor, and fires budget alerts.

Rerunning a pass over the same samples posts nothing: they are marked, and their keys exist.
A serialization failure or deadlock (PostgreSQL) or a busy database (SQLite) is retried.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from sqlalchemy import and_, bindparam, or_, select, true, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from huangpu.control.usage_split import Sample, month_starts, split
from huangpu.core.clock import Clock
from huangpu.core.errors import HuangpuError
from huangpu.core.states import TERMINAL, JobState
from huangpu.ledger import (
    PriceList,
    Transaction,
    UsageLine,
    VoucherGrant,
    VoucherProgram,
    charge_transaction,
    month_of,
    rate_charge,
)
from huangpu.store import budget_repo, ledger_repo, pricing_repo, voucher_repo
from huangpu.store.db import Database
from huangpu.store.inventory import job_devices
from huangpu.store.ledger_models import MeteringCursorRow, table_of
from huangpu.store.models import DeviceRow, JobRow, OrgRow, PoolRow, UsageSampleRow

log = logging.getLogger(__name__)
T = TypeVar("T")
BATCH = 200  # job attempts per write transaction: short lock holds, few round trips
RETRIES = 8
MONTH_END_NUDGE = 0.001
_RETRY_PGCODES = {"40001", "40P01", "55P03"}  # serialization, deadlock, lock not available


def charge_key(job_id: str, attempt: int, start: float, end: float) -> str:
    return f"charge:{job_id}:{attempt}:{start!r}:{end!r}"


def _retryable(error: DBAPIError) -> bool:
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return code in _RETRY_PGCODES or "database is locked" in str(error.orig)


def with_retry(db: Database, work: Callable[[Session], T]) -> T:
    """Run ``work`` in one write transaction, retrying it whole on a retryable failure."""
    for attempt in range(RETRIES):
        try:
            with db.write() as session:
                return work(session)
        except DBAPIError as error:
            if not _retryable(error) or attempt == RETRIES - 1:
                raise
            time.sleep(0.01 * 2**attempt)
    raise AssertionError("unreachable")


def open_cursor(
    session: Session, job_id: str, attempt: int, pool_id: str, device_ids: Sequence[str]
) -> None:
    """Record what a placed attempt runs on; its allocations are deleted when it ends."""
    chips = sorted(set(session.scalars(select(DeviceRow.chip).where(DeviceRow.id.in_(device_ids)))))
    job = session.get(JobRow, job_id)
    pool = session.get(PoolRow, pool_id)
    if not chips or job is None or pool is None:
        return
    if len(chips) > 1:
        log.warning(
            "job %s attempt %d spans chips %s; billing as %s", job_id, attempt, chips, chips[0]
        )
    session.merge(
        MeteringCursorRow(
            job_id=job_id,
            attempt=attempt,
            org_id=job.org_id,
            supplier_id=pool.supplier_id,
            pool_id=pool_id,
            chip=chips[0],
            devices=len(device_ids),
            charged_until=None,
            closed=False,
        )
    )


@dataclass
class MeterReport:
    attempts: int = 0
    samples: int = 0
    lines: int = 0
    postings: int = 0
    failed: int = 0

    def add(self, other: MeterReport) -> None:
        for name in ("attempts", "samples", "lines", "postings", "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


class Metering:
    def __init__(self, db: Database, clock: Clock, batch: int = BATCH) -> None:
        self.db = db
        self.clock = clock
        self.batch = batch

    # --- which attempts --------------------------------------------------------------------
    def due(self, ended_only: bool = False) -> list[tuple[str, int]]:
        """Attempts with uncharged samples (unless ``ended_only``), and ended open ones."""
        ended = (
            select(MeteringCursorRow.job_id, MeteringCursorRow.attempt)
            .join(JobRow, JobRow.id == MeteringCursorRow.job_id)
            .where(
                MeteringCursorRow.closed.is_(False),
                # One that failed (say, no price yet) waits for the periodic pass, not every cycle.
                MeteringCursorRow.error.is_(None) if ended_only else true(),
                or_(
                    JobRow.state.in_([s.value for s in TERMINAL]),
                    JobRow.attempt != MeteringCursorRow.attempt,
                ),
            )
        )
        with self.db.read() as session:
            found = {(j, int(a)) for j, a in session.execute(ended)}
            if not ended_only:
                open_samples = select(UsageSampleRow.job_id, UsageSampleRow.attempt).where(
                    UsageSampleRow.charge_key.is_(None)
                )
                found |= {(j, int(a)) for j, a in session.execute(open_samples.distinct())}
        return sorted(found)

    def run_once(self, ended_only: bool = False) -> MeterReport:
        """One pass; ``ended_only`` closes just the attempts that ended (cheap, every cycle)."""
        return self.meter(self.due(ended_only))

    def meter(self, attempts: Sequence[tuple[str, int]]) -> MeterReport:
        report = MeterReport()
        for i in range(0, len(attempts), self.batch):
            chunk = attempts[i : i + self.batch]
            report.add(with_retry(self.db, lambda s, c=chunk: self._meter_batch(s, c)))  # type: ignore[misc]
        return report

    # --- one batch, one transaction --------------------------------------------------------
    def _meter_batch(self, session: Session, attempts: Sequence[tuple[str, int]]) -> MeterReport:
        now = self.clock.now()
        report = MeterReport(attempts=len(attempts))
        cursors = self._cursors(session, attempts)
        if not cursors:
            return report
        job_ids = sorted({c.job_id for c in cursors})
        jobs = {r.id: r for r in session.scalars(select(JobRow).where(JobRow.id.in_(job_ids)))}
        org_ids = sorted({c.org_id for c in cursors})
        category: dict[str, str] = {
            i: c
            for i, c in session.execute(
                select(OrgRow.id, OrgRow.category).where(OrgRow.id.in_(org_ids))
            )
        }
        grants = voucher_repo.grants(session, org_ids)
        locked = voucher_repo.lock_programs(session, [g.program_id for g in grants])
        programs = [voucher_repo.to_program(r) for r in locked.values()]
        spent = {pid: int(r.spent_fen) for pid, r in locked.items()}
        tenant_spent = voucher_repo.tenant_spend(session, org_ids)
        prices = pricing_repo.price_list(session, sorted({c.pool_id for c in cursors}))
        fees = pricing_repo.fees(session)
        samples = self._samples(session, attempts)

        txs: list[Transaction] = []
        marks: list[dict[str, object]] = []
        months: set[tuple[str, str]] = set()
        for cursor in cursors:
            mine = samples.get((cursor.job_id, cursor.attempt), [])
            job = jobs[cursor.job_id]
            try:
                built = self._charge(
                    cursor,
                    job,
                    category.get(cursor.org_id, "company"),
                    mine,
                    prices,
                    fees,
                    grants,
                    programs,
                    spent,
                    tenant_spent,
                )
            except HuangpuError as error:  # e.g. no price: leave the samples for a later pass
                cursor.error = f"{error.code}: {error.message}"
                report.failed += 1
                log.warning("metering %s/%d: %s", cursor.job_id, cursor.attempt, error.message)
                continue
            for tx, ids in built:
                txs.append(tx)
                marks += [{"b_id": i, "b_key": tx.key} for i in ids]
                months.add((cursor.org_id, month_of(tx.at)))
                report.lines += 1
                report.postings += len(tx.postings)
            report.samples += len(mine)
            cursor.error = None
            if mine:
                cursor.charged_until = max(cursor.charged_until or 0.0, max(s.end for s in mine))
            ended = JobState(job.state) in TERMINAL or job.attempt != cursor.attempt
            cursor.closed = ended
        ledger_repo.post(session, txs, now)
        if marks:
            samples_table = table_of(UsageSampleRow)
            session.execute(
                update(samples_table)
                .where(samples_table.c.id == bindparam("b_id"))
                .values(charge_key=bindparam("b_key")),
                marks,
            )
        for org_id, month in sorted(months):
            budget_repo.fire_alerts(session, org_id, month, now)
        return report

    def _charge(
        self,
        cursor: MeteringCursorRow,
        job: JobRow,
        org_category: str,
        samples: list[Sample],
        prices: PriceList,
        fees: list[tuple[float, int]],
        grants: list[VoucherGrant],
        programs: list[VoucherProgram],
        spent: dict[str, int],
        tenant_spent: dict[tuple[str, str], int],
    ) -> list[tuple[Transaction, list[int]]]:
        if not samples:
            return []
        lo = min(s.start for s in samples)
        hi = max(s.end for s in samples)
        mine = [g for g in grants if g.org == cursor.org_id]
        month_cuts = set(month_starts(lo, hi))
        cuts = [
            *month_cuts,
            *(t for g in mine for t in (g.granted_at, g.expires_at)),
            *prices.changes_between(cursor.pool_id, cursor.chip, lo, hi),
            *(t for t, _ in fees),
        ]
        out: list[tuple[Transaction, list[int]]] = []
        for piece in split(samples, cuts):
            usage = UsageLine(
                job_id=cursor.job_id,
                org=cursor.org_id,
                org_category=org_category,
                supplier=cursor.supplier_id,
                pool=cursor.pool_id,
                chip=cursor.chip,
                job_kind=job.kind,
                device_seconds=piece.device_seconds,
                start=piece.start,
                end=piece.end,
            )
            price = prices.price_at(cursor.pool_id, cursor.chip, piece.start)
            rated = rate_charge(
                usage,
                price,
                programs,
                mine,
                spent,
                tenant_spent,
                pricing_repo.fee_at(fees, piece.start),
            )
            for subsidy in rated.subsidies:  # later lines of this batch see what this one drew
                spent[subsidy.program_id] = spent.get(subsidy.program_id, 0) + subsidy.amount_fen
                drawn = (cursor.org_id, subsidy.program_id)
                tenant_spent[drawn] = tenant_spent.get(drawn, 0) + subsidy.amount_fen
            key = charge_key(cursor.job_id, cursor.attempt, piece.start, piece.end)
            tx = charge_transaction(rated, key)
            if piece.end in month_cuts:
                # A charge belongs to the month holding its ``at`` (the window's end); a line
                # cut at midnight on the 1st belongs to the month it covers, the one before.
                # 1 ms, not the next float down: datetime rounds to microseconds.
                tx = replace(tx, at=piece.end - MONTH_END_NUDGE)
            out.append((tx, piece.sample_ids))
        return out

    def _cursors(
        self, session: Session, attempts: Sequence[tuple[str, int]]
    ) -> list[MeteringCursorRow]:
        wanted = set(attempts)
        job_ids = sorted({j for j, _ in attempts})
        rows = session.scalars(
            select(MeteringCursorRow)
            .where(MeteringCursorRow.job_id.in_(job_ids))
            .order_by(MeteringCursorRow.job_id, MeteringCursorRow.attempt)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
        found = {(r.job_id, r.attempt): r for r in rows if (r.job_id, r.attempt) in wanted}
        for job_id, attempt in sorted(wanted - set(found)):
            row = self._cursor_from_allocations(session, job_id, attempt)
            if row is not None:
                found[(job_id, attempt)] = row
        return [found[k] for k in sorted(found)]

    @staticmethod
    def _cursor_from_allocations(
        session: Session, job_id: str, attempt: int
    ) -> MeteringCursorRow | None:
        """For attempts placed before the ledger existed: what they hold now, if anything."""
        job = session.get(JobRow, job_id)
        placed = job_devices(session, job_id)
        if job is None or job.pool_id is None or job.attempt != attempt or not placed:
            log.warning("metering %s/%d: no cursor and no devices; samples left", job_id, attempt)
            return None
        ids = session.scalars(
            select(DeviceRow.id)
            .where(DeviceRow.pool_id == job.pool_id, DeviceRow.chip == placed[0][2])
            .limit(1)
        ).all()
        open_cursor(session, job_id, attempt, job.pool_id, list(ids) * len(placed))
        session.flush()
        return session.get(MeteringCursorRow, (job_id, attempt))

    @staticmethod
    def _samples(
        session: Session, attempts: Sequence[tuple[str, int]]
    ) -> dict[tuple[str, int], list[Sample]]:
        t = table_of(UsageSampleRow).c
        wanted = set(attempts)
        out: dict[tuple[str, int], list[Sample]] = {}
        rows = session.execute(
            select(t.id, t.job_id, t.attempt, t.start, t.end, t.device_seconds).where(
                and_(t.job_id.in_(sorted({j for j, _ in attempts})), t.charge_key.is_(None))
            )
        )
        for sid, job_id, attempt, start, end, ds in rows:
            if (job_id, attempt) in wanted:
                out.setdefault((job_id, attempt), []).append(Sample(sid, start, end, ds))
        return out
