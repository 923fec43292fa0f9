"""Group commit for submissions: one writer thread inserts whatever queued up in a single
transaction. Under load this turns N write-lock round trips into one, which is what SQLite
(one writer at a time) needs; PostgreSQL gains fewer commits."""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass

from huangpu.core.clock import Clock
from huangpu.core.jobspec import JobSpec
from huangpu.store import jobs as job_repo
from huangpu.store.db import Database
from huangpu.store.models import JobRow

log = logging.getLogger(__name__)
MAX_BATCH = 512


@dataclass(frozen=True)
class _Item:
    org_id: str
    spec: JobSpec
    done: Future[JobRow]


class SubmitQueue:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="submit-writer", daemon=True)
        self._thread.start()

    def submit(self, org_id: str, spec: JobSpec) -> Future[JobRow]:
        done: Future[JobRow] = Future()
        self._queue.put(_Item(org_id, spec, done))
        return done

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._insert(batch)
                    return
                batch.append(item)
            self._insert(batch)

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
