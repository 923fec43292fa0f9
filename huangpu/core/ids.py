"""Typed, sortable ids: ``job_01JD...``. ULIDs sort by creation time."""

from __future__ import annotations

from typing import NewType

from ulid import ULID

JobId = NewType("JobId", str)
PoolId = NewType("PoolId", str)
OrgId = NewType("OrgId", str)
SupplierId = NewType("SupplierId", str)
AgentId = NewType("AgentId", str)
TokenId = NewType("TokenId", str)

PREFIXES = ("job", "pool", "org", "sup", "agent", "tok", "node", "dev")


def new_id(prefix: str) -> str:
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}; expected one of {PREFIXES}")
    return f"{prefix}_{ULID()}"


def id_prefix(value: str) -> str:
    return value.split("_", 1)[0]
