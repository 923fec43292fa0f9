"""CapacityCache: a stale inventory is re-read in the background while submits go on, never
more often than REFRESH_COST allows, and a refusal always looks at the live inventory."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from huangpu.control import feasibility
from huangpu.control.feasibility import CapacityCache
from huangpu.core.errors import Unsatisfiable
from huangpu.core.jobspec import JobSpec


class FakeDb:
    @contextmanager
    def read(self) -> Iterator[None]:
        yield None


class Inventory:
    """Stands in for store.inventory.devices: the chips in it, how often it was read, and by
    which thread."""

    def __init__(self, *chips: str) -> None:
        self.chips = list(chips)
        self.reads: list[str] = []
        self.delay = 0.0
        self.read_done = threading.Event()

    def __call__(self, _session: Any) -> list[str]:
        self.reads.append(threading.current_thread().name)
        time.sleep(self.delay)
        self.read_done.set()
        return list(self.chips)


def verdict(inventory: list[str], spec: JobSpec) -> Unsatisfiable | None:
    wanted = spec.resources.chips[0]
    return None if wanted in inventory else Unsatisfiable(f"no {wanted}", "resources.chips")


def spec(chip: str) -> JobSpec:
    return JobSpec.model_validate({"name": "j", "command": "true", "resources": {"chips": [chip]}})


@pytest.fixture
def inventory(monkeypatch: pytest.MonkeyPatch) -> Inventory:
    inv = Inventory("a100")
    monkeypatch.setattr(feasibility, "devices", inv)
    monkeypatch.setattr(CapacityCache, "_verdict", staticmethod(verdict))
    return inv


def test_a_stale_inventory_is_refreshed_in_the_background(inventory: Inventory) -> None:
    cache = CapacityCache(FakeDb(), ttl=0.05)  # type: ignore[arg-type]
    cache.check(spec("a100"))
    assert inventory.reads == ["MainThread"]  # the first read has nothing to fall back on
    time.sleep(0.1)
    inventory.delay, inventory.read_done = 0.3, threading.Event()
    began = time.monotonic()
    cache.check(spec("a100"))  # stale: answered from the old inventory at once
    assert time.monotonic() - began < 0.2
    assert inventory.read_done.wait(5)
    assert inventory.reads[1] == "capacity-refresh"
    # That refresh took 0.3 s, so the next one waits 0.3 / REFRESH_COST, not the ttl.
    time.sleep(0.1)
    cache.check(spec("a100"))
    assert len(inventory.reads) == 2


def test_a_refusal_reads_the_live_inventory(inventory: Inventory) -> None:
    cache = CapacityCache(FakeDb(), ttl=3600)  # type: ignore[arg-type]
    with pytest.raises(Unsatisfiable):
        cache.check(spec("910b"))
    inventory.chips.append("910b")  # an agent registers the chip a moment later
    cache.check(spec("910b"))  # not refused from the cached verdict
    assert inventory.reads == ["MainThread"] * 3
