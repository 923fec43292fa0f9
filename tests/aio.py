"""Run a coroutine to the end on a fresh event loop in a thread of its own.

``asyncio.run`` refuses to start while a loop is running in the calling thread, and the
browser tests' Playwright session keeps one running in the main thread for the whole session;
a worker thread has no loop, so tests that drive coroutines work whatever ran before them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_async(main: Callable[[], Coroutine[Any, Any, T]], timeout: float = 60.0) -> T:
    result: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(main()))
        except BaseException as error:  # re-raised in the caller's thread
            errors.append(error)

    worker = threading.Thread(target=target, name="test-asyncio", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"coroutine still running after {timeout} s")
    if errors:
        raise errors[0]
    return result[0]
