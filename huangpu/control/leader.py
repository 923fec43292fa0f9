"""Leader election for the scheduler loop: with several scheduler processes (say one beside
each server replica), exactly one runs cycles at a time; the others wait as hot standbys.

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) held on a connection
  of its own. PostgreSQL frees it the moment that session ends, so a leader that crashes,
  is killed or loses its network hands over without any timeout to wait out.
- SQLite: an exclusive ``flock`` on a file beside the database. SQLite serves one host, and
  the kernel frees the lock when the holder's process ends, however it ends.

Each cycle the loop calls ``is_leader()``: the holder re-checks that its lock is still there
(for PostgreSQL, that its session is alive), a standby tries to take it. Neither blocks.
Safety does not rest on the lock alone: every placement is still a compare-and-set, and the
allocations table's primary key refuses a device given twice (loop.py).
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, text

from huangpu.store.db import Database

log = logging.getLogger(__name__)

# Any constant both sides agree on; "huangpu1" as a 64-bit integer, to stay clear of others.
ADVISORY_KEY = int.from_bytes(b"huangpu1", "big") & 0x7FFF_FFFF_FFFF_FFFF


class Leadership(Protocol):
    def is_leader(self) -> bool: ...

    def release(self) -> None: ...


class AdvisoryLockLeader:
    """PostgreSQL: the session-level advisory lock ``ADVISORY_KEY``."""

    def __init__(self, db: Database, key: int = ADVISORY_KEY) -> None:
        self.db, self.key = db, key
        self._conn: Connection | None = None

    def is_leader(self) -> bool:
        try:
            if self._conn is not None:
                # Still ours while the session lives: a cheap round trip proves it does.
                self._conn.execute(text("SELECT 1"))
                return True
            conn = self.db.writer.connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
            conn.commit()  # end the implicit transaction; the session lock stays
            if got:
                self._conn = conn
                return True
            conn.close()
            return False
        except Exception:  # a dead session means the lock is gone: stand down, retry later
            log.warning("leader: lost the database session", exc_info=True)
            self._drop()
            return False

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()  # never back to the pool with the lock on it
                conn.close()
            except Exception:
                log.debug("leader: closing a broken connection failed", exc_info=True)

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                self._conn.commit()
            except Exception:
                log.debug("leader: unlock failed; closing the session frees it", exc_info=True)
        self._drop()


class FileLockLeader:
    """SQLite: an exclusive, non-blocking ``flock`` on ``<database>.scheduler.lock``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def is_leader(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # who holds it, for people looking
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def leadership_for(db: Database) -> Leadership:
    if db.is_sqlite:
        path = db.url.split("///", 1)[-1]
        if not path or path == ":memory:":
            raise ValueError("a scheduler needs a database file, not an in-memory SQLite")
        return FileLockLeader(Path(f"{path}.scheduler.lock"))
    return AdvisoryLockLeader(db)


class LeaderGate:
    """What the loop asks each cycle; logs each change of role once."""

    def __init__(self, leadership: Leadership) -> None:
        self.leadership = leadership
        self.leading = False

    def __call__(self) -> bool:
        now = self.leadership.is_leader()
        if now != self.leading:
            log.warning("leader: %s (pid %d)", "acquired" if now else "lost", os.getpid())
            self.leading = now
        return now

    def release(self) -> None:
        if self.leading:
            log.warning("leader: released (pid %d)", os.getpid())
        self.leading = False
        self.leadership.release()
