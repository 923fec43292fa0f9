"""The agent's side of the protocol: register, long-poll, and reports through a durable outbox.

Every report carries a per-agent sequence number. Events wait in the outbox (JSON lines in the
state dir, so a restart loses none) until the server acks them; a sealed batch is re-sent with
the same seq and the same events until acked, so the server can drop repeats. While the server
is down the agent keeps running its jobs and the outbox grows; it replays in order on return.

Outbox file lines::

    {"cursors": [...]}          what was ever enqueued per job attempt (first line after a rewrite)
    {"event": {...}}            one event, not yet acked
    {"seal": 7, "count": 40}    the oldest 40 unsealed events form report seq 7
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import TypeAdapter

from huangpu.core.errors import HuangpuError, Unauthorized
from huangpu.core.protocol import (
    FEATURE_BACKLOG,
    FEATURE_PREEMPT,
    MAX_EVENTS_PER_REPORT,
    ExitedEvent,
    JobRef,
    LogEvent,
    PollRequest,
    PollResponse,
    RegisterRequest,
    RegisterResponse,
    ReportEvent,
    ReportRequest,
    ReportResponse,
    RunningJob,
    StartedEvent,
    UsageEvent,
)

log = logging.getLogger(__name__)

OUTBOX_FILE = "outbox.jsonl"
MAX_BATCH_LOG_CHARS = 1024 * 1024
_EVENT = TypeAdapter[ReportEvent](ReportEvent)
RefKey = tuple[str, int]


class AgentAuthError(Unauthorized):
    """The server refused the agent's token."""


class ServerUnavailable(HuangpuError):
    """The server could not be reached or answered 5xx/429; ``retry_after`` says when to retry."""

    code = "server_unavailable"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ReportRejected(HuangpuError):
    """The server refused a request as malformed (4xx): resending it will not help."""

    code = "report_rejected"


class Backoff:
    """Exponential backoff with full jitter, capped."""

    def __init__(self, base: float = 0.5, cap: float = 30.0) -> None:
        self.base, self.cap, self.failures = base, cap, 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.base * 2**self.failures)
        self.failures += 1
        return random.uniform(delay / 2, delay)

    def reset(self) -> None:
        self.failures = 0


@dataclass
class JobCursor:
    """What the outbox ever took for one job attempt: survives the acks that drop the events."""

    started: bool = False
    exited: bool = False
    log_offset: int = 0
    usage_end: float | None = None


@dataclass
class FlushResult:
    acked: list[ReportEvent] = field(default_factory=list)
    stop: list[JobRef] = field(default_factory=list)


def _key(ref: JobRef) -> RefKey:
    return (ref.job_id, ref.attempt)


class Outbox:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.next_seq = 1
        self._unsealed: list[ReportEvent] = []
        self._batches: list[tuple[int, list[ReportEvent]]] = []
        self._cursors: dict[RefKey, JobCursor] = {}
        self._load()

    def __len__(self) -> int:
        return len(self._unsealed) + sum(len(events) for _, events in self._batches)

    def cursor(self, ref: JobRef) -> JobCursor:
        return self._cursors.get(_key(ref)) or JobCursor()

    def drop_cursor(self, ref: JobRef) -> None:
        """Forget a finished job's cursor; persisted with the next rewrite."""
        self._cursors.pop(_key(ref), None)

    def holds_exit(self, ref: JobRef) -> bool:
        """An ExitedEvent for ``ref`` still waits for its ack."""
        return any(isinstance(e, ExitedEvent) and _key(e) == _key(ref) for e in self._pending())

    def prune(self, keep: set[RefKey]) -> None:
        """Drop the cursors of jobs that are neither in ``keep`` nor in a waiting event."""
        waiting = {_key(e) for e in self._pending()}
        for key in list(self._cursors):
            if key not in keep and key not in waiting:
                del self._cursors[key]

    def add(self, events: Sequence[ReportEvent]) -> None:
        if not events:
            return
        self._append([{"event": e.model_dump(mode="json")} for e in events])
        for event in events:
            self._take(event)

    def next_batch(self) -> tuple[int, list[ReportEvent]] | None:
        """The oldest unacked report, sealing unsealed events into one when none is sealed."""
        if not self._batches and self._unsealed:
            count, chars = 0, 0
            for event in self._unsealed[:MAX_EVENTS_PER_REPORT]:
                chars += len(event.data) if isinstance(event, LogEvent) else 0
                if count and chars > MAX_BATCH_LOG_CHARS:
                    break
                count += 1
            self._append([{"seal": self.next_seq, "count": count}])
            self._seal(self.next_seq, count)
        return self._batches[0] if self._batches else None

    def ack(self, acked_seq: int) -> list[ReportEvent]:
        """Drop every batch up to ``acked_seq``; the events they held, oldest first."""
        done: list[ReportEvent] = []
        while self._batches and self._batches[0][0] <= acked_seq:
            done.extend(self._batches.pop(0)[1])
        if done:
            self._rewrite()
        return done

    def restart_at(self, last_seq: int) -> list[ReportEvent]:
        """The server has everything up to ``last_seq``: drop that, renumber the rest after it."""
        done = self.ack(last_seq)
        self._batches = [(last_seq + 1 + i, ev) for i, (_, ev) in enumerate(self._batches)]
        self.next_seq = last_seq + 1 + len(self._batches)
        self._rewrite()
        return done

    def discard_first(self) -> list[ReportEvent]:
        """Drop the oldest batch unsent (the server refuses it) and close the seq gap."""
        seq, events = self._batches.pop(0)
        self._batches = [(seq + i, ev) for i, (_, ev) in enumerate(self._batches)]
        self.next_seq = seq + len(self._batches)
        self._rewrite()
        return events

    def _pending(self) -> list[ReportEvent]:
        return [e for _, events in self._batches for e in events] + self._unsealed

    # -- persistence ------------------------------------------------------------------------

    def _take(self, event: ReportEvent) -> None:
        self._unsealed.append(event)
        cursor = self._cursors.setdefault(_key(event), JobCursor())
        if isinstance(event, StartedEvent):
            cursor.started = True
        elif isinstance(event, ExitedEvent):
            cursor.exited = True
        elif isinstance(event, LogEvent):
            end = event.offset + len(event.data.encode("utf-8"))
            cursor.log_offset = max(cursor.log_offset, end)
        elif isinstance(event, UsageEvent):
            cursor.usage_end = max(cursor.usage_end or event.end, event.end)

    def _seal(self, seq: int, count: int) -> None:
        self._batches.append((seq, self._unsealed[:count]))
        del self._unsealed[:count]
        self.next_seq = seq + 1

    def _append(self, lines: list[dict[str, Any]]) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write("".join(json.dumps(line) + "\n" for line in lines))
            handle.flush()
            os.fsync(handle.fileno())

    def _rewrite(self) -> None:
        cursors = [{"job_id": k[0], "attempt": k[1], **asdict(c)} for k, c in self._cursors.items()]
        lines: list[dict[str, Any]] = [{"cursors": cursors}]
        for seq, events in self._batches:
            lines += [{"event": e.model_dump(mode="json")} for e in events]
            lines.append({"seal": seq, "count": len(events)})
        lines += [{"event": e.model_dump(mode="json")} for e in self._unsealed]
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write("".join(json.dumps(line) + "\n" for line in lines))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def _load(self) -> None:
        if not self.path.exists():
            return
        for number, text in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                line = json.loads(text)
                if "cursors" in line:
                    for c in line["cursors"]:
                        key = (c.pop("job_id"), c.pop("attempt"))
                        self._cursors[key] = JobCursor(**c)
                elif "event" in line:
                    self._take(_EVENT.validate_python(line["event"]))
                elif "seal" in line:
                    self._seal(int(line["seal"]), int(line["count"]))
            except (ValueError, KeyError, TypeError) as error:
                # a torn last line from a crash mid-write: everything before it is intact
                log.warning("outbox %s line %d unreadable (%s); skipped", self.path, number, error)


class AgentClient:
    def __init__(
        self,
        server_url: str,
        token: str,
        state_dir: Path,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        backoff_cap: float = 30.0,
    ) -> None:
        self._http = httpx.Client(
            base_url=server_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            transport=transport,
            timeout=timeout,
        )
        self._timeout = timeout
        state_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(state_dir / OUTBOX_FILE)
        self.agent_id: str | None = None
        self.poll_backoff = Backoff(cap=backoff_cap)
        self.report_backoff = Backoff(cap=backoff_cap)
        self._recovered: list[ReportEvent] = []
        self._lock = threading.Lock()  # the outbox belongs to one thread at a time

    def close(self) -> None:
        self._http.close()

    def register(
        self,
        request: RegisterRequest,
        stop_event: threading.Event | None = None,
        sleep: Callable[[float], Any] | None = None,
    ) -> RegisterResponse:
        """Register, retrying connection errors with backoff until it works or we are stopped."""
        backoff = Backoff(cap=self.poll_backoff.cap)
        wait = sleep or (stop_event.wait if stop_event else time.sleep)
        while True:
            try:
                data = self._post("/v1/agent/register", request.model_dump(mode="json"), backoff)
                break
            except ServerUnavailable as error:
                log.warning("%s; retrying registration in %.1fs", error, error.retry_after)
                wait(error.retry_after)
                if stop_event is not None and stop_event.is_set():
                    raise
        response = RegisterResponse.model_validate(data)
        self.agent_id = response.agent_id
        with self._lock:
            self._recovered += self.outbox.restart_at(response.last_seq)
        return response

    def poll(self, running: Sequence[RunningJob], wait_seconds: float) -> PollResponse:
        """One long-poll: the server holds it up to ``wait_seconds``; it also renews leases."""
        request = PollRequest(
            agent_id=self._agent_id(),
            running=list(running),
            wait_seconds=wait_seconds,
            features=[FEATURE_PREEMPT, FEATURE_BACKLOG],
        )
        data = self._post(
            "/v1/agent/poll",
            request.model_dump(mode="json"),
            self.poll_backoff,
            timeout=self._timeout + wait_seconds,
        )
        return PollResponse.model_validate(data)

    def enqueue(self, events: Sequence[ReportEvent]) -> None:
        with self._lock:
            self.outbox.add(events)

    def flush(self) -> FlushResult:
        """Send sealed reports in order until the outbox is empty; raises ServerUnavailable."""
        result = FlushResult()
        renumbered = False
        with self._lock:
            result.acked, self._recovered = self._recovered, []
            while (batch := self.outbox.next_batch()) is not None:
                seq, events = batch
                request = ReportRequest(agent_id=self._agent_id(), seq=seq, events=events)
                try:
                    data = self._post(
                        "/v1/agent/report", request.model_dump(mode="json"), self.report_backoff
                    )
                except ReportRejected as error:
                    log.error(
                        "server refused report %d (%s); dropping its %d events",
                        seq,
                        error,
                        len(events),
                    )
                    result.acked += self.outbox.discard_first()
                    continue
                response = ReportResponse.model_validate(data)
                result.stop += response.stop
                if response.acked_seq < seq:
                    if renumbered:
                        raise ServerUnavailable(
                            f"server keeps acking {response.acked_seq} for report {seq}",
                            self.report_backoff.next_delay(),
                        )
                    renumbered = True
                    # the server expects an earlier seq than any we hold: follow its count
                    log.warning(
                        "server acked %d for report %d; renumbering the outbox",
                        response.acked_seq,
                        seq,
                    )
                    self.outbox.restart_at(response.acked_seq)
                    continue
                result.acked += self.outbox.ack(response.acked_seq)
        return result

    def report(self, events: Sequence[ReportEvent]) -> FlushResult:
        self.enqueue(events)
        return self.flush()

    # -- HTTP -------------------------------------------------------------------------------

    def _agent_id(self) -> str:
        if self.agent_id is None:
            raise RuntimeError("register() first")
        return self.agent_id

    def _post(
        self, path: str, body: dict[str, Any], backoff: Backoff, timeout: float | None = None
    ) -> Any:
        try:
            response = self._http.post(path, json=body, timeout=timeout or self._timeout)
        except httpx.TransportError as error:
            raise ServerUnavailable(
                f"cannot reach {self._http.base_url}{path}: {error!r}", backoff.next_delay()
            ) from error
        if response.status_code in (401, 403):
            raise AgentAuthError(
                f"the server refused the agent token ({response.status_code}: "
                f"{_message(response)}). Check --token: create one with "
                "`huangpu tokens create --role agent --pool NAME`."
            )
        if response.status_code == 429 or response.status_code >= 500:
            raise ServerUnavailable(
                f"{path} answered {response.status_code}: {_message(response)}",
                backoff.next_delay(),
            )
        if response.status_code >= 400:
            raise ReportRejected(f"{path} answered {response.status_code}: {_message(response)}")
        backoff.reset()
        return response.json()


def _message(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return response.text[:200]
