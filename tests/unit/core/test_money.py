from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from huangpu.core.errors import InvalidInput
from huangpu.core.money import format_cny, parse_cny, round_half_up


@pytest.mark.parametrize(
    ("value", "fen"),
    [(Fraction(5, 2), 3), (Fraction(-5, 2), -3), (Fraction(249, 100), 2), (Fraction(0), 0)],
)
def test_round_half_up(value: Fraction, fen: int) -> None:
    assert round_half_up(value) == fen


def test_parse_and_format() -> None:
    assert parse_cny("3.00") == 300
    assert parse_cny("12.5") == 1250
    assert format_cny(123456) == "¥1,234.56"
    assert format_cny(-5) == "-¥0.05"


@pytest.mark.parametrize("bad", ["abc", "1.234", "NaN", "inf"])
def test_parse_rejects_bad_amounts(bad: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_cny(bad, field="price")
    assert info.value.field == "price"


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_format_parse_round_trip(fen: int) -> None:
    text = format_cny(fen).replace("¥", "").replace(",", "")
    assert parse_cny(text) == fen
