"""The group-commit writer behind submissions and heartbeats: batches, order, close, and a
caller that gives up (a cancelled future) neither gets served nor stops the thread."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass

from huangpu.control.batch_writer import BatchWriter


@dataclass(frozen=True)
class Req:
    n: int
    done: Future[int]


def test_batches_in_order_and_close_serves_what_is_queued() -> None:
    gate = threading.Event()
    batches: list[list[int]] = []

    def serve(batch: list[Req]) -> None:
        gate.wait(10)
        batches.append([r.n for r in batch])
        for r in batch:
            r.done.set_result(r.n * 10)

    writer: BatchWriter[Req] = BatchWriter("test-writer", serve, max_batch=3)
    reqs = [Req(i, Future()) for i in range(7)]
    for r in reqs:
        writer.put(r)
    gate.set()
    writer.close()
    assert [r.done.result(timeout=1) for r in reqs] == [i * 10 for i in range(7)]
    assert [n for b in batches for n in b] == list(range(7))
    assert all(len(b) <= 3 for b in batches)


def test_a_cancelled_request_is_skipped_and_the_writer_lives_on() -> None:
    gate = threading.Event()
    served: list[int] = []

    def serve(batch: list[Req]) -> None:
        gate.wait(10)
        for r in batch:
            served.append(r.n)
            r.done.set_result(r.n)

    writer: BatchWriter[Req] = BatchWriter("test-writer", serve)
    first, given_up, kept = Req(1, Future()), Req(2, Future()), Req(3, Future())
    writer.put(first)  # taken at once; the writer waits on the gate while the rest queue
    writer.put(given_up)
    writer.put(kept)
    assert given_up.done.cancel()  # as asyncio.wrap_future does when a request is cancelled
    gate.set()
    assert first.done.result(timeout=10) == 1 and kept.done.result(timeout=10) == 3
    later = Req(4, Future())
    writer.put(later)
    assert later.done.result(timeout=10) == 4
    writer.close()
    assert served == [1, 3, 4]
