"""Double-entry postings: a Transaction is a balanced set of Postings under one idempotency key.

Records are frozen dataclasses of plain values (str, int, float, tuples) so the store can map
them to rows one to one: a transaction row (key, at, currency, cause columns) and posting rows
(key, account, amount_fen). Construction validates everything, so an invalid record can never
exist, let alone be applied: a non-int amount, a zero or absurd one, an unknown account, an
empty key, another currency, or postings that do not sum to zero raise ``InvalidInput``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from huangpu.core.errors import InvalidInput
from huangpu.ledger.accounts import AccountId, parse_account
from huangpu.ledger.validation import (
    CURRENCY,
    MAX_AMOUNT_FEN,
    check_currency,
    check_fen,
    check_time,
)

MAX_KEY_LENGTH = 200


class CauseKind(StrEnum):
    USAGE = "usage"  # metering rated a usage line
    OPERATOR = "operator"  # an operator action: funding a program, a top-up, an adjustment


@dataclass(frozen=True, slots=True)
class Cause:
    """Who or what caused a transaction, for the audit trail and for statements.

    ``kind`` is what the money movement is about and ``actor`` who posted it (``metering``,
    ``operator:alice``). The optional fields say what: the job, its org, supplier, pool and
    chip, the usage sample range ``window`` (start, end) and the device-seconds it covered. A
    reversal keeps the kind and the what of the transaction it undoes, with device-seconds
    negated, and names that transaction in ``reverses``; so sums over usage net reversals out
    by themselves.
    """

    kind: CauseKind
    actor: str
    note: str = ""
    org: str | None = None
    job_id: str | None = None
    supplier: str | None = None
    pool: str | None = None
    chip: str | None = None
    window: tuple[float, float] | None = None
    device_seconds: int = 0
    reverses: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.kind, CauseKind):
            raise InvalidInput(f"cause kind must be one of {[k.value for k in CauseKind]}", "cause")
        if not isinstance(self.actor, str) or not self.actor.strip():
            raise InvalidInput("a cause must name its actor (who or what posted it)", "cause.actor")
        if self.window is not None:
            start = check_time(self.window[0], "cause.window")
            end = check_time(self.window[1], "cause.window")
            if end < start:
                raise InvalidInput("cause window ends before it starts", "cause.window")
        if isinstance(self.device_seconds, bool) or not isinstance(self.device_seconds, int):
            raise InvalidInput("device_seconds must be an int", "cause.device_seconds")

    @property
    def is_reversal(self) -> bool:
        return self.reverses is not None


@dataclass(frozen=True, slots=True, order=True)
class Posting:
    account: AccountId
    amount_fen: int

    def __post_init__(self) -> None:
        parse_account(self.account, "posting.account")
        amount = self.amount_fen
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise InvalidInput(
                f"posting amount must be an int of fen, got {type(amount).__name__} {amount!r}",
                "posting.amount_fen",
            )
        if amount == 0:
            # A zero posting moves nothing and would only make "same postings" ambiguous.
            raise InvalidInput(
                "a posting of 0 fen moves nothing; leave it out", "posting.amount_fen"
            )
        check_fen(abs(amount), "posting.amount_fen")


@dataclass(frozen=True, slots=True)
class Transaction:
    """A balanced set of postings. ``at`` is the business time it belongs to (epoch seconds).

    A transaction may have no postings at all: metering records a usage window that rated to
    0 fen, so rerunning it is still recognised as a repeat.
    """

    key: str
    postings: tuple[Posting, ...]
    cause: Cause
    at: float
    currency: str = field(default=CURRENCY)

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key.strip():
            raise InvalidInput("a transaction needs a non-empty idempotency key", "key")
        if len(self.key) > MAX_KEY_LENGTH:
            raise InvalidInput(f"idempotency key longer than {MAX_KEY_LENGTH} characters", "key")
        check_currency(self.currency)
        check_time(self.at, "at")
        if not isinstance(self.cause, Cause):
            raise InvalidInput("a transaction needs a Cause", "cause")
        postings = tuple(self.postings)
        if not all(isinstance(p, Posting) for p in postings):
            raise InvalidInput("postings must be Posting records", "postings")
        total = sum(p.amount_fen for p in postings)
        if total != 0:
            raise InvalidInput(f"postings sum to {total} fen, not 0", "postings")
        if sum(p.amount_fen for p in postings if p.amount_fen > 0) > MAX_AMOUNT_FEN:
            raise InvalidInput("transaction moves an absurd amount", "postings")
        object.__setattr__(self, "postings", postings)

    def same_postings(self, other: Transaction) -> bool:
        """Equal as a multiset: the order postings were listed in does not matter."""
        return sorted(self.postings) == sorted(other.postings)

    def amount(self, account: str) -> int:
        return sum(p.amount_fen for p in self.postings if p.account == account)


def transfer(
    key: str, source: AccountId, target: AccountId, amount_fen: int, cause: Cause, at: float
) -> Transaction:
    """Move ``amount_fen`` (> 0) from ``source`` to ``target``: a top-up, funding, a payout."""
    check_fen(amount_fen, "amount_fen", positive=True)
    if source == target:
        raise InvalidInput("a transfer needs two different accounts", "target")
    return Transaction(key, (Posting(source, -amount_fen), Posting(target, amount_fen)), cause, at)
