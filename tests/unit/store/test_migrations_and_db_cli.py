"""Alembic goes up and down cleanly on SQLite and PostgreSQL, one revision at a time, and
`huangpu db upgrade|check|backup|restore` work on both (issue 9)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, update
from typer.testing import CliRunner

from huangpu.cli.main import app
from huangpu.store import registry
from huangpu.store.db import (
    _alembic_config,
    connect,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from huangpu.store.ledger_models import LedgerBalanceRow
from huangpu.store.models import Base, OrgRow

runner = CliRunner()


def _revisions() -> list[str]:
    script = ScriptDirectory.from_config(_alembic_config("sqlite://"))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def _tables(db_url: str) -> set[str]:
    db = connect(db_url, migrate=False)
    try:
        with db.writer.connect() as conn:
            return set(inspect(conn).get_table_names()) - {"alembic_version"}
    finally:
        db.dispose()


def _declared_indexes() -> set[tuple[str, str]]:
    return {(t.name, str(i.name)) for t in Base.metadata.sorted_tables for i in t.indexes}


def _indexes(db_url: str) -> set[tuple[str, str]]:
    db = connect(db_url, migrate=False)
    try:
        with db.writer.connect() as conn:
            found = inspect(conn)
            return {
                (table, str(i["name"]))
                for table in found.get_table_names()
                for i in found.get_indexes(table)
            }
    finally:
        db.dispose()


def test_migrations_go_up_and_down_one_step_at_a_time(database_url: str) -> None:
    db = connect(database_url, migrate=False)
    try:
        revisions = _revisions()
        assert revisions[-1] == head_revision()
        for rev in revisions:
            upgrade(db, rev)
            assert current_revision(db) == rev
        # At head the schema holds every table and index the models declare.
        assert {t.name for t in Base.metadata.sorted_tables} <= _tables(database_url)
        assert _declared_indexes() <= _indexes(database_url)
        for previous in [*reversed(revisions[:-1]), "base"]:
            downgrade(db, previous)
            assert current_revision(db) == (None if previous == "base" else previous)
        assert _tables(database_url) == set()
        upgrade(db)  # and up again, on the emptied database
        assert current_revision(db) == head_revision()
    finally:
        db.dispose()


def test_db_cli_upgrade_check_and_a_broken_balance(database_url: str) -> None:
    r = runner.invoke(app, ["db", "upgrade", "--database-url", database_url])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["db", "check", "--database-url", database_url, "--json"])
    assert r.exit_code == 0 and '"ok": true' in r.output, r.output
    db = connect(database_url)
    try:
        with db.write() as s:
            s.add(LedgerBalanceRow(account="tenant_cash:org_x", balance_fen=5))
    finally:
        db.dispose()
    r = runner.invoke(app, ["db", "check", "--database-url", database_url])
    assert r.exit_code == 1 and "tenant_cash:org_x" in r.output, r.output


def test_db_check_names_a_database_behind_the_code(database_url: str) -> None:
    db = connect(database_url, migrate=False)
    try:
        upgrade(db, _revisions()[0])
    finally:
        db.dispose()
    r = runner.invoke(app, ["db", "check", "--database-url", database_url])
    assert r.exit_code == 1 and "huangpu db upgrade" in r.output, r.output


def test_db_backup_and_restore_round_trip(database_url: str, tmp_path: Path) -> None:
    if database_url.startswith("postgresql"):
        import shutil

        if shutil.which("pg_dump") is None and not list(
            Path("/usr/lib/postgresql").glob("*/bin/pg_dump")
        ):
            pytest.skip("pg_dump is not installed")
    db = connect(database_url)
    try:
        with db.write() as s:
            registry.create_org(s, "kept", "lab", 1.0)
        backup = tmp_path / "backup.bin"
        r = runner.invoke(app, ["db", "backup", str(backup), "--database-url", database_url])
        assert r.exit_code == 0 and backup.stat().st_size > 0, r.output
        with db.write() as s:
            s.execute(update(OrgRow).values(name="changed"))
            registry.create_org(s, "later", "lab", 2.0)
        db.dispose()
        r = runner.invoke(
            app, ["db", "restore", str(backup), "--yes", "--database-url", database_url]
        )
        assert r.exit_code == 0, r.output
        with db.read() as s:
            assert list(s.scalars(select(OrgRow.name))) == ["kept"]
        r = runner.invoke(app, ["db", "check", "--database-url", database_url])
        assert r.exit_code == 0, r.output
        assert (
            runner.invoke(
                app, ["db", "backup", str(backup), "--database-url", database_url]
            ).exit_code
            == 2
        )
    finally:
        db.dispose()
