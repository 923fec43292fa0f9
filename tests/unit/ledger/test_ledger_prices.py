from __future__ import annotations

import pytest
from ledger_builders import T0

from huangpu.core.errors import InvalidInput, NotFound
from huangpu.ledger import PriceEntry, PriceList, seed_prices
from huangpu.ledger.prices import parse_price_cell

DAY = 86_400


def entry(fen: int = 300, when: float = T0, **kw: object) -> PriceEntry:
    fields: dict[str, object] = {"supplier": "ascend-center", "pool": "pool_ascend"}
    fields.update(kw)
    return PriceEntry(
        supplier=str(fields["supplier"]),
        pool=str(fields["pool"]),
        chip=str(fields.get("chip", "910b2")),
        fen_per_hour=fen,
        effective_from=when,
    )


def test_a_change_applies_from_its_date_and_never_rewrites_the_past() -> None:
    prices = PriceList().add(entry(300, T0)).add(entry(280, T0 + 30 * DAY))
    assert prices.price_at("pool_ascend", "910b2", T0) == 300
    assert prices.price_at("pool_ascend", "910b2", T0 + 30 * DAY - 1) == 300
    assert prices.price_at("pool_ascend", "910b2", T0 + 30 * DAY) == 280
    assert prices.changes_between("pool_ascend", "910b2", T0, T0 + 40 * DAY) == (T0 + 30 * DAY,)
    with pytest.raises(NotFound):
        prices.price_at("pool_ascend", "910b2", T0 - 1)
    with pytest.raises(NotFound):
        prices.price_at("pool_ascend", "a100", T0)


@pytest.mark.parametrize("when", [T0, T0 + 30 * DAY, T0 + DAY])
def test_overlapping_or_backdated_entries_are_refused(when: float) -> None:
    prices = PriceList().add(entry(300, T0)).add(entry(280, T0 + 30 * DAY))
    with pytest.raises(InvalidInput) as info:
        prices.add(entry(290, when))
    assert info.value.field == "effective_from"
    assert prices.price_at("pool_ascend", "910b2", T0 + DAY) == 300  # nothing applied


def test_a_new_price_cannot_start_before_now() -> None:
    with pytest.raises(InvalidInput) as info:
        PriceList().add(entry(300, T0), now=T0 + 1)
    assert info.value.field == "effective_from"


def test_duplicates_are_refused_when_loading_a_list() -> None:
    with pytest.raises(InvalidInput) as info:
        PriceList((entry(300, T0), entry(310, T0)))
    assert info.value.field == "effective_from"
    # Loaded out of order is fine: history is sorted by effective time.
    loaded = PriceList((entry(280, T0 + DAY), entry(300, T0)))
    assert loaded.price_at("pool_ascend", "910b2", T0) == 300


def test_a_pool_belongs_to_one_supplier() -> None:
    with pytest.raises(InvalidInput) as info:
        PriceList().add(entry(300, T0)).add(entry(300, T0 + DAY, supplier="other", chip="a100"))
    assert info.value.field == "supplier"


@pytest.mark.parametrize("fen", [0, -300, 10_000_001, 3.0, True])
def test_zero_negative_absurd_or_float_prices_are_refused(fen: object) -> None:
    with pytest.raises(InvalidInput) as info:
        entry(fen)  # type: ignore[arg-type]
    assert info.value.field == "fen_per_hour"


def test_the_most_a_card_hour_can_cost() -> None:
    assert entry(10_000_000).fen_per_hour == 10_000_000  # 100,000.00 CNY


def test_currency_and_fee() -> None:
    with pytest.raises(InvalidInput) as info:
        PriceEntry("s", "p", "a100", 300, T0, currency="USD")
    assert info.value.field == "currency"
    assert PriceList().with_fee(500).fee_bp == 500
    with pytest.raises(InvalidInput) as info:
        PriceList(fee_bp=-1)
    assert info.value.field == "fee_bp"


@pytest.mark.parametrize(
    ("cell", "fen"),
    [("2.08-2.6", 234), ("13.02-13.89", 1346), ("15.72 / 17.50", 1572), ("8-12", 1000),
     ("7.9", 790), ("", None), ("n/a", None)],
)  # fmt: skip
def test_price_cells(cell: str, fen: int | None) -> None:
    assert parse_price_cell(cell) == fen


def test_seed_prices_from_the_package_csv() -> None:
    seeded = seed_prices()
    assert seeded["910b2"] == 234  # "Huawei Ascend 910B2 (8-card server)", 2.08-2.6
    assert seeded["h100"] == 1346  # first H100 row, 13.02-13.89
    assert seeded["mlu370"] == 1300  # "Cambricon MLU370-S4"
    assert seeded["l20"] == 1572
    assert "c500" not in seeded  # listed without a price
    assert all(isinstance(v, int) and v > 0 for v in seeded.values())


def test_seed_prices_skips_unknown_chips() -> None:
    rows = [
        {"chip": "Hygon BW1000 (模力方舟)", "price_cny_per_card_hour": "3.0"},
        {"chip": "Huawei Ascend 910 (胜算云)", "price_cny_per_card_hour": "2.36"},
        {"chip": "NVIDIA A100/A800 (cloud, 2023)", "price_cny_per_card_hour": "8-12"},
    ]
    assert seed_prices(rows) == {}
