"""Fresh databases for tests: a SQLite file, or a new database in a running PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text


def fresh_database(engine: str, tmp: Path, pg_server_url: str | None = None) -> Iterator[str]:
    """Yields the URL of a new, empty database on ``engine``; a PostgreSQL one is dropped
    afterwards (``pg_server_url`` is the server's maintenance database URL)."""
    if engine == "sqlite":
        yield f"sqlite:///{tmp / f'huangpu-{uuid.uuid4().hex[:8]}.db'}"
        return
    assert pg_server_url is not None, "a postgres database needs the server's URL"
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield pg_server_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
