"""TokenCache under load: requests that miss together share one lookup, and a revocation
during a lookup keeps its result out of the cache."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from huangpu.api.auth import Principal, TokenCache
from tests.aio import run_async

AGENT = Principal("tok_1", "agent", None, "pool_1")


class CountingCache(TokenCache):
    """A TokenCache whose database lookup is slow and counted. The n-th lookup waits
    ``delays[n]`` (the last one repeats) and finds ``answers[n]`` in the database."""

    def __init__(
        self, delays: tuple[float, ...] = (0.2,), answers: tuple[Principal | None, ...] = (AGENT,)
    ) -> None:
        super().__init__(db=None, ttl=60.0)  # type: ignore[arg-type]
        self.calls = 0
        self.delays, self.answers = delays, answers
        self.started = threading.Event()
        self._count_lock = threading.Lock()

    def lookup(self, secret: str) -> Principal | None:
        generation = self._generation
        with self._count_lock:
            n = self.calls
            self.calls += 1
        self.started.set()
        time.sleep(self.delays[min(n, len(self.delays) - 1)])
        answer = self.answers[min(n, len(self.answers) - 1)]
        with self._lock:
            if generation == self._generation:
                self._entries[secret] = (answer, time.monotonic() + self.ttl)
        return answer


def test_concurrent_misses_share_one_lookup() -> None:
    cache = CountingCache()

    async def main() -> list[Any]:
        return await asyncio.gather(*(cache.lookup_shared("s3cret") for _ in range(50)))

    assert run_async(main) == [AGENT] * 50
    assert cache.calls == 1
    assert cache.cached("s3cret") == (True, AGENT)
    assert not cache._inflight  # nothing left behind


def test_different_secrets_are_looked_up_separately() -> None:
    cache = CountingCache(delays=(0.05,))

    async def main() -> list[Any]:
        return await asyncio.gather(*(cache.lookup_shared(f"s{i % 3}") for i in range(9)))

    run_async(main)
    assert cache.calls == 3


def test_a_revocation_during_a_lookup_is_not_undone_by_it() -> None:
    # The first lookup reads before the revocation and is slow; the second reads after it.
    cache = CountingCache(delays=(0.5, 0.0), answers=(AGENT, None))

    async def main() -> tuple[Any, Any]:
        first = asyncio.ensure_future(cache.lookup_shared("s3cret"))
        await asyncio.get_running_loop().run_in_executor(None, cache.started.wait, 5)
        cache.forget(AGENT.token_id)
        # A request after the revocation does not join the lookup begun before it.
        second = await cache.lookup_shared("s3cret")
        return await first, second

    assert run_async(main) == (AGENT, None)
    assert cache.calls == 2
    # The slow first lookup ended last, but its pre-revocation answer was not cached.
    assert cache.cached("s3cret") == (True, None)
