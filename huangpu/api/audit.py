"""Audit rows for API actions whose writes happen inside a service (the ledger's).

``AuditedDatabase`` is the same database with one difference: its write transaction adds the
audit row just before it commits. A service that makes its change in one ``db.write()`` thus
records who did it in that very transaction, with no change to the service: if the change
rolls back, so does the row, and a committed change always has its row.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from huangpu.api.auth import Principal
from huangpu.store import dashboard
from huangpu.store.db import Database


@dataclass
class AuditEntry:
    who: Principal
    action: str
    target: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


class AuditedDatabase(Database):
    def __init__(self, inner: Database, entry: AuditEntry, now: float) -> None:
        super().__init__(inner.url, inner.writer, inner.reader)
        self.entry, self.now = entry, now

    @contextmanager
    def write(self) -> Iterator[Session]:
        with super().write() as session:
            yield session
            e = self.entry
            dashboard.audit(
                session, self.now, e.who.token_id, e.who.role, e.action, e.target, e.detail
            )
