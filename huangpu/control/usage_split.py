"""Cutting a job's usage samples into lines that each have one month, one price, one fee and
one set of valid grants, so ``ledger.rate_charge`` can rate every line at a single price.

Samples are [start, end] windows with float device-seconds, as agents report them. Floats are
exact binary fractions, so sums are kept exact (``Fraction``) and rounded half up to whole
device-seconds once per line (per-second billing); fen are then rounded once per line by the
ledger. A sample that straddles a cut is shared by overlap; splitting usage into more samples
never changes a line's total beyond that single rounding.
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from huangpu.core.money import round_half_up
from huangpu.ledger import month_of, month_window
from huangpu.ledger.periods import add_months


@dataclass(frozen=True, slots=True)
class Sample:
    id: int
    start: float
    end: float
    device_seconds: float


@dataclass
class Piece:
    start: float
    end: float
    sample_ids: list[int] = field(default_factory=list)
    # Exact sum kept as {denominator: numerator}: floats have power-of-two denominators, so
    # this stays a handful of big ints however many samples are added.
    _parts: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    _extra: Fraction = Fraction(0)

    lo: float = float("inf")
    hi: float = float("-inf")

    def add(self, sample: Sample) -> None:
        num, den = float(sample.device_seconds).as_integer_ratio()
        self._parts[den] += num
        self._seen(sample)

    def add_share(self, sample: Sample, value: Fraction) -> None:
        self._extra += value
        self._seen(sample)

    def _seen(self, sample: Sample) -> None:
        self.sample_ids.append(sample.id)
        self.lo, self.hi = min(self.lo, sample.start), max(self.hi, sample.end)

    @property
    def exact(self) -> Fraction:
        return sum((Fraction(n, d) for d, n in self._parts.items()), self._extra)

    @property
    def device_seconds(self) -> int:
        return int(round_half_up(self.exact))


def month_starts(start: float, end: float) -> list[float]:
    """Starts of Beijing-time months strictly inside (start, end)."""
    cuts: list[float] = []
    t = month_window(month_of(start))[1]
    while t < end:
        cuts.append(t)
        t = add_months(t, 1)
    return cuts


def split(samples: Sequence[Sample], cuts: Iterable[float]) -> list[Piece]:
    """Pieces between consecutive cuts (and the samples' hull) that some sample falls in."""
    if not samples:
        return []
    lo = min(s.start for s in samples)
    hi = max(s.end for s in samples)
    bounds = sorted({lo, hi, *(c for c in cuts if lo < c < hi)})
    if len(bounds) == 1:
        bounds.append(hi)
    pieces = [Piece(a, b) for a, b in itertools.pairwise(bounds)]
    for s in samples:
        first = max(0, bisect.bisect_right(bounds, s.start) - 1)
        first = min(first, len(pieces) - 1)
        if s.end <= pieces[first].end or s.end == s.start:
            pieces[first].add(s)
            continue
        # Straddles cuts: share its device-seconds by overlap, exactly.
        span = Fraction(s.end) - Fraction(s.start)
        total = Fraction(s.device_seconds)
        i = first
        while i < len(pieces) and pieces[i].start < s.end:
            piece = pieces[i]
            overlap = Fraction(min(s.end, piece.end)) - Fraction(max(s.start, piece.start))
            if overlap > 0:
                piece.add_share(s, total * overlap / span)
            i += 1
    used = [p for p in pieces if p.sample_ids]
    # The window of a line is where its samples are, never an empty stretch between cuts.
    for piece in used:
        piece.start, piece.end = max(piece.start, piece.lo), min(piece.end, piece.hi)
    return used
