"""What operators and tenants do with money: prices, fees, voucher programs and grants,
top-ups and credit lines, bills, settlements, balances and budgets.

Every write is one database transaction; bad input raises ``InvalidInput`` naming the field
before anything is written (the ledger's records validate themselves on construction).
Operator actions are audited: top-ups and fundings as ledger transactions whose cause names
the actor, prices, fees, grants and credit lines as rows that keep who set them and when.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from huangpu.control.job_service import Caller
from huangpu.core.catalog import load_catalog
from huangpu.core.clock import Clock
from huangpu.core.errors import InvalidInput, NotFound
from huangpu.core.money import format_cny
from huangpu.ledger import (
    Cause,
    CauseKind,
    PriceEntry,
    ProgramKind,
    VoucherProgram,
    external,
    month_of,
    month_window,
    quarter_window,
    settlement,
    statement,
    tenant_cash,
    transfer,
)
from huangpu.ledger.validation import check_currency, check_fen
from huangpu.store import budget_repo, ledger_repo, pricing_repo, registry, voucher_repo
from huangpu.store.db import Database
from huangpu.store.ledger_models import LedgerTransactionRow
from huangpu.store.models import JobRow, OrgRow, PoolRow, SupplierRow

BANK = "bank"


def _names(
    session: Session, model: type[OrgRow | SupplierRow | JobRow], ids: set[str]
) -> dict[str, str]:
    if not ids:
        return {}
    rows = session.execute(select(model.id, model.name).where(model.id.in_(sorted(ids))))
    return {i: n for i, n in rows}


class LedgerService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    # --- scoping ----------------------------------------------------------------------------
    @staticmethod
    def _org(session: Session, caller: Caller, ref: str | None) -> OrgRow:
        """Tenants see only their own org: another org's name reads as not found."""
        if caller.org_scope is not None:
            own = session.get(OrgRow, caller.org_scope)
            assert own is not None
            if ref is not None and ref not in (own.id, own.name):
                raise NotFound(f"no org named {ref!r} visible to this token", "org")
            return own
        if not ref:
            raise InvalidInput("say which org (name or id)", "org")
        return registry.org(session, ref)

    # --- prices and fee ---------------------------------------------------------------------
    def set_price(
        self,
        actor: str,
        pool_ref: str,
        chip: str,
        fen_per_hour: int,
        effective_from: float | None,
        currency: str,
    ) -> dict[str, Any]:
        now = self.clock.now()
        chip_id = load_catalog().resolve(chip).id
        with self.db.write() as session:
            pool = registry.pool(session, pool_ref)
            entry = PriceEntry(
                pool.supplier_id,
                pool.id,
                chip_id,
                fen_per_hour,
                now if effective_from is None else effective_from,
                currency,
            )
            row = pricing_repo.add_price(session, entry, now, actor)
            return self._price_view(row, pool.name)

    @staticmethod
    def _price_view(row: Any, pool_name: str) -> dict[str, Any]:
        return {
            "pool_id": row.pool_id,
            "pool": pool_name,
            "supplier_id": row.supplier_id,
            "chip": row.chip,
            "fen_per_hour": int(row.fen_per_hour),
            "cny_per_hour": format_cny(int(row.fen_per_hour)),
            "effective_from": row.effective_from,
            "set_by": row.actor,
        }

    def prices(self) -> list[dict[str, Any]]:
        with self.db.read() as session:
            pools = {i: n for i, n in session.execute(select(PoolRow.id, PoolRow.name))}
            return [
                self._price_view(r, pools.get(r.pool_id, r.pool_id))
                for r in pricing_repo.price_rows(session)
            ]

    def set_fee(self, actor: str, fee_bp: int, effective_from: float | None) -> dict[str, Any]:
        now = self.clock.now()
        with self.db.write() as session:
            pricing_repo.set_fee(
                session, fee_bp, now if effective_from is None else effective_from, now, actor
            )
        return self.fee()

    def fee(self) -> dict[str, Any]:
        now = self.clock.now()
        with self.db.read() as session:
            schedule = pricing_repo.fees(session)
        return {
            "fee_bp": pricing_repo.fee_at(schedule, now),
            "schedule": [{"effective_from": t, "fee_bp": bp} for t, bp in schedule],
        }

    # --- voucher programs -------------------------------------------------------------------
    def create_program(self, actor: str, body: dict[str, Any]) -> dict[str, Any]:
        now = self.clock.now()
        check_currency(body.pop("currency", "CNY"))
        chips = body.get("eligible_chips")
        if chips:
            catalog = load_catalog()
            body["eligible_chips"] = [catalog.resolve(c, "eligible_chips").id for c in chips]
        for name in ("eligible_suppliers", "eligible_chips", "eligible_categories"):
            if body.get(name) is not None:
                body[name] = frozenset(body[name])
        try:
            body["kind"] = ProgramKind(body.get("kind", "compute"))
        except ValueError:
            raise InvalidInput("kind must be compute or model", "kind") from None
        program = VoucherProgram(**body)
        with self.db.write() as session:
            if program.eligible_suppliers:
                program = _with_supplier_ids(session, program)
            voucher_repo.create_program(session, program, now, actor)
        return next(p for p in self.programs() if p["id"] == program.id)

    def programs(self) -> list[dict[str, Any]]:
        with self.db.read() as session:
            rows = voucher_repo.program_rows(session)
            left = ledger_repo.balances(session, "program_budget:")
            counts = voucher_repo.grant_counts(session)
            tops = {r.id: voucher_repo.top_tenants(session, r.id) for r in rows}
            names = _names(session, OrgRow, {o for t in tops.values() for o, _ in t})
            return [
                {
                    "id": r.id,
                    "name": r.name,
                    "funder": r.funder,
                    "kind": r.kind,
                    "rate_bp_domestic": r.rate_bp_domestic,
                    "rate_bp_other": r.rate_bp_other,
                    "stack_group": r.stack_group,
                    "stack_ceiling_bp": r.stack_ceiling_bp,
                    "per_tenant_cap_fen": int(r.per_tenant_cap_fen),
                    "valid_months": r.valid_months,
                    "eligible_suppliers": r.eligible_suppliers,
                    "eligible_chips": r.eligible_chips,
                    "eligible_categories": r.eligible_categories,
                    "budget_fen": int(r.program_budget_fen),
                    "spent_fen": int(r.spent_fen),
                    "left_fen": left.get(f"program_budget:{r.id}", 0),
                    "grants": counts.get(r.id, 0),
                    "top_tenants": [
                        {"org_id": o, "org": names.get(o, o), "spent_fen": s} for o, s in tops[r.id]
                    ],
                }
                for r in rows
            ]

    def grant(
        self, actor: str, program_id: str, org_ref: str, granted_at: float | None
    ) -> dict[str, Any]:
        now = self.clock.now()
        with self.db.write() as session:
            row = voucher_repo.program_row(session, program_id)
            program = voucher_repo.to_program(row)
            org = registry.org(session, org_ref)
            allowed = program.eligible_categories
            if allowed is not None and org.category not in allowed:
                raise InvalidInput(
                    f"program {program.id} is for {', '.join(sorted(allowed))} orgs; "
                    f"{org.name} is a {org.category}",
                    "org_category",
                )
            if row.spent_fen >= row.program_budget_fen:
                raise InvalidInput(
                    f"program {program.id} has spent its budget", "program_budget_fen"
                )
            grant = voucher_repo.add_grant(
                session, program, org.id, now if granted_at is None else granted_at, now, actor
            )
            return {
                "program_id": grant.program_id,
                "org_id": org.id,
                "org": org.name,
                "granted_at": grant.granted_at,
                "expires_at": grant.expires_at,
                "granted_by": actor,
            }

    # --- cash --------------------------------------------------------------------------------
    def topup(
        self, actor: str, org_ref: str, amount_fen: int, currency: str, key: str | None, note: str
    ) -> dict[str, Any]:
        now = self.clock.now()
        check_currency(currency)
        check_fen(amount_fen, "amount_fen", positive=True)
        with self.db.write() as session:
            org = registry.org(session, org_ref)
            cause = Cause(CauseKind.OPERATOR, actor, note=note or "top-up", org=org.id)
            tx = transfer(
                f"topup:{org.id}:{key or uuid.uuid4().hex}",
                external(BANK),
                tenant_cash(org.id),
                amount_fen,
                cause,
                now,
            )
            posted = bool(ledger_repo.post(session, [tx], now))
            return {
                "org_id": org.id,
                "org": org.name,
                "key": tx.key,
                "posted": posted,
                "balance_fen": ledger_repo.balance(session, tenant_cash(org.id)),
            }

    def set_credit(
        self, actor: str, org_ref: str, limit_fen: int, currency: str, note: str
    ) -> dict[str, Any]:
        now = self.clock.now()
        check_currency(currency)
        check_fen(limit_fen, "limit_fen")
        with self.db.write() as session:
            org = registry.org(session, org_ref)
            budget_repo.set_credit_line(session, org.id, limit_fen, now, actor, note)
        return self.balances(Caller("operator", None), org.id)

    # --- reading -----------------------------------------------------------------------------
    def balances(self, caller: Caller, org_ref: str | None) -> dict[str, Any]:
        now = self.clock.now()
        with self.db.read() as session:
            org = self._org(session, caller, org_ref)
            balance, credit = budget_repo.cash_available(session, org.id)
            month = month_of(now)
            gross, cash = budget_repo.month_spend(session, org.id, month)
            spend = voucher_repo.tenant_spend(session, [org.id])
            grants = [
                {
                    "program_id": g.program_id,
                    "granted_at": g.granted_at,
                    "expires_at": g.expires_at,
                    "valid": g.granted_at <= now < g.expires_at,
                    "drawn_fen": spend.get((org.id, g.program_id), 0),
                }
                for g in voucher_repo.grants(session, [org.id])
            ]
            return {
                "org_id": org.id,
                "org": org.name,
                "cash_fen": balance,
                "credit_limit_fen": credit,
                "available_fen": balance + credit,
                "month": month,
                "month_gross_fen": gross,
                "month_cash_fen": cash,
                "grants": grants,
            }

    def bill(self, caller: Caller, org_ref: str | None, month: str) -> dict[str, Any]:
        start, end = month_window(month)
        with self.db.read() as session:
            org = self._org(session, caller, org_ref)
            txs = ledger_repo.transactions(
                session,
                LedgerTransactionRow.org_id == org.id,
                LedgerTransactionRow.cause_kind == CauseKind.USAGE.value,
                LedgerTransactionRow.at >= start,
                LedgerTransactionRow.at < end,
            )
            bill = statement(txs, org.id, month)
            jobs = _names(session, JobRow, {line.job_id for line in bill.lines})
            suppliers = _names(session, SupplierRow, {line.supplier for line in bill.lines})
        return {
            "org_id": org.id,
            "org": org.name,
            "month": month,
            "lines": [
                {
                    "job_id": line.job_id,
                    "job": jobs.get(line.job_id, line.job_id),
                    "chip": line.chip,
                    "supplier_id": line.supplier,
                    "supplier": suppliers.get(line.supplier, line.supplier),
                    "device_seconds": line.device_seconds,
                    "gross_fen": line.gross_fen,
                    "subsidies": [
                        {"program_id": s.program_id, "amount_fen": s.amount_fen}
                        for s in line.subsidies
                    ],
                    "cash_fen": line.cash_fen,
                }
                for line in bill.lines
            ],
            "gross_fen": bill.gross_fen,
            "subsidies": [
                {"program_id": s.program_id, "amount_fen": s.amount_fen} for s in bill.subsidies
            ],
            "subsidy_fen": bill.subsidy_fen,
            "cash_fen": bill.cash_fen,
        }

    def settle(self, quarter: str) -> dict[str, Any]:
        start, end = quarter_window(quarter)
        with self.db.read() as session:
            rows = settlement(ledger_repo.usage_between(session, start, end), quarter)
            names = _names(session, SupplierRow, {r.supplier for r in rows})
        return {
            "quarter": quarter,
            "suppliers": [
                {
                    "supplier_id": r.supplier,
                    "supplier": names.get(r.supplier, r.supplier),
                    "gross_fen": r.gross_fen,
                    "cash_fen": r.cash_fen,
                    "subsidies": [
                        {"program_id": s.program_id, "amount_fen": s.amount_fen}
                        for s in r.subsidies
                    ],
                    "fee_fen": r.fee_fen,
                    "owed_fen": r.owed_fen,
                }
                for r in rows
            ],
        }

    # --- budgets -----------------------------------------------------------------------------
    def set_budget(
        self,
        caller: Caller,
        org_ref: str | None,
        monthly_fen: int,
        hard_stop: bool,
        currency: str,
        actor: str,
    ) -> dict[str, Any]:
        now = self.clock.now()
        check_currency(currency)
        with self.db.write() as session:
            org = self._org(session, caller, org_ref)
            budget_repo.set_budget(session, org.id, monthly_fen, hard_stop, now, actor)
            budget_repo.fire_alerts(session, org.id, month_of(now), now)
        return self.budget(caller, org.id)

    def budget(self, caller: Caller, org_ref: str | None) -> dict[str, Any]:
        now = self.clock.now()
        with self.db.read() as session:
            org = self._org(session, caller, org_ref)
            row = budget_repo.budget(session, org.id)
            month = month_of(now)
            gross, cash = budget_repo.month_spend(session, org.id, month)
            return {
                "org_id": org.id,
                "org": org.name,
                "month": month,
                "monthly_fen": int(row.monthly_fen) if row else None,
                "hard_stop": bool(row.hard_stop) if row else False,
                "spent_fen": cash,
                "gross_fen": gross,
                "alerts": [
                    {
                        "month": a.month,
                        "threshold_pct": a.threshold_pct,
                        "spent_fen": int(a.spent_fen),
                        "budget_fen": int(a.budget_fen),
                        "fired_at": a.fired_at,
                    }
                    for a in budget_repo.alerts(session, org.id)
                ],
            }


def _with_supplier_ids(session: Session, program: VoucherProgram) -> VoucherProgram:
    """Programs name eligible suppliers by name or id; the ledger keys them by id."""
    from dataclasses import replace

    assert program.eligible_suppliers is not None
    ids = frozenset(
        registry.supplier(session, ref, "eligible_suppliers").id
        for ref in program.eligible_suppliers
    )
    return replace(program, eligible_suppliers=ids)
