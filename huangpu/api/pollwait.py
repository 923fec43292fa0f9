"""The long-polls that wait, one list per event loop (issue 9).

A long-poll that found nothing to hand out waits for work until its deadline. Each used to
wake every ``step`` seconds on its own timer and ask the heartbeat writer about its own agent:
with 10,000 agents waiting, 50,000 timer wake-ups and checks a second. Here the waiting polls
of an event loop (one per server process) register in one list, and one task asks every
``step`` seconds, in one read for all of them (``HeartbeatQueue.sweep``), which agents have
work, and wakes only those polls. The poll it wakes builds its answer as before
(``AgentService.poll_once``); if that finds nothing after all (another poll of the same agent
took the lease), it waits again.

A poll leaves the list when woken, at its deadline (expired by the same task, at most one
``step`` late, as before), when its client goes away (``gone``, a future the router resolves
when the server reports the disconnect: nothing to poll per waiter), or when the list is
closed (app shutdown): the last three answer "nothing for you". The task stops when the list
is empty and is started again by the next poll that waits, so a loop that ends (a test
client's) leaves nothing behind. A sweep that fails fails the polls it was for, as the
single check did.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

Sweep = Callable[[list[str]], "Future[set[str]]"]


class _Waiter:
    __slots__ = ("agent_id", "deadline", "future")

    def __init__(self, agent_id: str, deadline: float, future: asyncio.Future[bool]) -> None:
        self.agent_id = agent_id
        self.deadline = deadline
        self.future = future


class _LoopWaits:
    """The waiting polls of one event loop and the task that sweeps them."""

    def __init__(self, sweep: Sweep, step: float, clock: Callable[[], float]) -> None:
        self.sweep = sweep
        self.step = step
        self.clock = clock
        self.by_agent: dict[str, list[_Waiter]] = {}
        self.deadlines: list[tuple[float, int, _Waiter]] = []
        self.order = itertools.count()
        self.task: asyncio.Task[None] | None = None
        self.sweeps = 0

    async def wait(self, agent_id: str, deadline: float, gone: asyncio.Future[Any] | None) -> bool:
        loop = asyncio.get_running_loop()
        waiter = _Waiter(agent_id, deadline, loop.create_future())
        self.by_agent.setdefault(agent_id, []).append(waiter)
        heapq.heappush(self.deadlines, (deadline, next(self.order), waiter))
        if self.task is None:
            self.task = loop.create_task(self._run(), name="poll-waits")

        def left(_: object) -> None:
            self._settle(waiter, False)

        if gone is not None:
            gone.add_done_callback(left)
        try:
            return await waiter.future
        finally:
            if gone is not None:
                gone.remove_done_callback(left)
            self._settle(waiter, False)

    def _settle(self, waiter: _Waiter, woken: bool, error: BaseException | None = None) -> None:
        """Take the waiter off the list and answer it (if not yet answered)."""
        waiters = self.by_agent.get(waiter.agent_id)
        if waiters is not None and waiter in waiters:
            waiters.remove(waiter)
            if not waiters:
                del self.by_agent[waiter.agent_id]
        if not waiter.future.done():
            if error is not None:
                waiter.future.set_exception(error)
            else:
                waiter.future.set_result(woken)

    def _expire(self, now: float) -> None:
        while self.deadlines and (
            self.deadlines[0][0] <= now or self.deadlines[0][2].future.done()
        ):
            _, _, waiter = heapq.heappop(self.deadlines)
            self._settle(waiter, False)

    async def _run(self) -> None:
        try:
            while self.by_agent:
                await asyncio.sleep(self.step)
                self._expire(self.clock())
                if not self.by_agent:
                    break
                asked = {a: list(w) for a, w in self.by_agent.items()}
                self.sweeps += 1
                try:
                    busy = await asyncio.wrap_future(self.sweep(list(asked)))
                except Exception as error:
                    for waiters in asked.values():
                        for waiter in waiters:
                            self._settle(waiter, False, error)
                    continue
                for agent_id in busy:
                    for waiter in asked.get(agent_id, ()):
                        self._settle(waiter, True)
        finally:
            if self.task is asyncio.current_task():
                self.task = None

    def close(self) -> None:
        task, self.task = self.task, None
        if task is not None and not task.done():
            task.cancel()
        for waiters in list(self.by_agent.values()):
            for waiter in list(waiters):
                self._settle(waiter, False)
        self.deadlines.clear()


class PollWaits:
    """The app's waiting list: ``wait`` is True when woken for work, False at the deadline,
    when ``gone`` is done (the client went away) or when the list is closed."""

    def __init__(
        self, sweep: Sweep, step: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.sweep = sweep
        self.step = step
        self.clock = clock
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopWaits] = (
            weakref.WeakKeyDictionary()
        )

    def _here(self) -> _LoopWaits:
        loop = asyncio.get_running_loop()
        waits = self._loops.get(loop)
        if waits is None:
            waits = self._loops[loop] = _LoopWaits(self.sweep, self.step, self.clock)
        return waits

    async def wait(
        self, agent_id: str, deadline: float, gone: asyncio.Future[Any] | None = None
    ) -> bool:
        if self.clock() >= deadline or (gone is not None and gone.done()):
            return False
        return await self._here().wait(agent_id, deadline, gone)

    def waiting(self) -> int:
        """Polls waiting on this event loop."""
        return sum(len(w) for w in self._here().by_agent.values())

    def sweeps(self) -> int:
        """Sweeps this event loop's task has asked for."""
        return self._here().sweeps

    def close(self) -> None:
        """Answer every waiting poll "nothing" and stop the task (this event loop's)."""
        with_loop = self._loops.get(asyncio.get_running_loop())
        if with_loop is not None:
            with_loop.close()
