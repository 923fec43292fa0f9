"""Scheduling policies, picked by name from a registry (never by ``if`` branches).

A policy answers two questions, and never writes to what it is given:
- ``order(snapshot)``: the job rows in the order the cycle should try them;
- ``choose(snapshot, job, free, feasible)``: where job row ``job`` goes given the free
  device count per node left by the jobs placed before it (``free``) and its static
  feasibility row over nodes (``feasible``), or a ``Pending`` saying why it cannot go.
The cycle commits each placement to ``free``; a policy only proposes.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Protocol, TypeVar

from huangpu.core.errors import InvalidInput
from huangpu.scheduling.engine import CellPolicy
from huangpu.scheduling.result import Pending, Placement
from huangpu.scheduling.snapshot import BoolArray, IntArray, Snapshot


class Policy(Protocol):
    name: str

    def order(self, snapshot: Snapshot) -> IntArray: ...

    def choose(
        self, snapshot: Snapshot, job: int, free: IntArray, feasible: BoolArray
    ) -> Placement | Pending: ...


class UnknownPolicy(InvalidInput):
    code = "unknown_policy"


P = TypeVar("P", bound=type)

# Policies for the cell engine (``engine.CellPolicy``) rank whole (pool, chip) cells instead.
AnyPolicy = Policy | CellPolicy

_REGISTRY: dict[str, Callable[[], AnyPolicy]] = {}


def register(name: str) -> Callable[[P], P]:
    """Class decorator: make a policy class available as ``get_policy(name)``."""

    def add(cls: P) -> P:
        if name in _REGISTRY:
            raise ValueError(f"policy {name!r} is already registered")
        _REGISTRY[name] = cls
        return cls

    return add


def policy_names() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def get_policy(name: str) -> AnyPolicy:
    factory = _REGISTRY.get(name)
    if factory is None:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownPolicy(
            f"unknown scheduling policy {name!r}.{hint} Known: {', '.join(policy_names())}.",
            "policy",
        )
    return factory()


# Imported last so the built-in policies find ``register`` already defined.
from huangpu.scheduling.policies import (  # noqa: E402, F401
    cost_aware,
    fair_share,
    finish_time,
    first_fit,
    las,
    las_fair_hetero,
    las_hetero,
    lpt_hetero,
    max_min,
    min_makespan,
)
