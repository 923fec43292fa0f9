"""Quota and preemption tables (migration 0005).

- ``org_quotas``: nominal quota per (org, chip family) in normalised compute units (one A100
  on the default workload class is 1.0), with Kueue's borrowing and lending limits; NULL
  limits mean "no limit", as an unset limit does in Kueue.
- ``org_cohorts``: the cohort an org shares idle quota with (at most one).
- ``job_preemptions``: a running attempt the scheduler asked to stop, why, and with what
  grace; the agent's exit report for that attempt turns it into PREEMPTED → PENDING.
"""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from huangpu.store.models import Base


class OrgQuotaRow(Base):
    __tablename__ = "org_quotas"
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), primary_key=True)
    family: Mapped[str] = mapped_column(String(32), primary_key=True)
    nominal: Mapped[float] = mapped_column(Float)
    borrow_limit: Mapped[float | None] = mapped_column(Float, nullable=True)
    lend_limit: Mapped[float | None] = mapped_column(Float, nullable=True)
    updated_at: Mapped[float] = mapped_column(Float)


class OrgCohortRow(Base):
    __tablename__ = "org_cohorts"
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), primary_key=True)
    cohort: Mapped[str] = mapped_column(String(64), index=True)
    updated_at: Mapped[float] = mapped_column(Float)


class JobPreemptionRow(Base):
    __tablename__ = "job_preemptions"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    for_job: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    grace_s: Mapped[float] = mapped_column(Float)
    requested_at: Mapped[float] = mapped_column(Float)
