"""Group commit for idle heartbeats, the agent protocol's hot path.

Most polls come from agents that run nothing and have nothing to take: all they need is their
``last_seen`` moved forward and the answer "nothing for you". One writer thread takes every such
poll that queued up and serves them together: one query checks which of those agents exist in
the pool their token names, one which of them have work (a lease to take, a cancel or a
preemption to pass on), and one UPDATE moves ``last_seen`` for the idle ones, all in one
transaction. At 1,000 heartbeats a second that is a handful of transactions a second instead of
a thousand, and the answer is still exact: each poll is answered from the database as it was
after the poll arrived, and its ``last_seen`` is written before the answer leaves.

Anything that is not plainly idle (unknown agent, another pool's agent, work waiting) is answered
``False`` and goes the full way (``AgentService.poll_once``), which raises the right error or
hands out the work. ``check`` is the same query without the write; ``sweep`` asks it once for
many agents (every long-poll waiting in a server process, huangpu/api/pollwait.py).

Safe with several server processes on PostgreSQL: batches are independent transactions that
only UPDATE ``agents.last_seen`` (in id order, so two batches never deadlock), and a newer
``last_seen`` is never overwritten by an older one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, String, any_, bindparam, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute, Session

from huangpu.control.batch_writer import BatchWriter
from huangpu.core.states import LEASED, JobState
from huangpu.store.db import Database
from huangpu.store.models import AgentRow, JobRow
from huangpu.store.quota_models import JobPreemptionRow

log = logging.getLogger(__name__)
# Ids per statement in agents_with_work on SQLite (each id is bound twice; SQLite allows
# 32,766 parameters). PostgreSQL takes any number in one array parameter.
SQLITE_CHUNK = 2000
_LEASED = [s.value for s in LEASED]


@dataclass(frozen=True)
class _Beat:
    pool_id: str | None  # None: a check (no pool check, no write)
    agent_id: str
    now: float
    done: Future[bool]


@dataclass(frozen=True)
class _Sweep:
    agent_ids: list[str]
    done: Future[set[str]]


def one_of(
    session: Session, column: InstrumentedAttribute[Any], ids: list[str]
) -> ColumnElement[bool]:
    """``column IN ids``; on PostgreSQL ``column = ANY(:ids)`` with one array parameter, whose
    SQL text is the same for every batch size. An IN list is rendered and parsed anew for
    each size (a share of the writer's CPU at 1,000 heartbeats a second)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, ids, type_=ARRAY(String)))
    return column.in_(ids)


def agents_with_work(session: Session, agent_ids: Iterable[str]) -> set[str]:
    """Those of ``agent_ids`` with a lease to take, or a cancel or a preemption to pass on
    (the same conditions as ``AgentService.poll_once`` hands out)."""
    ids = sorted(set(agent_ids))
    if not ids:
        return set()
    if len(ids) > SQLITE_CHUNK and session.get_bind().dialect.name != "postgresql":
        found: set[str] = set()
        for start in range(0, len(ids), SQLITE_CHUNK):
            found |= _with_work(session, ids[start : start + SQLITE_CHUNK])
        return found
    return _with_work(session, ids)


def _with_work(session: Session, ids: list[str]) -> set[str]:
    work = (JobRow.state == JobState.SCHEDULED.value) | (
        JobRow.cancel_requested.is_(True) & JobRow.state.in_(_LEASED)
    )
    preempted = select(JobRow.agent_id).join(
        JobPreemptionRow,
        (JobRow.id == JobPreemptionRow.job_id) & (JobRow.attempt == JobPreemptionRow.attempt),
    )
    found = session.scalars(
        select(JobRow.agent_id)
        .where(one_of(session, JobRow.agent_id, ids), work)
        .union(preempted.where(one_of(session, JobRow.agent_id, ids), JobRow.state.in_(_LEASED)))
    )
    return {agent_id for agent_id in found if agent_id is not None}


class HeartbeatQueue:
    """``beat()`` records an idle heartbeat; its future says whether the poll is done (True)
    or must take the full path (False). ``check()`` only says whether there is work.

    ``last_seen`` younger than ``fresh_seconds`` is left as it is (fewer row writes for agents
    that long-poll often). The idle agents of one batch are stamped with the newest ``now`` of
    the batch: all of them polled before it, and the batch is served after it."""

    def __init__(self, db: Database, fresh_seconds: float = 0.0) -> None:
        self.db = db
        self.fresh_seconds = fresh_seconds
        self._writer: BatchWriter[_Beat | _Sweep] = BatchWriter("heartbeat-writer", self._batch)

    def beat(self, pool_id: str, agent_id: str, now: float) -> Future[bool]:
        done: Future[bool] = Future()
        self._writer.put(_Beat(pool_id, agent_id, now, done))
        return done

    def check(self, agent_id: str) -> Future[bool]:
        """True when the agent has work waiting (a read; nothing is written)."""
        done: Future[bool] = Future()
        self._writer.put(_Beat(None, agent_id, 0.0, done))
        return done

    def sweep(self, agent_ids: list[str]) -> Future[set[str]]:
        """Those of ``agent_ids`` with work waiting: ``check`` for many agents in one read."""
        done: Future[set[str]] = Future()
        self._writer.put(_Sweep(list(agent_ids), done))
        return done

    def close(self) -> None:
        self._writer.close()

    def _batch(self, batch: list[_Beat | _Sweep]) -> None:
        for sweep in (item for item in batch if isinstance(item, _Sweep)):
            self._serve_sweep(sweep)
        beats = [item for item in batch if isinstance(item, _Beat)]
        if beats:
            self._serve(beats)

    def _serve_sweep(self, sweep: _Sweep) -> None:
        try:
            with self.db.read() as session:
                busy = agents_with_work(session, sweep.agent_ids)
        except Exception as error:
            log.exception("heartbeat sweep failed")
            sweep.done.set_exception(error)
            return
        sweep.done.set_result(busy)

    def _serve(self, batch: list[_Beat]) -> None:
        try:
            answers = self._answer(batch)
        except Exception as error:
            log.exception("heartbeat batch failed")
            for item in batch:
                if not item.done.done():
                    item.done.set_exception(error)
            return
        for item, answer in zip(batch, answers, strict=True):
            item.done.set_result(answer)

    def _answer(self, batch: list[_Beat]) -> list[bool]:
        beats = [b for b in batch if b.pool_id is not None]
        with self.db.write() if beats else self.db.read() as session:
            ids = {b.agent_id for b in batch}
            busy = agents_with_work(session, ids)
            if not beats:
                return [b.agent_id in busy for b in batch]
            known = {
                row.id: (row.pool_id, row.last_seen)
                for row in session.execute(
                    select(AgentRow.id, AgentRow.pool_id, AgentRow.last_seen).where(
                        one_of(session, AgentRow.id, sorted({b.agent_id for b in beats}))
                    )
                )
            }

            def idle(b: _Beat) -> bool:
                return b.agent_id not in busy and known.get(b.agent_id, ("", 0.0))[0] == b.pool_id

            stamp = max(b.now for b in beats)
            stale = sorted(
                {
                    b.agent_id
                    for b in beats
                    if idle(b) and known[b.agent_id][1] < stamp - self.fresh_seconds
                }
            )
            if stale:
                # One statement, rows in id order (two server processes never deadlock), and
                # never moving last_seen backwards.
                session.execute(
                    update(AgentRow)
                    .where(one_of(session, AgentRow.id, stale), AgentRow.last_seen < stamp)
                    .values(last_seen=stamp)
                    .execution_options(synchronize_session=False)
                )
            return [b.agent_id in busy if b.pool_id is None else idle(b) for b in batch]
