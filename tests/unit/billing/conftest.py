"""Fixtures for the persisted ledger: a fresh database on SQLite and on a real PostgreSQL, and
the ``books`` builder on it. Also puts this folder on sys.path so tests import
``billing_builders`` by name (pytest's importlib mode does not)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from billing_builders import T0, Books  # noqa: E402

from huangpu.core.clock import ManualClock  # noqa: E402
from huangpu.store.db import Database, connect  # noqa: E402


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated database: a SQLite file, or a fresh database in a real PostgreSQL."""
    if request.param == "sqlite":
        database = connect(f"sqlite:///{tmp_path / 'ledger.db'}")
        yield database
        database.dispose()
        return
    server_url = request.getfixturevalue("pg_url")
    name = f"ledger_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    database = connect(server_url.rsplit("/", 1)[0] + f"/{name}")
    yield database
    database.dispose()
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture
def books(db: Database) -> Books:
    return Books(db, ManualClock(T0 + 2 * 86_400))
