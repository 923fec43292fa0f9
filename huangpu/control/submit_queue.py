"""Group commit for submissions (``batch_writer``): whatever queued up is inserted in one
transaction, and a bad row is retried alone so it cannot fail its neighbours."""

from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass

from huangpu.control.batch_writer import BatchWriter
from huangpu.core.clock import Clock
from huangpu.core.jobspec import JobSpec
from huangpu.store import jobs as job_repo
from huangpu.store.db import Database
from huangpu.store.models import JobRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Item:
    org_id: str
    spec: JobSpec
    done: Future[JobRow]


class SubmitQueue:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._writer: BatchWriter[_Item] = BatchWriter("submit-writer", self._insert)

    def submit(self, org_id: str, spec: JobSpec) -> Future[JobRow]:
        done: Future[JobRow] = Future()
        self._writer.put(_Item(org_id, spec, done))
        return done

    def close(self) -> None:
        self._writer.close()

    def _insert(self, batch: list[_Item]) -> None:
        try:
            self._commit(batch)
        except Exception:
            if len(batch) == 1:
                log.exception("job insert failed")
                batch[0].done.set_exception(RuntimeError("job could not be stored; retry"))
                return
            # One bad row must not fail its neighbours: retry them one by one.
            for item in batch:
                self._insert([item])

    def _commit(self, batch: list[_Item]) -> None:
        with self.db.write() as session:
            rows = job_repo.insert_jobs(
                session, [(i.org_id, i.spec) for i in batch], self.clock.now()
            )
        for item, row in zip(batch, rows, strict=True):
            item.done.set_result(row)
