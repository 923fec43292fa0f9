"""`huangpu db upgrade|check|backup|restore`: the database of the configured server.

These talk to the database directly (not the API), like `huangpu server` does: run them on a
host that has the database URL (settings or $HUANGPU_DATABASE_URL).

- backup: SQLite through its online backup API (consistent while the server runs); PostgreSQL
  through `pg_dump --format=custom` (needs the PostgreSQL client tools on PATH).
- restore: the reverse (`pg_restore --clean`). Stop the server and scheduler first: a restore
  replaces every table under them.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Annotated

import typer

from huangpu.cli.api_client import EXIT_BAD_INPUT, EXIT_FAILURE, CliError
from huangpu.cli.output import console, print_json
from huangpu.settings import Settings

app = typer.Typer(help="The database: migrate, check the books, back up and restore.")
UrlOpt = Annotated[
    str | None, typer.Option("--database-url", help="default: settings (HUANGPU_DATABASE_URL)")
]


def _url(url: str | None) -> str:
    return url or Settings().db_url


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite"):
        return None
    return Path(url.split("///", 1)[-1])


def _libpq(url: str) -> str:
    """A SQLAlchemy URL as the PostgreSQL tools take it (no "+driver")."""
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgresql") else url


def _pg_tool(name: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None
    )
    if found is None:
        raise CliError(
            f"{name} not found", exit_code=EXIT_FAILURE, hint="install the PostgreSQL client tools"
        )
    return found


@app.command("upgrade")
def upgrade(database_url: UrlOpt = None) -> None:
    """Apply every migration not yet applied (the server also does this when it starts)."""
    from huangpu.store.db import connect, current_revision

    db = connect(_url(database_url))
    try:
        console.print(f"database at migration {current_revision(db)}")
    finally:
        db.dispose()


@app.command("check")
def check(
    database_url: UrlOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Migrations at head, and the books consistent: every transaction sums to zero, cached
    balances equal postings, program budgets equal their postings. Exit 1 on any problem."""
    from huangpu.control.consistency import check as run_check
    from huangpu.store.db import connect

    db = connect(_url(database_url), migrate=False)
    try:
        report = run_check(db)
    finally:
        db.dispose()
    if json_out:
        print_json(
            {
                "ok": report.ok,
                "revision": report.revision,
                "head": report.head,
                "problems": report.problems,
                "counts": report.counts,
            }
        )
    else:
        console.print(f"migration {report.revision} (head {report.head})")
        for problem in report.problems:
            console.print(f"[red]✗[/red] {problem}")
        if report.ok:
            counts = ", ".join(f"{v} {k}" for k, v in report.counts.items())
            console.print(f"[green]✓[/green] consistent ({counts})")
    if not report.ok:
        raise typer.Exit(EXIT_FAILURE)


@app.command("backup")
def backup(
    target: Annotated[Path, typer.Argument(help="file to write")],
    database_url: UrlOpt = None,
) -> None:
    """Write a consistent copy of the database to TARGET, while it runs."""
    url = _url(database_url)
    if target.exists():
        raise CliError(f"{target} exists", exit_code=EXIT_BAD_INPUT, hint="choose a new file name")
    path = _sqlite_path(url)
    if path is not None:
        if not path.is_file():
            raise CliError(f"no database at {path}", exit_code=EXIT_BAD_INPUT)
        with sqlite3.connect(path) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
    else:
        subprocess.run(
            [_pg_tool("pg_dump"), "--format=custom", "--file", str(target), _libpq(url)],
            check=True,
        )
    console.print(f"backed up to {target} ({target.stat().st_size} bytes)")


@app.command("restore")
def restore(
    source: Annotated[Path, typer.Argument(help="a file written by `huangpu db backup`")],
    database_url: UrlOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False,
) -> None:
    """Replace the database with SOURCE. Stop the server and scheduler first."""
    url = _url(database_url)
    if not source.is_file():
        raise CliError(f"no backup at {source}", exit_code=EXIT_BAD_INPUT)
    if not yes and not typer.confirm(f"replace every table of {url} with {source}?"):
        raise typer.Exit(EXIT_FAILURE)
    path = _sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(source) as src, sqlite3.connect(path) as dst:
            src.backup(dst)
    else:
        subprocess.run(
            [
                _pg_tool("pg_restore"),
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                "--dbname",
                _libpq(url),
                str(source),
            ],
            check=True,
        )
    console.print(f"restored {url} from {source}")
