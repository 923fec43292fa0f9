"""100 metering workers race for one voucher program with budget for exactly 37 charges.

Each worker meters its own job in its own database session and transaction, as parallel
metering passes would. The program row lock (FOR UPDATE on PostgreSQL; SQLite's single writer)
makes the read of what is left and the posting of the subsidy one step: exactly 37 charges
get the subsidy, the other 63 are paid in cash, and the budget ends at exactly zero.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from billing_builders import T0, Books, check_books, city
from sqlalchemy import func, select

from huangpu.control.metering import Metering
from huangpu.store import ledger_repo
from huangpu.store.ledger_models import LedgerPostingRow, VoucherProgramRow

WORKERS = 100
FUNDED = 37
SUBSIDY = 300  # 30 % of a 1,000 fen charge: 1,000 card-seconds at 36.00 CNY/card-hour


def test_exactly_37_of_100_parallel_charges_get_the_subsidy(books: Books) -> None:
    books.price(3600)
    books.program(city(budget=FUNDED * SUBSIDY, cap=1_000_000))
    jobs = [books.job(devices=1) for _ in range(WORKERS)]
    for job in jobs:
        books.samples(job, T0, T0 + 1000, step=1000.0, devices=1)
    start = threading.Barrier(WORKERS)

    def worker(job: str) -> int:
        metering = Metering(books.db, books.clock)
        start.wait(timeout=60)
        return metering.meter([(job, 1)]).lines

    with ThreadPoolExecutor(WORKERS) as pool:
        lines = list(pool.map(worker, jobs, timeout=240))
    assert lines == [1] * WORKERS

    with books.db.read() as s:
        subsidised = s.scalar(
            select(func.count()).where(
                LedgerPostingRow.account == "program_budget:sh-city",
                LedgerPostingRow.tx_key.startswith("charge:"),
            )
        )
        cash = {
            key: -amount
            for key, amount in s.execute(
                select(LedgerPostingRow.tx_key, LedgerPostingRow.amount_fen).where(
                    LedgerPostingRow.account == f"tenant_cash:{books.org}"
                )
            )
        }
        program = s.get(VoucherProgramRow, "sh-city")
        assert program is not None
        assert ledger_repo.balance(s, "program_budget:sh-city") == 0
        assert program.spent_fen == FUNDED * SUBSIDY
    assert subsidised == FUNDED
    assert sorted(cash.values()) == [700] * FUNDED + [1000] * (WORKERS - FUNDED)
    check_books(books.db)
