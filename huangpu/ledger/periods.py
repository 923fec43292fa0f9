"""Billing periods: months and quarters in China Standard Time.

Bills follow the tenant's and supplier's calendar, which is Beijing time. China has kept UTC+8
without daylight saving since 1991, so a fixed offset is exact and needs no tz database.
Every period is a half-open window [start, end) in epoch seconds.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta, timezone

from huangpu.core.errors import InvalidInput

BILLING_TZ = timezone(timedelta(hours=8), "CST")

_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER_RE = re.compile(r"^(\d{4})Q([1-4])$")


def _epoch(year: int, month: int) -> float:
    return datetime(year, month, 1, tzinfo=BILLING_TZ).timestamp()


def _next(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def month_window(month: str) -> tuple[float, float]:
    """'2026-11' -> [1 Nov 2026 00:00 CST, 1 Dec 2026 00:00 CST)."""
    match = _MONTH_RE.match(month)
    if match is None or not 1 <= int(match[2]) <= 12:
        raise InvalidInput(f"month must look like 2026-11, got {month!r}", "month")
    year, number = int(match[1]), int(match[2])
    return _epoch(year, number), _epoch(*_next(year, number))


def quarter_window(quarter: str) -> tuple[float, float]:
    """'2026Q4' -> [1 Oct 2026 00:00 CST, 1 Jan 2027 00:00 CST)."""
    match = _QUARTER_RE.match(quarter)
    if match is None:
        raise InvalidInput(f"quarter must look like 2026Q4, got {quarter!r}", "quarter")
    year, first = int(match[1]), 3 * int(match[2]) - 2
    end_year, end_month = (year + 1, 1) if first == 10 else (year, first + 3)
    return _epoch(year, first), _epoch(end_year, end_month)


def month_of(t: float) -> str:
    return datetime.fromtimestamp(t, BILLING_TZ).strftime("%Y-%m")


def add_months(t: float, months: int) -> float:
    """The same wall-clock time ``months`` later; the 31st falls back to the month's last day."""
    moment = datetime.fromtimestamp(t, BILLING_TZ)
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day).timestamp()
