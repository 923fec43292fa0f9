"""Orgs, suppliers, pools, agents and their inventory, and tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from huangpu.core.domain import Node
from huangpu.core.errors import Conflict, InvalidInput, NotFound
from huangpu.core.ids import new_id
from huangpu.store.models import (
    AgentRow,
    DeviceRow,
    NodeRow,
    OrgRow,
    PoolRow,
    SupplierRow,
    TokenRow,
)

_Named = OrgRow | SupplierRow | PoolRow


def _by_name_or_id(
    session: Session, model: type[_Named], ref: str, field: str, noun: str
) -> _Named:
    row = cast(
        "_Named | None",
        session.scalar(select(model).where(or_(model.id == ref, model.name == ref))),
    )
    if row is None:
        raise NotFound(f"no {noun} named {ref!r}; list them with `huangpu {noun}s`", field)
    return row


def org(session: Session, ref: str, field: str = "org") -> OrgRow:
    row = _by_name_or_id(session, OrgRow, ref, field, "org")
    assert isinstance(row, OrgRow)
    return row


def supplier(session: Session, ref: str, field: str = "supplier") -> SupplierRow:
    row = _by_name_or_id(session, SupplierRow, ref, field, "supplier")
    assert isinstance(row, SupplierRow)
    return row


def pool(session: Session, ref: str, field: str = "pool") -> PoolRow:
    row = _by_name_or_id(session, PoolRow, ref, field, "pool")
    assert isinstance(row, PoolRow)
    return row


def _insert_unique(session: Session, row: object, name: str, noun: str) -> None:
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise Conflict(f"a {noun} named {name!r} already exists", "name") from None


def create_org(session: Session, name: str, category: str, now: float) -> OrgRow:
    row = OrgRow(id=new_id("org"), name=name, category=category, created_at=now)
    _insert_unique(session, row, name, "org")
    return row


def create_supplier(session: Session, name: str, now: float) -> SupplierRow:
    row = SupplierRow(id=new_id("sup"), name=name, created_at=now)
    _insert_unique(session, row, name, "supplier")
    return row


def create_pool(
    session: Session,
    name: str,
    supplier_ref: str,
    region: str,
    executor: str,
    now: float,
    engine_backlog: int | None = None,
) -> PoolRow:
    sup = supplier(session, supplier_ref)
    row = PoolRow(
        id=new_id("pool"),
        name=name,
        supplier_id=sup.id,
        region=region,
        executor=executor,
        created_at=now,
        engine_backlog=engine_backlog,
    )
    _insert_unique(session, row, name, "pool")
    return row


def list_rows(session: Session, model: type[_Named | TokenRow]) -> Sequence[Any]:
    return session.scalars(select(model).order_by(model.created_at)).all()


# --- tokens ---------------------------------------------------------------------------------

TOKEN_PREFIX = "hp_"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    row: TokenRow
    secret: str


def create_token(
    session: Session,
    role: str,
    org_id: str | None,
    pool_id: str | None,
    name: str,
    now: float,
    expires_at: float | None = None,
) -> IssuedToken:
    if role == "tenant" and org_id is None:
        raise InvalidInput("a tenant token must be bound to an org (--org)", "org")
    if role == "agent" and pool_id is None:
        raise InvalidInput("an agent token must be bound to a pool (--pool)", "pool")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = TokenRow(
        id=new_id("tok"),
        secret_hash=hash_secret(secret),
        role=role,
        org_id=org_id,
        pool_id=pool_id,
        name=name,
        created_at=now,
        revoked_at=None,
        expires_at=expires_at,
    )
    session.add(row)
    return IssuedToken(row, secret)


def find_token(session: Session, secret: str, now: float | None = None) -> TokenRow | None:
    """The live token with this secret: not revoked and not expired at ``now``.

    The lookup is by SHA-256 of the secret, never by the secret itself, so the database's
    comparison time depends only on a hash the caller cannot steer; the found hash is then
    compared again in constant time, so no code path compares secrets byte by byte."""
    digest = hash_secret(secret)
    row = session.scalar(select(TokenRow).where(TokenRow.secret_hash == digest))
    if row is None or not hmac.compare_digest(row.secret_hash, digest):
        return None
    if row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= (time.time() if now is None else now):
        return None
    return row


def revoke_token(session: Session, token_id: str, now: float) -> TokenRow:
    row = session.get(TokenRow, token_id)
    if row is None:
        raise NotFound(f"no token {token_id!r}", "id")
    row.revoked_at = row.revoked_at or now
    return row


def has_operator_token(session: Session) -> bool:
    found = session.scalar(
        select(TokenRow.id).where(TokenRow.role == "operator", TokenRow.revoked_at.is_(None))
    )
    return found is not None


# --- agents and inventory -------------------------------------------------------------------


def upsert_agent(
    session: Session, pool_id: str, name: str, executor: str, nodes: list[Node], now: float
) -> AgentRow:
    agent = session.scalar(
        select(AgentRow).where(AgentRow.pool_id == pool_id, AgentRow.name == name)
    )
    if agent is None:
        agent = AgentRow(
            id=new_id("agent"),
            pool_id=pool_id,
            name=name,
            executor=executor,
            last_seen=now,
            last_seq=0,
            registered_at=now,
        )
        session.add(agent)
        session.flush()
    agent.last_seen = now
    agent.executor = executor
    _sync_inventory(session, agent, nodes)
    return agent


def _sync_inventory(session: Session, agent: AgentRow, nodes: list[Node]) -> None:
    # Only the nodes this report names (the (pool, name) unique index): loading the whole
    # pool made each registration slower as the pool grew, quadratic over a city's agents.
    names = [node.name for node in nodes]
    found = select(NodeRow).where(NodeRow.pool_id == agent.pool_id, NodeRow.name.in_(names))
    existing = {n.name: n for n in session.scalars(found)} if names else {}
    seen_devices: set[str] = set()
    for node in nodes:
        row = existing.get(node.name)
        if row is None:
            row = NodeRow(
                id=new_id("node"),
                pool_id=agent.pool_id,
                agent_id=agent.id,
                name=node.name,
                domain=node.domain,
            )
            session.add(row)
            session.flush()
        row.agent_id, row.domain = agent.id, node.domain
        devices = {
            d.idx: d for d in session.scalars(select(DeviceRow).where(DeviceRow.node_id == row.id))
        }
        for dev in node.devices:
            drow = devices.get(dev.index)
            if drow is None:
                drow = DeviceRow(
                    id=new_id("dev"),
                    node_id=row.id,
                    pool_id=agent.pool_id,
                    idx=dev.index,
                    chip=dev.chip,
                    memory_gib=dev.memory_gib,
                )
                session.add(drow)
            drow.chip, drow.memory_gib, drow.healthy = dev.chip, dev.memory_gib, dev.healthy
            seen_devices.add(drow.id)
    # Devices this agent no longer reports stay in the table (allocations point at them) but
    # are taken out of service.
    owned = select(NodeRow.id).where(NodeRow.agent_id == agent.id)
    stale = select(DeviceRow.id).where(DeviceRow.node_id.in_(owned))
    if seen_devices:
        stale = stale.where(DeviceRow.id.not_in(seen_devices))
    session.execute(update(DeviceRow).where(DeviceRow.id.in_(stale)).values(healthy=False))
