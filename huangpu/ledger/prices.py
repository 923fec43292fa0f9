"""Price lists: fen per accelerator-hour per (pool, chip), each price effective from a time.

A pool belongs to one supplier. For one pool and chip, a price applies from its
``effective_from`` until the next entry's; entries are append-only, so a change never rewrites
the past: ``PriceList.add`` refuses an entry at or before the latest one for that pool and chip
(and, given ``now``, one dated before now). The platform fee is a rate in basis points on the
gross, rounded in ``rating``.
"""

from __future__ import annotations

import bisect
import csv
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from importlib import resources

from huangpu.core.catalog import Catalog, load_catalog
from huangpu.core.errors import InvalidInput, NotFound, UnknownChip
from huangpu.core.money import parse_cny, round_half_up
from huangpu.ledger.validation import CURRENCY, check_bp, check_currency, check_time, check_token

# 100,000 CNY per accelerator-hour: far above any real rent (an H100 rents for ~30 CNY/h).
MAX_FEN_PER_HOUR = 100_000 * 100


@dataclass(frozen=True, slots=True)
class PriceEntry:
    supplier: str
    pool: str
    chip: str  # a catalog chip id, e.g. "910b2"
    fen_per_hour: int  # per accelerator (card) hour
    effective_from: float
    currency: str = CURRENCY

    def __post_init__(self) -> None:
        check_token(self.supplier, "supplier")
        check_token(self.pool, "pool")
        check_token(self.chip, "chip")
        check_currency(self.currency)
        check_time(self.effective_from, "effective_from")
        price = self.fen_per_hour
        if isinstance(price, bool) or not isinstance(price, int):
            raise InvalidInput(
                "fen_per_hour must be an int of fen, e.g. 300 for 3.00 CNY", "fen_per_hour"
            )
        if price <= 0:
            raise InvalidInput(f"fen_per_hour must be > 0, got {price}", "fen_per_hour")
        if price > MAX_FEN_PER_HOUR:
            raise InvalidInput(
                f"fen_per_hour {price} is absurd (over 100,000 CNY per card-hour)", "fen_per_hour"
            )


@dataclass(frozen=True, slots=True)
class PriceList:
    entries: tuple[PriceEntry, ...] = ()
    fee_bp: int = 0  # the platform fee, in basis points of the gross
    # (pool, chip) -> entries sorted by effective_from; derived, not compared.
    _index: dict[tuple[str, str], tuple[PriceEntry, ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        check_bp(self.fee_bp, "fee_bp")
        entries = tuple(self.entries)
        owners: dict[str, str] = {}
        grouped: dict[tuple[str, str], list[PriceEntry]] = {}
        for entry in entries:
            if not isinstance(entry, PriceEntry):
                raise InvalidInput("price list entries must be PriceEntry records", "entries")
            owner = owners.setdefault(entry.pool, entry.supplier)
            if owner != entry.supplier:
                raise InvalidInput(
                    f"pool {entry.pool!r} belongs to supplier {owner!r}, not {entry.supplier!r}",
                    "supplier",
                )
            grouped.setdefault((entry.pool, entry.chip), []).append(entry)
        index: dict[tuple[str, str], tuple[PriceEntry, ...]] = {}
        for (pool, chip), group in grouped.items():
            group.sort(key=lambda e: e.effective_from)
            for before, after in itertools.pairwise(group):
                if before.effective_from == after.effective_from:
                    raise InvalidInput(
                        f"two prices for {chip} in pool {pool} take effect at the same time "
                        f"{after.effective_from}; keep one",
                        "effective_from",
                    )
            index[(pool, chip)] = tuple(group)
        object.__setattr__(self, "entries", entries)
        object.__setattr__(self, "_index", index)

    def add(self, entry: PriceEntry, now: float | None = None) -> PriceList:
        """A new list with ``entry`` appended; refuses anything that would change the past."""
        history = self._index.get((entry.pool, entry.chip), ())
        if history and entry.effective_from <= history[-1].effective_from:
            raise InvalidInput(
                f"{entry.chip} in pool {entry.pool} already has a price from "
                f"{history[-1].effective_from}; a new price must take effect later "
                "(prices never rewrite the past)",
                "effective_from",
            )
        if now is not None and entry.effective_from < now:
            raise InvalidInput(
                "a new price cannot take effect before now (that would rewrite the past)",
                "effective_from",
            )
        return PriceList((*self.entries, entry), self.fee_bp)

    def with_fee(self, fee_bp: int) -> PriceList:
        return PriceList(self.entries, fee_bp)

    def entry_at(self, pool: str, chip: str, t: float) -> PriceEntry:
        history = self._index.get((pool, chip), ())
        at = bisect.bisect_right([e.effective_from for e in history], t)
        if at == 0:
            raise NotFound(
                f"no price for {chip} in pool {pool} at {t}; the operator must set one",
                "price",
            )
        return history[at - 1]

    def price_at(self, pool: str, chip: str, t: float) -> int:
        """Fen per card-hour in effect at time ``t``."""
        return self.entry_at(pool, chip, t).fen_per_hour

    def changes_between(self, pool: str, chip: str, start: float, end: float) -> tuple[float, ...]:
        """Times strictly inside (start, end) where the price changes: where metering must split
        a usage line so that each line is rated at one price."""
        history = self._index.get((pool, chip), ())
        return tuple(e.effective_from for e in history if start < e.effective_from < end)


def parse_price_cell(text: str) -> int | None:
    """One price cell of prices.csv in fen per card-hour, or None when it has no number.

    '2.08-2.6' is a range: its midpoint, rounded half up to the fen (234). '15.72 / 17.50' lists
    alternatives: the first counts (1572).
    """
    first = text.split("/")[0].strip()
    if not first:
        return None
    try:
        bounds = [parse_cny(part.strip(), "price") for part in first.split("-")]
    except InvalidInput:
        return None
    if len(bounds) > 2:
        return None
    return round_half_up(Fraction(sum(bounds), len(bounds)))


def resolve_chip_name(name: str, catalog: Catalog) -> str | None:
    """The catalog id for a market label like 'Huawei Ascend 910B2 (8-card server)', or None.

    The parenthesised offer details are dropped, then the longest run of words the catalog
    recognises wins, leftmost first ('Cambricon MLU370-S4' -> 'Cambricon MLU370' -> mlu370).
    """
    words = re.split(r"[\s-]+", re.sub(r"\(.*?\)", " ", name).strip())
    for width in range(len(words), 0, -1):
        for first in range(len(words) - width + 1):
            try:
                return catalog.resolve(" ".join(words[first : first + width])).id
            except UnknownChip:
                continue
    return None


def seed_prices(rows: Iterable[dict[str, str]] | None = None) -> dict[str, int]:
    """Fen per card-hour per catalog chip id, from the package's prices.csv (sources inside).

    For demo pools. The file lists several offers per chip; the first row for a chip wins (the
    file lists wholesale bare-metal quotes first, the rent a pooled supplier would ask). Rows
    without a price or with a chip the catalog does not know are skipped.
    """
    if rows is None:
        text = resources.files("huangpu.core").joinpath("data/prices.csv").read_text("utf-8")
        rows = csv.DictReader(text.splitlines())
    catalog = load_catalog()
    seeded: dict[str, int] = {}
    for row in rows:
        fen = parse_price_cell(row.get("price_cny_per_card_hour") or "")
        chip = resolve_chip_name(row.get("chip") or "", catalog)
        if fen is None or fen <= 0 or chip is None:
            continue
        seeded.setdefault(chip, fen)
    return seeded
