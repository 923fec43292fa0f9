"""Money is an integer count of fen (0.01 CNY), never a float.

Rounding rule: amounts are computed exactly with ``Fraction`` and rounded half up
(away from zero for positives) once, where a charge line is produced; never per sample.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from typing import NewType

from huangpu.core.errors import InvalidInput

Fen = NewType("Fen", int)

FEN_PER_CNY = 100


def round_half_up(value: Fraction) -> Fen:
    """Round an exact amount of fen half up: 2.5 -> 3, -2.5 -> -3."""
    sign = -1 if value < 0 else 1
    magnitude = abs(value)
    whole = magnitude.numerator // magnitude.denominator
    if magnitude - whole >= Fraction(1, 2):
        whole += 1
    return Fen(sign * whole)


def parse_cny(text: str | int | float | Decimal, field: str = "amount") -> Fen:
    """Parse '3.00' (CNY) into 300 fen; more than two decimals is an error, not a rounding."""
    try:
        amount = Decimal(str(text).strip())
    except InvalidOperation:
        raise InvalidInput(f"{text!r} is not an amount in CNY, e.g. '3.00'", field) from None
    if not amount.is_finite():
        raise InvalidInput("amount must be a finite number of CNY", field)
    fen = amount * FEN_PER_CNY
    if fen != fen.to_integral_value():
        raise InvalidInput(f"{text!r} has more than two decimals; money is counted in fen", field)
    return Fen(int(fen.to_integral_value(ROUND_HALF_UP)))


def format_cny(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), FEN_PER_CNY)
    return f"{sign}¥{whole:,}.{cents:02d}"
