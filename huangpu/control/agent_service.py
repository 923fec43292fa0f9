"""The server side of the agent protocol (DESIGN.md): register, poll, report.

Leases are bound to a job attempt. Each poll renews the leases of the jobs the agent says it
runs; anything it runs that is no longer its current attempt is answered with "stop".
A report is applied in one transaction together with the agent's sequence number, so a
repeated report changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from huangpu.control import backlog
from huangpu.control.heartbeats import HeartbeatQueue, agents_with_work
from huangpu.core.catalog import load_catalog
from huangpu.core.clock import Clock
from huangpu.core.errors import Forbidden, NotFound
from huangpu.core.jobspec import JobSpec
from huangpu.core.protocol import (
    FEATURE_BACKLOG,
    FEATURE_PREEMPT,
    DevicePlacement,
    ExitedEvent,
    JobRef,
    Lease,
    LogEvent,
    Outcome,
    PollResponse,
    PreemptRef,
    ProgressEvent,
    RegisterRequest,
    RegisterResponse,
    ReportRequest,
    ReportResponse,
    RunningJob,
    StartedEvent,
    UsageEvent,
)
from huangpu.core.states import LEASED, JobState
from huangpu.store import jobs as job_repo
from huangpu.store import registry
from huangpu.store.db import Database
from huangpu.store.inventory import job_devices
from huangpu.store.models import AgentRow, JobRow, UsageSampleRow
from huangpu.store.quota_models import JobPreemptionRow

# An idle agent's poll skips the last_seen write while it is fresher than this part of the
# lease (see AgentService.beat and control/heartbeats.py).
FRESH_FRACTION = 0.25

_REQUEUE_CLEAR = {"agent_id": None, "pool_id": None, "lease_expires_at": None, "engine_id": None}

_OUTCOME_STATE = {
    Outcome.SUCCEEDED: JobState.SUCCEEDED,
    Outcome.FAILED: JobState.FAILED,
    Outcome.CANCELLED: JobState.CANCELLED,
}


class AgentService:
    def __init__(self, db: Database, clock: Clock, lease_seconds: float, poll_timeout: float):
        self.db = db
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.poll_timeout = poll_timeout
        self.heartbeats = HeartbeatQueue(db, lease_seconds * FRESH_FRACTION)

    def register(self, pool_id: str, request: RegisterRequest) -> RegisterResponse:
        now = self.clock.now()
        with self.db.write() as session:
            pool = registry.pool(session, pool_id)
            agent = registry.upsert_agent(
                session, pool.id, request.agent_name, request.executor.value, request.nodes, now
            )
            self._renew(session, agent, request.running, now)
            return RegisterResponse(
                agent_id=agent.id,
                pool_id=pool.id,
                pool_name=pool.name,
                lease_seconds=self.lease_seconds,
                poll_timeout_seconds=self.poll_timeout,
                last_seq=agent.last_seq,
            )

    def _agent(self, session: Session, pool_id: str, agent_id: str) -> AgentRow:
        agent = session.get(AgentRow, agent_id)
        if agent is None:
            raise NotFound(f"no agent {agent_id!r}; register again", "agent_id")
        if agent.pool_id != pool_id:
            raise Forbidden("this token belongs to another pool's agent", "agent_id")
        return agent

    def _renew(
        self, session: Session, agent: AgentRow, running: list[RunningJob], now: float
    ) -> list[JobRef]:
        """Extend the leases of the jobs this agent runs; return those it must stop."""
        stop: list[JobRef] = []
        if not running:
            return stop
        ids = [r.job_id for r in running]
        current = {row.id: row for row in session.scalars(select(JobRow).where(JobRow.id.in_(ids)))}
        keep: list[str] = []
        for ref in running:
            row = current.get(ref.job_id)
            if (
                row is None
                or row.agent_id != agent.id
                or row.attempt != ref.attempt
                or JobState(row.state) not in LEASED
            ):
                stop.append(JobRef(job_id=ref.job_id, attempt=ref.attempt))
            else:
                keep.append(row.id)
        if keep:
            session.execute(
                update(JobRow)
                .where(JobRow.id.in_(keep))
                .values(lease_expires_at=now + self.lease_seconds)
            )
        return stop

    def has_work(self, agent_id: str) -> bool:
        """A cheap read: is there a lease to hand out or a cancel to pass on?"""
        with self.db.read() as session:
            return agent_id in agents_with_work(session, [agent_id])

    @staticmethod
    def _preempting(session: Session, agent_id: str) -> list[PreemptRef]:
        """Attempts of this agent the scheduler asked to stop (a cancel request wins)."""
        rows = session.execute(
            select(JobPreemptionRow)
            .join(
                JobRow,
                (JobRow.id == JobPreemptionRow.job_id)
                & (JobRow.attempt == JobPreemptionRow.attempt),
            )
            .where(
                JobRow.agent_id == agent_id,
                JobRow.cancel_requested.is_(False),
                JobRow.state.in_([s.value for s in LEASED]),
            )
        ).scalars()
        return [
            PreemptRef(job_id=r.job_id, attempt=r.attempt, grace_seconds=r.grace_s, reason=r.reason)
            for r in rows
        ]

    def poll_once(
        self,
        pool_id: str,
        agent_id: str,
        running: list[RunningJob],
        features: Sequence[str] = (),
        *,
        idle_checked: bool = False,
    ) -> PollResponse:
        """The full poll. ``idle_checked``: the caller already had ``beat`` answer False."""
        now = self.clock.now()
        if not running and not idle_checked and self.beat(pool_id, agent_id).result():
            return PollResponse(leases=[], cancel=[], stop=[], preempt=[])
        with self.db.write() as session:
            agent = self._agent(session, pool_id, agent_id)
            agent.last_seen = now
            stop = self._renew(session, agent, running, now)
            takes_backlog = FEATURE_BACKLOG in features
            leases = [
                self._lease(session, row, now, takes_backlog)
                for row in session.scalars(
                    select(JobRow)
                    .where(JobRow.agent_id == agent.id, JobRow.state == JobState.SCHEDULED.value)
                    .order_by(JobRow.updated_at)
                ).all()
            ]
            cancel = [
                JobRef(job_id=row.id, attempt=row.attempt)
                for row in session.scalars(
                    select(JobRow).where(
                        JobRow.agent_id == agent.id,
                        JobRow.cancel_requested.is_(True),
                        JobRow.state.in_([s.value for s in LEASED]),
                    )
                )
            ]
            preempt = self._preempting(session, agent.id)
            if FEATURE_PREEMPT not in features:
                # An older agent only knows cancel: it stops the job with its own grace, and
                # its exit report is still recorded as a preemption.
                cancel += [JobRef(job_id=p.job_id, attempt=p.attempt) for p in preempt]
                preempt = []
            return PollResponse(
                leases=[lease for lease in leases if lease],
                cancel=cancel,
                stop=stop,
                preempt=preempt,
            )

    def beat(self, pool_id: str, agent_id: str) -> Future[bool]:
        """An idle heartbeat (the agent runs nothing), served by a group commit with the others
        that queued up (control/heartbeats.py): True when it is fully answered, i.e. the agent
        belongs to the pool, has nothing to take, and its ``last_seen`` is written (or younger
        than ``FRESH_FRACTION`` of the lease); False: take ``poll_once``'s full path.

        Skipping a fresh ``last_seen`` keeps the agent online: the next poll (at most
        ``poll_timeout`` later, well under the rest of the lease) writes it again. Jobs' leases
        are renewed only when ``running`` is non-empty, which never takes this path.
        """
        return self.heartbeats.beat(pool_id, agent_id, self.clock.now())

    def _lease(
        self, session: Session, row: JobRow, now: float, takes_backlog: bool = True
    ) -> Lease | None:
        expires = now + self.lease_seconds
        placed = job_devices(session, row.id)
        queued = not placed and row.spec.get("resources", {}).get("accelerators", 0) > 0
        if queued and not takes_backlog:
            # An agent older than backlog leases cannot read one: back to the queue.
            job_repo.move(
                session,
                row.id,
                JobState.SCHEDULED,
                JobState.PENDING,
                now,
                "the pool's agent takes no backlog leases; upgrade it or set engine_backlog 0",
                **_REQUEUE_CLEAR,
            )
            return None
        if not job_repo.move(
            session,
            row.id,
            JobState.SCHEDULED,
            JobState.STARTING,
            now,
            "lease taken by agent",
            lease_expires_at=expires,
        ):
            return None
        catalog = load_catalog()
        visibility: dict[str, str] = {}
        if placed:
            env = catalog.models[placed[0][2]].family_info.visibility_env
            # Indices are per node; a gang job's nodes each see their own list.
            first_node = placed[0][0]
            visibility[env] = ",".join(str(i) for n, i, _ in placed if n == first_node)
        spec = JobSpec.model_validate(row.spec)
        return Lease(
            job_id=row.id,
            attempt=row.attempt,
            spec=spec,
            devices=[DevicePlacement(node=n, index=i) for n, i, _ in placed],
            visibility_env=visibility,
            expires_at=expires,
            queued=queued,
            chip=backlog.lease_chip(session, row.agent_id or "", spec) if queued else "",
        )

    def report(self, pool_id: str, request: ReportRequest) -> ReportResponse:
        now = self.clock.now()
        with self.db.write() as session:
            agent = self._agent(session, pool_id, request.agent_id)
            agent.last_seen = now
            if request.seq <= agent.last_seq:
                return ReportResponse(acked_seq=agent.last_seq, duplicate=True)
            stop: dict[tuple[str, int], JobRef] = {}
            for event in request.events:
                ref = JobRef(job_id=event.job_id, attempt=event.attempt)
                if not self._apply(session, agent, event, now):
                    stop[(ref.job_id, ref.attempt)] = ref
            if any(isinstance(e, StartedEvent | ExitedEvent) for e in request.events):
                # Backlog jobs the engine started get their devices, whatever the order of
                # the Started and Exited events (control/backlog.py).
                backlog.settle(session, agent.id)
            agent.last_seq = request.seq
            return ReportResponse(acked_seq=request.seq, stop=list(stop.values()))

    def _apply(
        self,
        session: Session,
        agent: AgentRow,
        event: StartedEvent | ExitedEvent | LogEvent | UsageEvent | ProgressEvent,
        now: float,
    ) -> bool:
        """Apply one event; False when the attempt is no longer this agent's to run."""
        row = session.get(JobRow, event.job_id)
        if row is None:
            return False
        current = row.agent_id == agent.id and row.attempt == event.attempt
        if isinstance(event, ProgressEvent):
            return current  # accepted, not stored yet: the throughput learner will read these
        if isinstance(event, LogEvent):
            job_repo.append_log(session, row.id, event.attempt, event.offset, event.data)
            return current or JobState(row.state) not in LEASED
        if isinstance(event, UsageEvent):
            if not self._sample_seen(session, row.id, event):
                session.add(
                    UsageSampleRow(
                        job_id=row.id,
                        attempt=event.attempt,
                        agent_id=agent.id,
                        start=event.start,
                        end=event.end,
                        devices=event.devices,
                        device_seconds=event.device_seconds,
                    )
                )
            return current
        if not current:
            return False
        state = JobState(row.state)
        if isinstance(event, StartedEvent):
            if state is JobState.STARTING:
                job_repo.move(
                    session,
                    row.id,
                    state,
                    JobState.RUNNING,
                    now,
                    "process started",
                    engine_id=event.engine_id,
                    lease_expires_at=now + self.lease_seconds,
                )
            return state in LEASED
        if state not in LEASED:
            return True  # already ended: a repeated exit changes nothing
        if self._preempted(session, row, state, event, now):
            return True
        target = _OUTCOME_STATE[event.outcome]
        reason = event.reason or (f"exit code {event.exit_code}" if event.exit_code else None)
        job_repo.move(
            session,
            row.id,
            state,
            target,
            now,
            reason,
            exit_code=event.exit_code,
            reason=reason,
            lease_expires_at=None,
        )
        job_repo.release_devices(session, row.id)
        return True

    @staticmethod
    def _preempted(
        session: Session, row: JobRow, state: JobState, event: ExitedEvent, now: float
    ) -> bool:
        """The exit of an attempt asked to stop for a preemption: PREEMPTED, then PENDING again
        (it resumes from its checkpoint). A job that succeeded meanwhile, or that its owner
        cancelled, ends as it would have anyway."""
        asked = session.get(JobPreemptionRow, (row.id, row.attempt))
        if asked is None or row.cancel_requested or event.outcome is Outcome.SUCCEEDED:
            return False
        job_repo.move_or_conflict(
            session,
            row.id,
            state,
            JobState.PREEMPTED,
            now,
            asked.reason,
            exit_code=event.exit_code,
            reason=asked.reason,
            lease_expires_at=None,
        )
        job_repo.release_devices(session, row.id)
        job_repo.move_or_conflict(
            session,
            row.id,
            JobState.PREEMPTED,
            JobState.PENDING,
            now,
            "requeued after preemption: resumes from its last checkpoint",
            **_REQUEUE_CLEAR,
        )
        return True

    @staticmethod
    def _sample_seen(session: Session, job_id: str, event: UsageEvent) -> bool:
        found = session.scalar(
            select(UsageSampleRow.id).where(
                UsageSampleRow.job_id == job_id,
                UsageSampleRow.attempt == event.attempt,
                UsageSampleRow.start == event.start,
            )
        )
        return found is not None
