"""``huangpu server``: migrate the database, make sure an operator token exists, serve HTTP."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import socket

import uvicorn

from huangpu.api.app import build_platform, create_app
from huangpu.core.clock import SystemClock
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
    if bootstrap_operator_token(db, settings, SystemClock().now()):
        log.warning("created an operator token in %s", settings.token_file)
    workers = settings.server_workers
    if workers > 1 and db.is_sqlite:
        log.warning("server_workers=%d ignored: SQLite has one writer; serving with 1", workers)
        workers = 1
    print(
        f"huangpu server on {settings.url} (database {settings.db_url}, {workers} "
        f"process{'es' if workers > 1 else ''}); docs at /docs",
        flush=True,
    )
    if workers == 1:
        _serve_one(settings, db, None)
        return
    db.dispose()  # no connection may be shared across fork()
    sock = socket.create_server((settings.host, settings.port), backlog=2048)
    sock.set_inheritable(True)
    _supervise([_fork(settings, sock) for _ in range(workers)])


def _quiet_gc() -> None:
    """Move everything built at start-up out of the collector's sight and collect the young
    generation less often. A full collection walks every live object, and a server holding a
    city's catalog, caches and snapshots stalls every request for the length of that walk; the
    per-request garbage is short-lived and dies young either way."""
    gc.collect()
    gc.freeze()
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(gen0, 50_000), gen1, gen2)


def _serve_one(settings: Settings, db: Database, sock: socket.socket | None) -> None:
    app = create_app(build_platform(settings, db))
    _quiet_gc()
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    uvicorn.Server(config).run(sockets=[sock] if sock is not None else None)
    db.dispose()


def _fork(settings: Settings, sock: socket.socket) -> int:
    """A worker process: its own engine, platform and event loop on the shared socket. Forked
    before any thread or connection exists in the parent (build_platform starts threads)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            _serve_one(settings, connect(settings.db_url, migrate=False), sock)
            code = 0
        except BaseException:
            log.exception("server worker failed")
        finally:
            os._exit(code)
    return pid


def _supervise(children: list[int]) -> None:
    """Pass SIGTERM/SIGINT on to the workers; return when all have exited. When one dies on
    its own, stop the others too, so a supervisor sees the failure."""

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    alive = set(children)
    while alive:
        try:
            pid, _ = os.wait()
        except ChildProcessError:
            break
        if pid in alive:
            alive.discard(pid)
            forward(signal.SIGTERM, None)
