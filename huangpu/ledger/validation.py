"""Checks shared by every ledger record: money is int fen in CNY, ids are plain tokens.

Each check raises ``InvalidInput`` naming the offending field, before anything is applied.
"""

from __future__ import annotations

import math
import re

from huangpu.core.errors import InvalidInput

CURRENCY = "CNY"

# Ten billion CNY. Larger than any single posting, price or program budget a city platform
# handles, small enough that a typo of a few extra zeros or an overflowed counter is caught.
MAX_AMOUNT_FEN = 10**12

# An id segment: no colon, because account ids are colon-joined (see accounts.py).
_TOKEN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_currency(currency: str, field: str = "currency") -> None:
    if currency != CURRENCY:
        raise InvalidInput(
            f"unknown currency {currency!r}: the ledger counts only {CURRENCY} (in fen)", field
        )


def check_fen(value: object, field: str, *, positive: bool = False) -> int:
    """An amount of fen: an int (never a float or bool), not negative, not absurd."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(
            f"{field} must be an integer number of fen, got {type(value).__name__} {value!r}",
            field,
        )
    if value < 0 or (positive and value == 0):
        raise InvalidInput(f"{field} must be {'> 0' if positive else '>= 0'}, got {value}", field)
    if value > MAX_AMOUNT_FEN:
        raise InvalidInput(f"{field} of {value} fen is absurd (limit {MAX_AMOUNT_FEN})", field)
    return value


def check_bp(value: object, field: str, *, low: int = 0, high: int = 10_000) -> int:
    """Basis points (1/100 of a percent): 3000 is 30%."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field} must be an integer number of basis points", field)
    if not low <= value <= high:
        raise InvalidInput(f"{field} must be between {low} and {high} basis points", field)
    return value


def check_time(value: object, field: str) -> float:
    """A point in time: seconds since the epoch, passed in (the ledger has no clock)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{field} must be a finite time in epoch seconds", field)
    return float(value)


def check_token(value: object, field: str) -> str:
    if not isinstance(value, str) or not _TOKEN_RE.match(value):
        raise InvalidInput(
            f"{field} must be a plain id (letters, digits, '.', '_', '-'; no ':'), got {value!r}",
            field,
        )
    return value
