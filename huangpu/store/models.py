"""Tables. Money columns are integer fen; times are float Unix seconds from the injected clock."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class OrgRow(Base):
    __tablename__ = "orgs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    category: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Float)


class SupplierRow(Base):
    __tablename__ = "suppliers"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[float] = mapped_column(Float)


class PoolRow(Base):
    __tablename__ = "pools"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    supplier_id: Mapped[str] = mapped_column(ForeignKey("suppliers.id"))
    region: Mapped[str] = mapped_column(String(64))
    executor: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Float)
    # Migration 0006: jobs the engine may queue beyond the free devices; NULL: the default
    # (control/backlog.py).
    engine_backlog: Mapped[int | None] = mapped_column(Integer, nullable=True)


class AgentRow(Base):
    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("pool_id", "name"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"))
    name: Mapped[str] = mapped_column(String(128))
    executor: Mapped[str] = mapped_column(String(16))
    last_seen: Mapped[float] = mapped_column(Float)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    registered_at: Mapped[float] = mapped_column(Float)


class NodeRow(Base):
    __tablename__ = "nodes"
    __table_args__ = (UniqueConstraint("pool_id", "name"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"))
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"), index=True)  # 0007
    name: Mapped[str] = mapped_column(String(128))
    domain: Mapped[str] = mapped_column(String(128))


class DeviceRow(Base):
    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("node_id", "idx"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id"))
    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"), index=True)
    idx: Mapped[int] = mapped_column(Integer)
    chip: Mapped[str] = mapped_column(String(32))
    memory_gib: Mapped[float] = mapped_column(Float)
    healthy: Mapped[bool] = mapped_column(Boolean, default=True)


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_state_updated", "state", "updated_at"),  # 0007
        Index("ix_jobs_org_created", "org_id", "created_at"),
        Index("ix_jobs_agent_state", "agent_id", "state"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"))
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    pool_id: Mapped[str | None] = mapped_column(ForeignKey("pools.id"), nullable=True)
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id"), nullable=True)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    lease_expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    engine_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    log_size: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class JobEventRow(Base):
    __tablename__ = "job_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_state: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[float] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class AllocationRow(Base):
    """One row per device in use: the primary key makes giving a device twice impossible."""

    __tablename__ = "allocations"
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)


class JobLogRow(Base):
    __tablename__ = "job_logs"
    __table_args__ = (UniqueConstraint("job_id", "attempt", "agent_offset"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    agent_offset: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    data: Mapped[str] = mapped_column(Text)


class UsageSampleRow(Base):
    __tablename__ = "usage_samples"
    __table_args__ = (UniqueConstraint("job_id", "attempt", "start"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"))
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    devices: Mapped[int] = mapped_column(Integer)
    device_seconds: Mapped[float] = mapped_column(Float)
    # The ledger transaction that charged this sample (migration 0002); NULL until metered.
    charge_key: Mapped[str | None] = mapped_column(String(200), nullable=True)


class TokenRow(Base):
    __tablename__ = "tokens"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    org_id: Mapped[str | None] = mapped_column(ForeignKey("orgs.id"), nullable=True)
    pool_id: Mapped[str | None] = mapped_column(ForeignKey("pools.id"), nullable=True)
    name: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Migration 0004; NULL: never expires.
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class AuditRow(Base):
    """One operator action (who, what, on which object), written in the action's transaction."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float)
    token_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class UtilSampleRow(Base):
    """Devices in use per pool, sampled by the server so the wall can chart the last 24 h."""

    __tablename__ = "util_samples"
    __table_args__ = (Index("ix_util_samples_at", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float)
    pool_id: Mapped[str] = mapped_column(String(40))
    in_use: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
