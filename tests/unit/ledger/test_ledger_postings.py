from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ledger_builders import OPERATOR, T0

from huangpu.core.errors import Conflict, InvalidInput, NotFound
from huangpu.ledger import (
    AccountId,
    AccountKind,
    Cause,
    CauseKind,
    Journal,
    Posting,
    Transaction,
    balances_of,
    external,
    parse_account,
    platform_fee,
    program_budget,
    supplier_payable,
    tenant_cash,
    transfer,
)

CASH = tenant_cash("org_acme")
BANK = external("bank")


def tx(key: str, *legs: tuple[str, int], when: float = T0) -> Transaction:
    return Transaction(key, tuple(Posting(AccountId(a), n) for a, n in legs), OPERATOR, when)


def test_account_scheme() -> None:
    assert tenant_cash("org_acme") == "tenant_cash:org_acme"
    assert program_budget("sh-city") == "program_budget:sh-city"
    assert supplier_payable("ascend-center") == "supplier_payable:ascend-center"
    assert platform_fee() == "platform_fee"
    assert parse_account("funder:city") == (AccountKind.FUNDER, ("city",))


@pytest.mark.parametrize("bad", ["cash:org", "tenant_cash", "tenant_cash:a:b", "platform_fee:x"])
def test_unknown_or_malformed_accounts_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Posting(AccountId(bad), 1)
    assert info.value.field == "posting.account"


def test_ids_cannot_smuggle_a_colon() -> None:
    with pytest.raises(InvalidInput):
        tenant_cash("org:evil")


@pytest.mark.parametrize("amount", [1.5, 100.0, True, "100", 0, 10**13])
def test_postings_take_only_nonzero_sane_int_fen(amount: object) -> None:
    with pytest.raises(InvalidInput) as info:
        Posting(CASH, amount)  # type: ignore[arg-type]
    assert info.value.field == "posting.amount_fen"


def test_unbalanced_transaction_is_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        tx("k", (CASH, 100), (BANK, -99))
    assert info.value.field == "postings"


@pytest.mark.parametrize("key", ["", "   "])
def test_empty_key_is_refused(key: str) -> None:
    with pytest.raises(InvalidInput) as info:
        tx(key, (CASH, 100), (BANK, -100))
    assert info.value.field == "key"


def test_only_cny() -> None:
    with pytest.raises(InvalidInput) as info:
        Transaction("k", (), OPERATOR, T0, currency="USD")
    assert info.value.field == "currency"


def test_a_cause_names_its_actor() -> None:
    with pytest.raises(InvalidInput) as info:
        Cause(CauseKind.OPERATOR, " ")
    assert info.value.field == "cause.actor"


def test_apply_is_idempotent_and_conflicts_on_different_postings() -> None:
    journal = Journal()
    top_up = transfer("topup:1", BANK, CASH, 10_000, OPERATOR, T0)
    assert journal.apply(top_up)
    # Same key, same postings in another order, a later time: a repeat, nothing changes.
    again = Transaction("topup:1", tuple(reversed(top_up.postings)), OPERATOR, T0 + 60)
    assert not journal.apply(again)
    assert journal.balance(CASH) == 10_000
    with pytest.raises(Conflict):
        journal.apply(transfer("topup:1", BANK, CASH, 10_001, OPERATOR, T0))
    assert journal.balance(CASH) == 10_000 and len(journal) == 1


def test_reversal_is_a_new_transaction() -> None:
    journal = Journal([transfer("topup:1", BANK, CASH, 10_000, OPERATOR, T0)])
    undo = Cause(CauseKind.OPERATOR, "operator:bob", note="paid twice by mistake")
    reversal = journal.reverse("topup:1", "topup:1:undo", undo, T0 + 60)
    assert reversal.cause.reverses == "topup:1"
    assert reversal.cause.actor == "operator:bob"
    assert journal.balance(CASH) == 0 and journal.balance(BANK) == 0
    assert len(journal) == 2
    assert journal.get("topup:1") is not None  # the original stands, unedited
    # Repeating the same reversal is a no-op; reversing it again under another key is not.
    assert journal.reverse("topup:1", "topup:1:undo", undo, T0 + 99) == reversal
    with pytest.raises(Conflict):
        journal.reverse("topup:1", "topup:1:undo-2", undo, T0 + 99)
    with pytest.raises(NotFound):
        journal.reverse("nope", "nope:undo", undo, T0)
    assert len(journal) == 2


def test_program_budget_cannot_go_negative_and_nothing_is_applied() -> None:
    budget = program_budget("sh-city")
    journal = Journal([transfer("fund", AccountId("funder:city"), budget, 1000, OPERATOR, T0)])
    over = tx("charge", (budget, -1001), (supplier_payable("s"), 1001))
    with pytest.raises(InvalidInput) as info:
        journal.apply(over)
    assert info.value.field == budget
    assert journal.balance(budget) == 1000 and "charge" not in journal


ACCOUNTS = [CASH, BANK, tenant_cash("org_b"), supplier_payable("s1"), platform_fee()]


@st.composite
def transactions(draw: st.DrawFn) -> list[Transaction]:
    made = []
    for number in range(draw(st.integers(0, 25))):
        amounts = draw(st.lists(st.integers(-(10**9), 10**9).filter(bool), min_size=1, max_size=4))
        accounts = draw(st.lists(st.sampled_from(ACCOUNTS), min_size=5, max_size=5))
        legs = [(accounts[i], n) for i, n in enumerate(amounts)]
        balance = -sum(amounts)
        if balance:
            legs.append((accounts[4], balance))
        made.append(tx(f"k{number}", *legs, when=T0 + number))
    return made


@settings(max_examples=200)
@given(transactions(), st.randoms(use_true_random=False))
def test_journal_sums_to_zero_and_reapplying_is_a_no_op(
    txs: list[Transaction], rng: random.Random
) -> None:
    journal = Journal(txs)
    assert sum(journal.balances().values()) == 0
    assert dict(journal.balances()) == balances_of(txs)
    before = dict(journal.balances())
    shuffled = list(txs)
    rng.shuffle(shuffled)
    assert journal.apply_all(shuffled) == 0
    assert dict(journal.balances()) == before and len(journal) == len(txs)
    # Reversing everything brings every balance back to zero.
    for t in txs:
        journal.reverse(t.key, f"{t.key}:undo", OPERATOR, T0 + 1000)
    assert dict(journal.balances()) == {}
