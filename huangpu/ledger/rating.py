"""Rating: one usage line at one price, less voucher subsidies, into one balanced transaction.

Rounding rule (the only places fen are rounded, each half up, via ``core.money.round_half_up``):

1. gross = device_seconds × fen_per_hour / 3600, computed exactly as a Fraction and rounded
   half up **once per charge line** — never per sample, so splitting the same usage into more
   samples cannot change the bill.
2. each program's subsidy = gross × rate_bp / 10000 (the domestic rate when the catalog says
   the chip is domestic), rounded half up, then capped by the program's remaining budget, the
   tenant's remaining cap under it, and what its stack's ceiling still allows;
   a stack's ceiling = gross × stack_ceiling_bp / 10000, rounded half up (never above gross).
3. platform fee = gross × fee_bp / 10000, rounded half up.
4. cash = gross − Σ subsidies, exactly; the supplier is owed gross − fee, exactly.

Stacking: eligible programs sharing a ``stack_group`` form one stack (city + district); a
program without a group is a stack of its own. Only one stack pays for a line, the one that
pays the most (ties: the smallest stack name), because real programs forbid double subsidy
unless they declare they combine. Inside a stack, programs pay in order of program id, the
smallest ceiling of the stack's programs bounding their sum.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from huangpu.core.catalog import load_catalog
from huangpu.core.errors import InvalidInput
from huangpu.core.money import round_half_up
from huangpu.ledger import accounts
from huangpu.ledger.postings import Cause, CauseKind, Posting, Transaction
from huangpu.ledger.prices import MAX_FEN_PER_HOUR
from huangpu.ledger.usage import UsageLine
from huangpu.ledger.validation import check_bp
from huangpu.ledger.vouchers import Redemption, VoucherGrant, VoucherProgram, decline_reason

SECONDS_PER_HOUR = 3600
BP = 10_000
METERING = "metering"


@dataclass(frozen=True, slots=True)
class Subsidy:
    program_id: str
    amount_fen: int


@dataclass(frozen=True, slots=True)
class Declined:
    """A grant of this tenant's that paid nothing for this line, and why (for bills and audit)."""

    program_id: str
    field: str
    reason: str


@dataclass(frozen=True, slots=True)
class RatedCharge:
    usage: UsageLine
    fen_per_hour: int
    gross_fen: int
    subsidies: tuple[Subsidy, ...]  # only programs that paid (> 0 fen), in payment order
    fee_bp: int
    fee_fen: int
    cash_fen: int
    declined: tuple[Declined, ...] = ()

    @property
    def subsidy_fen(self) -> int:
        return sum(s.amount_fen for s in self.subsidies)

    @property
    def supplier_fen(self) -> int:
        return self.gross_fen - self.fee_fen


def _share(amount: int, bp: int) -> int:
    return round_half_up(Fraction(amount * bp, BP))


def gross_fen(device_seconds: int, fen_per_hour: int) -> int:
    """Per-second billing, rounded half up once for the whole line."""
    return round_half_up(Fraction(device_seconds * fen_per_hour, SECONDS_PER_HOUR))


def _check_spent(spent: Mapping[str, int] | Mapping[tuple[str, str], int], field: str) -> None:
    for key, value in spent.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput(f"{field}[{key!r}] must be an int >= 0, got {value!r}", field)


def _eligible(
    usage: UsageLine,
    programs: Mapping[str, VoucherProgram],
    grants: Iterable[VoucherGrant],
) -> tuple[list[VoucherProgram], list[Declined]]:
    """The programs one of this tenant's grants entitles the line to; other orgs' grants are
    none of this line's business and are ignored."""
    use = Redemption(
        usage.org, usage.org_category, usage.supplier, usage.chip, usage.job_kind,
        usage.start, usage.end,
    )  # fmt: skip
    entitled: set[str] = set()
    reasons: dict[str, Declined] = {}
    # Sorted so the recorded reason does not depend on the order grants were listed in.
    for grant in sorted(grants, key=lambda g: (g.program_id, g.granted_at, g.expires_at)):
        if grant.org != usage.org:
            continue
        program = programs.get(grant.program_id)
        if program is None:
            reasons[grant.program_id] = Declined(grant.program_id, "program_id", "unknown program")
            continue
        reason = decline_reason(program, grant, use)
        if reason is None:
            entitled.add(program.id)
        else:
            reasons.setdefault(program.id, Declined(program.id, *reason))
    declined = [d for pid, d in sorted(reasons.items()) if pid not in entitled]
    return [programs[pid] for pid in sorted(entitled)], declined


def _pay_stack(
    stack: list[VoucherProgram],
    gross: int,
    domestic: bool,
    room_by_program: Mapping[str, tuple[int, int]],
) -> tuple[list[Subsidy], list[Declined]]:
    room = _share(gross, min(p.stack_ceiling_bp for p in stack))
    paid: list[Subsidy] = []
    declined: list[Declined] = []
    for program in stack:
        budget_left, cap_left = room_by_program[program.id]
        amount = min(_share(gross, program.rate_bp(domestic)), budget_left, cap_left, room)
        if amount > 0:
            paid.append(Subsidy(program.id, amount))
            room -= amount
        elif budget_left == 0:
            declined.append(Declined(program.id, "program_budget_fen", "program budget spent"))
        elif cap_left == 0:
            declined.append(Declined(program.id, "per_tenant_cap_fen", "tenant cap reached"))
        elif room == 0:
            declined.append(Declined(program.id, "stack_ceiling_bp", "stack ceiling reached"))
    return paid, declined


def rate_charge(
    usage: UsageLine,
    price_fen_per_hour: int,
    programs: Iterable[VoucherProgram],
    grants: Iterable[VoucherGrant],
    spent_by_program: Mapping[str, int],
    spent_by_tenant_program: Mapping[tuple[str, str], int],
    fee_bp: int = 0,
) -> RatedCharge:
    """Rate ``usage`` at ``price_fen_per_hour`` (fen per card-hour).

    ``spent_by_program`` maps program id to subsidy paid so far; ``spent_by_tenant_program``
    maps (org, program id) to what that org has drawn (see ``spend``). Pure: the caller passes
    the spends as of now and posts the result, under a lock or serializable transaction, so
    that concurrent ratings cannot both spend the same remaining budget.
    """
    price = price_fen_per_hour
    if isinstance(price, bool) or not isinstance(price, int) or not 0 < price <= MAX_FEN_PER_HOUR:
        raise InvalidInput(
            f"price must be an int of fen per card-hour in 1..{MAX_FEN_PER_HOUR}, got {price!r}",
            "price_fen_per_hour",
        )
    check_bp(fee_bp, "fee_bp")
    _check_spent(spent_by_program, "spent_by_program")
    _check_spent(spent_by_tenant_program, "spent_by_tenant_program")
    by_id: dict[str, VoucherProgram] = {}
    for program in programs:
        if by_id.setdefault(program.id, program) != program:
            raise InvalidInput(f"two different programs share the id {program.id!r}", "programs")
    domestic = load_catalog().resolve(usage.chip).domestic

    gross = gross_fen(usage.device_seconds, price)
    eligible, declined = _eligible(usage, by_id, grants)
    room_by_program = {
        p.id: (
            max(0, p.program_budget_fen - spent_by_program.get(p.id, 0)),
            max(0, p.per_tenant_cap_fen - spent_by_tenant_program.get((usage.org, p.id), 0)),
        )
        for p in eligible
    }
    stacks: dict[str, list[VoucherProgram]] = {}
    for program in eligible:  # sorted by id, so each stack pays in id order
        name = program.stack_group if program.stack_group is not None else f"~{program.id}"
        stacks.setdefault(name, []).append(program)

    best: tuple[str, list[Subsidy], list[Declined]] | None = None
    for name in sorted(stacks):
        paid, short = _pay_stack(stacks[name], gross, domestic, room_by_program)
        if best is None or sum(s.amount_fen for s in paid) > sum(s.amount_fen for s in best[1]):
            best = (name, paid, short)
    subsidies: list[Subsidy] = []
    if best is not None:
        winner, subsidies, short = best
        declined += short
        declined += [
            Declined(p.id, "stack_group", "does not stack with the programs that paid")
            for name in sorted(stacks)
            if name != winner
            for p in stacks[name]
        ]
    subsidy = sum(s.amount_fen for s in subsidies)
    return RatedCharge(
        usage=usage,
        fen_per_hour=price,
        gross_fen=gross,
        subsidies=tuple(subsidies),
        fee_bp=fee_bp,
        fee_fen=_share(gross, fee_bp),
        cash_fen=gross - subsidy,
        declined=tuple(declined),
    )


def usage_key(usage: UsageLine) -> str:
    """A deterministic idempotency key for a line: rerating the same window gives the same key."""
    return f"usage:{usage.job_id}:{usage.pool}:{usage.chip}:{usage.start!r}:{usage.end!r}"


def charge_transaction(charge: RatedCharge, key: str) -> Transaction:
    """The balanced postings of a rated charge, at the end of its usage window.

    tenant cash −cash, each program budget −its subsidy, supplier payable +(gross − fee),
    platform fee +fee. Zero amounts are left out; a line that rated to 0 fen is a transaction
    without postings, still recorded under its key.
    """
    usage = charge.usage
    legs = [
        (accounts.tenant_cash(usage.org), -charge.cash_fen),
        *((accounts.program_budget(s.program_id), -s.amount_fen) for s in charge.subsidies),
        (accounts.supplier_payable(usage.supplier), charge.supplier_fen),
        (accounts.platform_fee(), charge.fee_fen),
    ]
    cause = Cause(
        kind=CauseKind.USAGE,
        actor=METERING,
        org=usage.org,
        job_id=usage.job_id,
        supplier=usage.supplier,
        pool=usage.pool,
        chip=usage.chip,
        window=(usage.start, usage.end),
        device_seconds=usage.device_seconds,
    )
    postings = tuple(Posting(account, amount) for account, amount in legs if amount != 0)
    return Transaction(key=key, postings=postings, cause=cause, at=usage.end)
