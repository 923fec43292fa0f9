"""The event heap and the simulated clock.

Events are ordered by (time, priority, seq), as in SimPy: at one instant arrivals and
completions (priority 0) are applied before the scheduling cycle (priority 1) that sees them
all, and ``seq`` keeps insertion order among equals, so a run is deterministic for a seed.
"""

from __future__ import annotations

import heapq
from enum import IntEnum
from typing import NamedTuple


class Kind(IntEnum):
    ARRIVAL = 0
    COMPLETION = 1
    CYCLE = 2
    SAMPLE = 3


# Lower runs first at the same instant: state changes, then the cycle that reacts to them.
PRIORITY = {Kind.ARRIVAL: 0, Kind.COMPLETION: 0, Kind.CYCLE: 1, Kind.SAMPLE: 2}


class Event(NamedTuple):
    time: float
    priority: int
    seq: int
    kind: Kind
    token: int  # arrival: job index; completion: version (stale ones are dropped)


class EventQueue:
    def __init__(self) -> None:
        self._heap: list[Event] = []
        self._seq = 0
        self.popped = 0

    def push(self, time: float, kind: Kind, token: int = 0) -> None:
        self._seq += 1
        heapq.heappush(self._heap, Event(time, PRIORITY[kind], self._seq, kind, token))

    def pop(self) -> Event:
        self.popped += 1
        return heapq.heappop(self._heap)

    def __len__(self) -> int:
        return len(self._heap)


class SimClock:
    """A ``huangpu.core.clock.Clock`` the engine moves; time starts at ``start`` (trace zero)."""

    def __init__(self, start: float = 0.0) -> None:
        self._t = start

    def now(self) -> float:
        return self._t

    def set(self, t: float) -> None:
        if t < self._t:
            raise ValueError(f"simulated time only moves forward ({t} < {self._t})")
        self._t = t
