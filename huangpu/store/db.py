"""Engines and transactions. SQLite runs in WAL mode; writers take the lock up front
(BEGIN IMMEDIATE) so two processes never deadlock upgrading a read lock. PostgreSQL uses
the same code through a ``postgresql+psycopg://`` URL."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_engine(url: str, immediate: bool) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@dataclass
class Database:
    url: str
    writer: Engine
    reader: Engine

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction that commits on success and rolls back on any error."""
        with self._writer_sessions() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader_sessions() as session, session.begin():
            yield session

    def __post_init__(self) -> None:
        self._writer_sessions = sessionmaker(self.writer, expire_on_commit=False)
        self._reader_sessions = sessionmaker(self.reader, expire_on_commit=False)

    def dispose(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


def connect(url: str, migrate: bool = True) -> Database:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = Database(url, _sqlite_engine(url, True), _sqlite_engine(url, False))
    else:
        engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
        db = Database(url, engine, engine)
    if migrate:
        upgrade(db)
    return db


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(db: Database, revision: str = "head") -> None:
    from alembic import command

    # Alembic narrates every plugin at INFO; users only need to hear about problems.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with db.writer.connect() as conn:
        config = _alembic_config(db.url)
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        conn.commit()


def downgrade(db: Database, revision: str = "base") -> None:
    from alembic import command

    with db.writer.connect() as conn:
        config = _alembic_config(db.url)
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
        conn.commit()


def head_revision() -> str | None:
    """The newest migration the code knows."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config("sqlite://")).get_current_head()


def current_revision(db: Database) -> str | None:
    """The migration the database is at (None before the first)."""
    from alembic.runtime.migration import MigrationContext

    with db.writer.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
