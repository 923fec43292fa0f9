"""The persisted ledger on SQLite and PostgreSQL: balanced, idempotent, cached balances equal
the sums, metering from real usage sample rows, and the migration round trip."""

from __future__ import annotations

from billing_builders import OP, T0, Books, check_books, city, district
from sqlalchemy import func, select, update

from huangpu.control.metering import Metering
from huangpu.ledger import (
    Cause,
    CauseKind,
    external,
    tenant_cash,
    transfer,
)
from huangpu.store import budget_repo, ledger_repo
from huangpu.store.db import Database, downgrade, upgrade
from huangpu.store.ledger_models import (
    LedgerPostingRow,
    LedgerTransactionRow,
)
from huangpu.store.models import UsageSampleRow

TOPUP = Cause(CauseKind.OPERATOR, OP, org=None)


def test_posting_twice_is_a_no_op_and_balances_equal_sums(books: Books) -> None:
    tx = transfer("topup:acme:1", external("bank"), tenant_cash(books.org), 50_000, TOPUP, T0)
    with books.db.write() as s:
        assert ledger_repo.post(s, [tx], T0) == [tx]
    with books.db.write() as s:
        assert ledger_repo.post(s, [tx, tx], T0) == []
        assert ledger_repo.balance(s, tenant_cash(books.org)) == 50_000
    with books.db.read() as s:
        assert s.scalar(select(func.count()).select_from(LedgerPostingRow)) == 2
    check_books(books.db)


def test_same_key_with_other_postings_is_refused_and_posts_nothing(books: Books) -> None:
    import pytest

    from huangpu.core.errors import Conflict

    first = transfer("topup:acme:1", external("bank"), tenant_cash(books.org), 100, TOPUP, T0)
    other = transfer("topup:acme:1", external("bank"), tenant_cash(books.org), 999, TOPUP, T0)
    fresh = transfer("topup:acme:2", external("bank"), tenant_cash(books.org), 5, TOPUP, T0)
    with books.db.write() as s:
        ledger_repo.post(s, [first], T0)
    with pytest.raises(Conflict), books.db.write() as s:
        ledger_repo.post(s, [fresh, other], T0)
    with books.db.read() as s:
        assert ledger_repo.balance(s, tenant_cash(books.org)) == 100


def test_worked_example_through_metering_from_sample_rows(books: Books) -> None:
    """910B, 8 cards, 10.5 h at 3.00 CNY/card-hour, city 30 % + district 20 %, by hand:
    gross = 8 × 10.5 × 300 = 25,200 fen; city 7,560; district 5,040; cash 12,600."""
    books.price(300)
    books.program(city())
    books.program(district())
    job = books.job()
    books.samples(job, T0, T0 + 10.5 * 3600, step=5.0)  # 7,560 samples of 5 s
    metering = Metering(books.db, books.clock, batch=7)
    report = metering.run_once()
    assert (report.samples, report.lines) == (7560, 1)
    with books.db.read() as s:
        [tx] = ledger_repo.transactions(s, LedgerTransactionRow.cause_kind == "usage")
    assert tx.key == f"charge:{job}:1:{T0!r}:{T0 + 10.5 * 3600!r}"
    assert sorted((p.account, p.amount_fen) for p in tx.postings) == sorted(
        [
            (f"tenant_cash:{books.org}", -12_600),
            ("program_budget:sh-city", -7_560),
            ("program_budget:xuhui", -5_040),
            (f"supplier_payable:{books.supplier}", 25_200),
        ]
    )
    assert tx.cause.device_seconds == 8 * 37_800 and tx.cause.job_id == job
    check_books(books.db)


def test_rerunning_metering_over_the_same_window_is_a_no_op(books: Books) -> None:
    books.price(300)
    books.program(city())
    job = books.job()
    books.samples(job, T0, T0 + 3600, step=60.0)
    metering = Metering(books.db, books.clock)
    assert metering.run_once().lines == 1
    with books.db.read() as s:
        before = ledger_repo.balances(s)
    assert metering.run_once().lines == 0  # samples are marked: nothing is due
    # Even forced over the same samples (marks lost), the same key posts nothing.
    with books.db.write() as s:
        s.execute(update(UsageSampleRow).values(charge_key=None))
    again = metering.meter([(job, 1)])
    assert again.lines == 1
    with books.db.read() as s:
        assert ledger_repo.balances(s) == before
        assert s.scalar(select(func.count()).select_from(LedgerTransactionRow)) == 2  # + funding
    check_books(books.db)


def test_late_and_duplicate_samples_are_charged_once(books: Books) -> None:
    books.price(360)  # 1 fen per card-second... per 10 s: 360 fen/h = 0.1 fen/s
    job = books.job(devices=1)
    books.samples(job, T0, T0 + 3600, step=600.0, devices=1)
    metering = Metering(books.db, books.clock)
    metering.run_once()
    books.samples(job, T0 + 3600, T0 + 7200, step=600.0, devices=1)  # arrives late
    books.end(job)
    metering.run_once()
    metering.run_once()
    with books.db.read() as s:
        assert ledger_repo.balance(s, tenant_cash(books.org)) == -720  # 2 card-hours, once
        assert s.scalar(select(func.count()).where(UsageSampleRow.charge_key.is_(None))) == 0
    check_books(books.db)


def test_usage_is_split_at_the_month_end(books: Books) -> None:
    from billing_builders import at

    books.price(3600)  # 1 fen per card-second
    job = books.job(devices=1)
    books.samples(job, at("2026-11-30 23:00"), at("2026-12-01 01:00"), step=1800.0, devices=1)
    Metering(books.db, books.clock).run_once()
    with books.db.read() as s:
        assert budget_repo.month_spend(s, books.org, "2026-11") == (3600, 3600)
        assert budget_repo.month_spend(s, books.org, "2026-12") == (3600, 3600)


def test_budget_alerts_fire_once_at_50_80_100_then_admission_stops(books: Books) -> None:
    from huangpu.control import admission

    books.price(3600)  # 1 fen per card-second
    with books.db.write() as s:
        budget_repo.set_budget(s, books.org, 10_000, True, T0, OP)
    metering = Metering(books.db, books.clock)
    job = books.job(devices=1)
    t = T0
    for seconds, fired in ((5000, [50]), (3000, [50, 80]), (1999, [50, 80]), (1, [50, 80, 100])):
        books.samples(job, t, t + seconds, step=seconds, devices=1)
        t += seconds
        metering.run_once()
        with books.db.read() as s:
            assert [a.threshold_pct for a in budget_repo.alerts(s, books.org)] == fired
            why = admission.stop_reason(s, books.org, t)
        assert (why is not None) == (fired[-1] == 100)
    assert why is not None and why.startswith("BUDGET_EXHAUSTED: monthly budget ¥100.00")
    assert "huangpu budgets set" in why
    check_books(books.db)


def test_migration_downgrades_and_upgrades_cleanly(db: Database) -> None:
    downgrade(db, "0001")
    upgrade(db)
    downgrade(db, "base")
    upgrade(db)
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(LedgerTransactionRow)) == 0
