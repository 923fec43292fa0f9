"""Group commit: one writer thread serves whatever queued up since its last pass as one batch.

Under load this turns N write-lock round trips into one, which is what SQLite (one writer at a
time) needs; PostgreSQL gains fewer commits. Submissions and heartbeats both go through it."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, Protocol, TypeVar

MAX_BATCH = 512


class Request(Protocol):
    @property
    def done(self) -> Future[Any]: ...


R = TypeVar("R", bound=Request)


class BatchWriter(Generic[R]):
    """``put`` queues a request; the writer thread hands every batch of live requests to
    ``serve``, which must settle each one's future."""

    def __init__(
        self, name: str, serve: Callable[[list[R]], None], max_batch: int = MAX_BATCH
    ) -> None:
        self._serve = serve
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[R | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, request: R) -> None:
        self._queue.put(request)

    def close(self) -> None:
        """Serve what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            closing = False
            while len(batch) < self._max_batch:
                try:
                    request = self._queue.get_nowait()
                except queue.Empty:
                    break
                if request is None:
                    closing = True
                    break
                batch.append(request)
            # A caller that gave up cancelled its future (asyncio.wrap_future passes a
            # cancelled request on): it is not served, and the rest can no longer be
            # cancelled, so settling them cannot fail and cannot kill this thread.
            live = [r for r in batch if r.done.set_running_or_notify_cancel()]
            if live:
                self._serve(live)
            if closing:
                return
