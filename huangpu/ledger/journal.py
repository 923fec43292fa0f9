"""An in-memory journal: applies transactions idempotently and keeps derived balances.

The store keeps the same invariants with rows; this class is the reference behaviour and what
the simulator and tests use.

- Same key, same postings (in any order): a no-op, ``apply`` returns False.
- Same key, different postings: ``Conflict``; nothing changes.
- A posting that would take a guarded account (by default every program budget) below zero:
  ``InvalidInput`` naming that account; nothing changes.
- A reversal is a new transaction with negated postings, never an edit; each transaction can be
  reversed once.
- Balances are a cache of the sum of postings per account; ``balances_of`` recomputes them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from types import MappingProxyType

from huangpu.core.errors import Conflict, InvalidInput, NotFound
from huangpu.ledger.accounts import AccountId, AccountKind, account_kind
from huangpu.ledger.postings import Cause, Posting, Transaction
from huangpu.ledger.validation import check_time

# A program budget below zero would mean a subsidy nobody funded.
DEFAULT_GUARDED = frozenset({AccountKind.PROGRAM_BUDGET})


def balances_of(transactions: Iterable[Transaction]) -> dict[AccountId, int]:
    """Balances recomputed from scratch: the truth the cached ones must equal."""
    totals: defaultdict[AccountId, int] = defaultdict(int)
    for tx in transactions:
        for posting in tx.postings:
            totals[posting.account] += posting.amount_fen
    return {account: amount for account, amount in totals.items() if amount != 0}


class Journal:
    def __init__(
        self,
        transactions: Iterable[Transaction] = (),
        *,
        guarded: frozenset[AccountKind] = DEFAULT_GUARDED,
    ) -> None:
        self._guarded = guarded
        self._by_key: dict[str, Transaction] = {}
        self._order: list[Transaction] = []
        self._balances: defaultdict[AccountId, int] = defaultdict(int)
        self._reversed_by: dict[str, str] = {}
        for tx in transactions:
            self.apply(tx)

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    @property
    def transactions(self) -> tuple[Transaction, ...]:
        """In the order they were applied."""
        return tuple(self._order)

    def get(self, key: str) -> Transaction | None:
        return self._by_key.get(key)

    def balance(self, account: str) -> int:
        return self._balances.get(AccountId(account), 0)

    def balances(self) -> Mapping[AccountId, int]:
        return MappingProxyType({a: v for a, v in self._balances.items() if v != 0})

    def reversed_by(self, key: str) -> str | None:
        return self._reversed_by.get(key)

    def apply(self, tx: Transaction) -> bool:
        """Apply ``tx``; False when it was already applied (same key, same postings)."""
        existing = self._by_key.get(tx.key)
        if existing is not None:
            if existing.same_postings(tx):
                return False
            raise Conflict(
                f"transaction {tx.key!r} was already applied with different postings; "
                "post a correction under a new key (or reverse the old one)",
                "key",
            )
        self._check_guarded(tx)
        if tx.cause.reverses is not None:
            self._check_reversible(tx.cause.reverses, tx.key)
            self._reversed_by[tx.cause.reverses] = tx.key
        for posting in tx.postings:
            self._balances[posting.account] += posting.amount_fen
        self._by_key[tx.key] = tx
        self._order.append(tx)
        return True

    def apply_all(self, transactions: Iterable[Transaction]) -> int:
        """Apply in order; returns how many were new. Stops at the first refused one."""
        return sum(self.apply(tx) for tx in transactions)

    def reverse(self, key: str, new_key: str, cause: Cause, at: float) -> Transaction:
        """Undo ``key`` with a new transaction ``new_key`` that negates every posting.

        The reversal keeps who (``cause.actor``, ``cause.note``) from the given cause, and the
        kind and what (org, job, pool, chip, window, negated device-seconds) from the original,
        so statements and settlements net it without looking the original up. Repeating the
        same reversal returns the transaction already applied.
        """
        original = self._by_key.get(key)
        if original is None:
            raise NotFound(f"no transaction {key!r} to reverse", "key")
        check_time(at, "at")
        existing = self._by_key.get(new_key)
        if existing is not None:
            if existing.cause.reverses == key:
                return existing
            raise Conflict(f"key {new_key!r} is already used by another transaction", "new_key")
        why = original.cause
        reversal = Transaction(
            key=new_key,
            postings=tuple(Posting(p.account, -p.amount_fen) for p in original.postings),
            cause=replace(
                why,
                actor=cause.actor,
                note=cause.note,
                device_seconds=-why.device_seconds,
                reverses=key,
            ),
            at=at,
            currency=original.currency,
        )
        self.apply(reversal)
        return reversal

    def _check_reversible(self, key: str, new_key: str) -> None:
        if key not in self._by_key:
            raise NotFound(f"no transaction {key!r} to reverse", "cause.reverses")
        done = self._reversed_by.get(key)
        if done is not None and done != new_key:
            raise Conflict(f"transaction {key!r} was already reversed by {done!r}", "key")

    def _check_guarded(self, tx: Transaction) -> None:
        moved: defaultdict[AccountId, int] = defaultdict(int)
        for posting in tx.postings:
            moved[posting.account] += posting.amount_fen
        for account, amount in moved.items():
            after = self._balances.get(account, 0) + amount
            if amount < 0 and after < 0 and account_kind(account) in self._guarded:
                raise InvalidInput(
                    f"{account} would go to {after} fen: the program is over budget",
                    str(account),
                )
