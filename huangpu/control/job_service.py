"""What tenants and operators do with jobs: submit, list, inspect, follow logs, cancel."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from huangpu.control.submit_queue import SubmitQueue
from huangpu.core.clock import Clock
from huangpu.core.errors import Conflict, InvalidInput
from huangpu.core.jobspec import JobSpec
from huangpu.core.states import LEASED, TERMINAL, JobState
from huangpu.store import jobs as job_repo
from huangpu.store import registry
from huangpu.store.db import Database
from huangpu.store.inventory import job_devices
from huangpu.store.models import JobRow, OrgRow, PoolRow

# Raises InvalidInput when no registered pool could ever run the spec.
FeasibilityCheck = Callable[[JobSpec], None]


@dataclass(frozen=True)
class Caller:
    """Who is asking: operators see every org, tenants only their own."""

    role: str
    org_id: str | None

    @property
    def org_scope(self) -> str | None:
        return None if self.role == "operator" else self.org_id


def job_view(row: JobRow, org_name: str, pool_name: str | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "org_id": row.org_id,
        "org": org_name,
        "name": row.name,
        "kind": row.kind,
        "state": row.state,
        "pool_id": row.pool_id,
        "pool": pool_name,
        "attempt": row.attempt,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "exit_code": row.exit_code,
        "reason": row.reason,
        "cancel_requested": row.cancel_requested,
        "spec": row.spec,
    }


class JobService:
    def __init__(self, db: Database, clock: Clock, feasible: FeasibilityCheck) -> None:
        self.db = db
        self.clock = clock
        self.feasible = feasible
        self.queue = SubmitQueue(db, clock)
        # Org names never change, so a process-wide cache saves a read per submit.
        self._org_names: dict[str, str] = {}
        self._org_ids: dict[str, str] = {}

    def org_for(self, caller: Caller, org_ref: str | None) -> tuple[str, str]:
        """(org id, org name) the caller submits for: a tenant's own org, or the one an
        operator names."""
        if caller.org_scope is not None:
            org_id = caller.org_scope
        elif not org_ref:
            raise InvalidInput("an operator must say which org the job is for", "org")
        else:
            org_id = self._org_ids.get(org_ref, "")
        if org_id not in self._org_names:
            with self.db.read() as session:
                row = (
                    session.get(OrgRow, org_id) if org_id else registry.org(session, org_ref or "")
                )
                if row is None:
                    raise InvalidInput(f"org {org_id!r} no longer exists", "org")
                org_id = row.id
                self._org_names[row.id] = row.name
                self._org_ids[row.name] = self._org_ids[row.id] = row.id
        return org_id, self._org_names[org_id]

    def prepare(self, caller: Caller, spec: JobSpec, org_ref: str | None) -> tuple[str, str]:
        """Every check a submission must pass before it is queued for insertion."""
        org = self.org_for(caller, org_ref)
        self.feasible(spec)
        return org

    def submit(self, caller: Caller, spec: JobSpec, org_ref: str | None) -> dict[str, Any]:
        org_id, org_name = self.prepare(caller, spec, org_ref)
        row = self.queue.submit(org_id, spec).result(timeout=60)
        return job_view(row, org_name, None)

    def list(
        self, caller: Caller, state: JobState | None, org_ref: str | None, limit: int
    ) -> list[dict[str, Any]]:
        with self.db.read() as session:
            query = (
                select(JobRow, OrgRow.name, PoolRow.name)
                .join(OrgRow, OrgRow.id == JobRow.org_id)
                .outerjoin(PoolRow, PoolRow.id == JobRow.pool_id)
                .order_by(JobRow.created_at.desc(), JobRow.id.desc())
                .limit(limit)
            )
            if caller.org_scope is not None:
                query = query.where(JobRow.org_id == caller.org_scope)
            if org_ref:
                query = query.where(JobRow.org_id == registry.org(session, org_ref).id)
            if state is not None:
                query = query.where(JobRow.state == state.value)
            return [job_view(r, o, p) for r, o, p in session.execute(query)]

    def get(self, caller: Caller, job_id: str) -> dict[str, Any]:
        with self.db.read() as session:
            row = job_repo.get(session, job_id, caller.org_scope)
            org = session.get(OrgRow, row.org_id)
            pool = session.get(PoolRow, row.pool_id) if row.pool_id else None
            view = job_view(row, org.name if org else "", pool.name if pool else None)
            view["devices"] = [
                {"node": n, "index": i, "chip": c} for n, i, c in job_devices(session, row.id)
            ]
            view["history"] = [
                {
                    "from_state": e.from_state,
                    "to_state": e.to_state,
                    "attempt": e.attempt,
                    "at": e.at,
                    "reason": e.reason,
                }
                for e in job_repo.history(session, row.id)
            ]
            return view

    def logs(self, caller: Caller, job_id: str, offset: int) -> dict[str, Any]:
        with self.db.read() as session:
            row = job_repo.get(session, job_id, caller.org_scope)
            data = job_repo.read_log(session, row.id, offset)
            return {
                "offset": offset,
                "data": data,
                "next_offset": offset + len(data),
                "complete": JobState(row.state) in TERMINAL and offset + len(data) >= row.log_size,
            }

    def cancel(self, caller: Caller, job_id: str) -> dict[str, Any]:
        now = self.clock.now()
        with self.db.write() as session:
            row = job_repo.get(session, job_id, caller.org_scope)
            state = JobState(row.state)
            if state in TERMINAL:
                raise Conflict(f"job {job_id} already ended ({state}); nothing to cancel", "id")
            if state in LEASED or state in (JobState.PREEMPTED, JobState.LOST):
                # The agent kills the process and reports; the reaper ends it if the agent
                # is gone. LOST/PREEMPTED jobs are cancelled when the reaper requeues them.
                row.cancel_requested = True
            else:
                job_repo.move_or_conflict(
                    session, row.id, state, JobState.CANCELLED, now, "cancelled by user"
                )
                job_repo.release_devices(session, row.id)
        return self.get(caller, job_id)
