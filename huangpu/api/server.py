"""``huangpu server``: migrate the database, make sure an operator token exists, serve HTTP."""

from __future__ import annotations

import logging
import os

import uvicorn

from huangpu.api.app import build_platform, create_app
from huangpu.settings import Settings
from huangpu.store import registry
from huangpu.store.db import Database, connect

log = logging.getLogger(__name__)


def bootstrap_operator_token(db: Database, settings: Settings, now: float) -> str | None:
    """On first start, create an operator token and write it to a 0600 file under home.

    Returns the new secret, or None when an operator token already exists."""
    with db.write() as session:
        if registry.has_operator_token(session) and settings.token_file.exists():
            return None
        issued = registry.create_token(session, "operator", None, None, "bootstrap", now)
    settings.home.mkdir(parents=True, exist_ok=True)
    fd = os.open(settings.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(issued.secret + "\n")
    return issued.secret


def serve(settings: Settings) -> None:
    db = connect(settings.db_url)
    platform = build_platform(settings, db)
    if bootstrap_operator_token(db, settings, platform.clock.now()):
        log.warning("created an operator token in %s", settings.token_file)
    app = create_app(platform)
    print(
        f"huangpu server on {settings.url} (database {settings.db_url}); docs at /docs", flush=True
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    db.dispose()
