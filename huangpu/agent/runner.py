"""The agent loop: register, take leases, run them on an executor, report what happened.

Two threads: one long-polls the server (the poll is the heartbeat and brings leases), the
main one watches the executor every ``tick`` and flushes the outbox. Kill/cancel runs on short
worker threads so a grace period never stalls heartbeats. Stopping the agent leaves its jobs
running; the next start reattaches them.
"""

from __future__ import annotations

import codecs
import json
import logging
import queue
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from huangpu import __version__
from huangpu.agent.client import (
    AgentClient,
    FlushResult,
    RefKey,
    ReportRejected,
    ServerUnavailable,
)
from huangpu.agent.executors.base import (
    LOG_CHUNK,
    ExecState,
    Executor,
    ExecutorError,
    SubmitFailed,
)
from huangpu.agent.executors.local import LocalExecutor
from huangpu.agent.inventory import parse_inventory
from huangpu.core.clock import Clock, SystemClock
from huangpu.core.domain import ExecutorKind, Node
from huangpu.core.errors import InvalidInput
from huangpu.core.protocol import (
    ExitedEvent,
    JobRef,
    Lease,
    LogEvent,
    Outcome,
    PollResponse,
    PreemptRef,
    ProgressEvent,
    RegisterRequest,
    RegisterResponse,
    ReportEvent,
    RunningJob,
    StartedEvent,
    UsageEvent,
)

log = logging.getLogger(__name__)

MAX_BACKLOG = 2000  # outbox events: above this, logs wait in their files instead
LOG_CHUNKS_PER_TICK = 4
FINAL_LOG_LIMIT = 64 * 1024 * 1024
STOP_GRACE_SECONDS = 5.0


def _one_mark_per_byte(error: UnicodeError) -> tuple[str, int]:
    """One '?' per undecodable byte keeps len(text.encode()) equal to the bytes read, so log
    offsets stay byte offsets into the job's output."""
    assert isinstance(error, UnicodeDecodeError)
    return "?" * (error.end - error.start), error.end


codecs.register_error("huangpu_log", _one_mark_per_byte)


def _complete_utf8(data: bytes) -> int:
    """Length of ``data`` without a multi-byte character cut off at its end."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # a lead byte (or ASCII)
            need = 2 if byte >= 0xC0 else 1
            need = 3 if byte >= 0xE0 else need
            need = 4 if byte >= 0xF0 else need
            return len(data) - back if need > back else len(data)
    return len(data)


@dataclass
class _Tracked:
    ref: JobRef
    engine_id: str | None
    devices: int
    usage_end: float
    log_offset: int = 0
    progress_offset: int = 0  # bytes of the job's progress file already forwarded
    ending: bool = False  # a cancel or stop runs on a worker thread
    stopped: bool = False  # the server says it is not ours: report nothing more
    exit_enqueued: bool = False
    preempt_reason: str = ""  # set when the server asked to stop it for another job
    # A backlog lease still in the engine's queue: no Started yet, no usage; ``wants`` is the
    # device count it runs on once the engine starts it.
    waiting: bool = False
    wants: int = 0


def _key(ref: JobRef) -> RefKey:
    return (ref.job_id, ref.attempt)


class Agent:
    def __init__(
        self,
        client: AgentClient,
        executor: Executor,
        nodes: list[Node],
        name: str,
        *,
        clock: Clock | None = None,
        usage_interval: float = 5.0,
        cancel_grace: float = 10.0,
        tick: float = 0.5,
        executor_kind: ExecutorKind = ExecutorKind.LOCAL,
    ) -> None:
        self.client, self.executor, self.nodes, self.name = client, executor, nodes, name
        self.executor_kind = executor_kind
        self.clock = clock or SystemClock()
        self.usage_interval, self.cancel_grace, self.tick = usage_interval, cancel_grace, tick
        self.jobs: dict[RefKey, _Tracked] = {}
        self._jobs_lock = threading.Lock()
        self._polls: queue.Queue[PollResponse] = queue.Queue()
        self._polled = threading.Event()  # the main thread took the last poll's leases
        self._done: queue.Queue[tuple[str, _Tracked, Exception | None]] = queue.Queue()
        self._fatal: BaseException | None = None
        self._flush_after = 0.0
        self.registration: RegisterResponse | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, stop_event: threading.Event) -> RegisterResponse:
        """Reattach surviving jobs, then register them with the inventory."""
        outbox = self.client.outbox
        for found in self.executor.reattach():
            cursor = outbox.cursor(found.ref)
            if cursor.exited and not outbox.holds_exit(found.ref):
                self.executor.forget(found.engine_id)  # acked just before the last stop
                outbox.drop_cursor(found.ref)
                continue
            job = _Tracked(
                found.ref,
                found.engine_id,
                found.devices,
                cursor.usage_end or found.started_at or self.clock.now(),
                cursor.log_offset,
                exit_enqueued=cursor.exited,
            )
            self.jobs[_key(found.ref)] = job
            if not cursor.started:
                started = found.started_at or self.clock.now()
                self.client.enqueue([self._started(job, started)])
            log.info("reattached job %s attempt %d (%s)", *_key(found.ref), found.engine_id)
        outbox.prune(set(self.jobs))
        request = RegisterRequest(
            agent_name=self.name,
            executor=self.executor_kind,
            nodes=self.nodes,
            running=self._running(),
            version=__version__,
        )
        self.registration = self.client.register(request, stop_event)
        devices = sum(len(n.devices) for n in self.nodes)
        log.info(
            "registered %s as %s in pool %s: %d nodes, %d devices, %d running jobs",
            self.name,
            self.registration.agent_id,
            self.registration.pool_name,
            len(self.nodes),
            devices,
            len(self.jobs),
        )
        return self.registration

    def run(self, stop_event: threading.Event) -> None:
        if self.registration is None:
            self.start(stop_event)
        poller = threading.Thread(
            target=self._poll_loop, args=(stop_event,), name="huangpu-agent-poll", daemon=True
        )
        poller.start()
        try:
            while not stop_event.is_set():
                self.step()
                if self._fatal is not None:
                    raise self._fatal
                try:
                    response = self._polls.get(timeout=self.tick)
                except queue.Empty:
                    continue
                self._handle_poll(response)
        finally:
            stop_event.set()
            try:
                self._flush()
            except Exception as error:  # shutting down: the outbox keeps what was not sent
                log.info("final flush skipped: %s", error)
            self.client.close()
            log.info("agent stopped; %d jobs left running for the next start", len(self.jobs))

    def step(self) -> None:
        """One pass: take queued leases, collect exits, logs and usage, flush the outbox."""
        while not self._polls.empty():
            self._handle_poll(self._polls.get_nowait())
        events: list[ReportEvent] = []
        while not self._done.empty():
            events += self._worker_done(*self._done.get_nowait())
        for job in list(self.jobs.values()):
            if not (job.ending or job.stopped or job.exit_enqueued) and job.engine_id:
                events += self._watch(job)
        self.client.enqueue(events)
        if self.clock.now() >= self._flush_after:
            self._flush()

    # -- polling ----------------------------------------------------------------------------

    def _poll_loop(self, stop_event: threading.Event) -> None:
        assert self.registration is not None
        wait = min(max(self.registration.poll_timeout_seconds, 0.0), 60.0)
        while not stop_event.is_set():
            try:
                response = self.client.poll(self._running(), wait)
            except ServerUnavailable as error:
                log.warning("poll failed: %s; retrying in %.1fs", error, error.retry_after)
                stop_event.wait(error.retry_after)
                continue
            except ReportRejected as error:
                log.error("poll refused: %s", error)
                stop_event.wait(self.client.poll_backoff.next_delay())
                continue
            except Exception as error:
                if not stop_event.is_set():
                    self._fatal = error
                return
            if response.leases or response.cancel or response.stop or response.preempt:
                self._polled.clear()
                self._polls.put(response)
                # the next poll must list these leases as running, so wait for the handover
                self._polled.wait(timeout=10.0)

    def _handle_poll(self, response: PollResponse) -> None:
        events: list[ReportEvent] = []
        for lease in response.leases:
            events += self._start(lease)
        self.client.enqueue(events)
        for preempt in response.preempt:
            self._preempt(preempt)
        for ref in response.cancel:
            self._cancel(ref)
        for ref in response.stop:
            self._stop(ref)
        self._polled.set()

    def _running(self) -> list[RunningJob]:
        with self._jobs_lock:
            return [
                RunningJob(job_id=j.ref.job_id, attempt=j.ref.attempt, engine_id=j.engine_id)
                for j in self.jobs.values()
                if not j.stopped and j.engine_id
            ]

    # -- job lifecycle ----------------------------------------------------------------------

    def _start(self, lease: Lease) -> list[ReportEvent]:
        ref = JobRef(job_id=lease.job_id, attempt=lease.attempt)
        if _key(ref) in self.jobs:
            return []
        try:
            engine_id = self.executor.submit(lease)
        except Exception as error:
            reason = str(error) if isinstance(error, SubmitFailed) else f"agent error: {error!r}"
            log.warning("lease %s attempt %d failed to start: %s", *_key(ref), reason)
            return [self._exited(ref, Outcome.FAILED, None, reason, self.clock.now())]
        now = self.clock.now()
        job = _Tracked(ref, engine_id, len(lease.devices), now)
        if lease.queued:
            job.waiting, job.wants = True, lease.device_count
        with self._jobs_lock:
            self.jobs[_key(ref)] = job
        log.info(
            "lease %s attempt %d: started %r as %s on %s",
            *_key(ref),
            lease.spec.name,
            engine_id,
            ",".join(f"{d.node}/{d.index}" for d in lease.devices)
            or (f"the engine's queue ({job.wants} device(s))" if job.waiting else "no devices"),
        )
        return [] if job.waiting else [self._started(job, now)]

    def _cancel(self, ref: JobRef) -> None:
        job = self.jobs.get(_key(ref))
        if job is None and self.client.outbox.cursor(ref).exited:
            return
        if job is None:
            log.info("cancel for unknown job %s attempt %d: reporting it cancelled", *_key(ref))
            now = self.clock.now()
            self.client.enqueue(
                [self._exited(ref, Outcome.CANCELLED, None, "cancelled before it ran", now)]
            )
        elif not (job.ending or job.exit_enqueued or job.stopped):
            log.info("cancelling job %s attempt %d", *_key(ref))
            self._end_in_background("cancelled", job, self.cancel_grace)

    def _preempt(self, ref: PreemptRef) -> None:
        """Stop the attempt with the server's grace (SIGTERM first, so it can checkpoint) and
        report its exit; the server requeues it. Repeats while it ends change nothing."""
        job = self.jobs.get(_key(ref))
        if job is None or job.ending or job.exit_enqueued or job.stopped or not job.engine_id:
            return
        log.info(
            "preempting job %s attempt %d (grace %.0fs): %s", *_key(ref), ref.grace_seconds,
            ref.reason,
        )  # fmt: skip
        job.preempt_reason = ref.reason or "preempted"
        self._end_in_background("preempted", job, ref.grace_seconds)

    def _stop(self, ref: JobRef) -> None:
        job = self.jobs.get(_key(ref))
        if job is None or job.stopped:
            return
        log.info("server says job %s attempt %d is no longer ours: stopping it", *_key(ref))
        job.stopped = True
        if job.ending or job.exit_enqueued or not job.engine_id:
            self._drop(job)
        else:
            self._end_in_background("stopped", job, STOP_GRACE_SECONDS)

    def _end_in_background(self, what: str, job: _Tracked, grace: float) -> None:
        job.ending = True

        def end() -> None:
            try:
                assert job.engine_id is not None
                self.executor.cancel(job.engine_id, grace)
            except Exception as error:
                self._done.put((what, job, error))
            else:
                self._done.put((what, job, None))

        threading.Thread(target=end, name=f"huangpu-{what}-{job.ref.job_id}", daemon=True).start()

    def _worker_done(self, what: str, job: _Tracked, error: Exception | None) -> list[ReportEvent]:
        if error is not None:
            log.error("could not end job %s attempt %d: %s", *_key(job.ref), error)
        if what == "stopped" or job.stopped:
            self._drop(job)
            return []
        reason = job.preempt_reason if what == "preempted" else "cancel requested"
        return self._finish(job, Outcome.CANCELLED, None, reason, self.clock.now())

    def _watch(self, job: _Tracked) -> list[ReportEvent]:
        assert job.engine_id is not None
        try:
            status = self.executor.poll(job.engine_id)
        except ExecutorError as error:
            log.warning("cannot poll job %s attempt %d: %s", *_key(job.ref), error)
            return []
        if status.state is ExecState.LOST:
            # no report: its lease expires and the server requeues it
            log.warning("job %s attempt %d lost: %s", *_key(job.ref), status.detail)
            self._drop(job)
            return []
        events: list[ReportEvent] = []
        if job.waiting:
            if status.queued:
                return []  # still in the engine's queue: nothing runs, nothing to meter
            # The engine started it: Started now (the server gives it devices then), and
            # usage from here on.
            now = self.clock.now()
            job.waiting, job.devices, job.usage_end = False, job.wants, now
            events.append(self._started(job, now))
        if status.state is ExecState.EXITED:
            code = status.exit_code
            outcome = Outcome.SUCCEEDED if code == 0 else Outcome.FAILED
            at = status.finished_at or self.clock.now()
            return events + self._finish(job, outcome, code, status.reason, at)
        events += self._logs(job, final=False)
        events += self._progress(job)
        now = self.clock.now()
        if now - job.usage_end >= self.usage_interval:
            events += self._usage(job, now)
        return events

    def _finish(
        self, job: _Tracked, outcome: Outcome, code: int | None, reason: str, at: float
    ) -> list[ReportEvent]:
        events = self._logs(job, final=True)
        events += self._progress(job)
        events += self._usage(job, max(at, job.usage_end))
        events.append(self._exited(job.ref, outcome, code, reason, at))
        job.exit_enqueued = True
        log.info("job %s attempt %d %s%s", *_key(job.ref), outcome, f": {reason}" if reason else "")
        return events

    def _drop(self, job: _Tracked) -> None:
        if job.engine_id:
            self.executor.forget(job.engine_id)
        with self._jobs_lock:
            self.jobs.pop(_key(job.ref), None)
        self.client.outbox.drop_cursor(job.ref)

    # -- events -----------------------------------------------------------------------------

    def _logs(self, job: _Tracked, final: bool) -> list[ReportEvent]:
        if job.engine_id is None or (not final and len(self.client.outbox) > MAX_BACKLOG):
            return []
        events: list[ReportEvent] = []
        budget = FINAL_LOG_LIMIT if final else LOG_CHUNKS_PER_TICK * LOG_CHUNK
        while budget > 0:
            data, _ = self.executor.logs(job.engine_id, job.log_offset, LOG_CHUNK)
            usable = len(data) if final and len(data) < LOG_CHUNK else _complete_utf8(data)
            if usable == 0:
                break
            text = data[:usable].decode("utf-8", errors="huangpu_log")
            events.append(LogEvent(**self._ref(job.ref), offset=job.log_offset, data=text))
            job.log_offset += usable
            budget -= usable
        return events

    def _progress(self, job: _Tracked) -> list[ReportEvent]:
        """Whole JSON lines the job appended to its progress file (huangpu.runtime.report),
        as progress events. Executors without a ``progress`` method report none. After an
        agent restart the file is read again from the start: each event carries its byte
        offset, so the server can tell a replay."""
        read = getattr(self.executor, "progress", None)
        if read is None or job.engine_id is None or len(self.client.outbox) > MAX_BACKLOG:
            return []
        try:
            data, _ = read(job.engine_id, job.progress_offset, LOG_CHUNK)
        except ExecutorError:
            return []
        events: list[ReportEvent] = []
        end = data.rfind(b"\n") + 1  # a line still being written waits for the next tick
        position = job.progress_offset
        for line in data[:end].splitlines(keepends=True):
            offset, position = position, position + len(line)
            try:
                record = json.loads(line)
                event = ProgressEvent(
                    **self._ref(job.ref),
                    offset=offset,
                    at=float(record.get("t", self.clock.now())),
                    step=record.get("step"),
                    samples=record.get("samples"),
                    metrics=record.get("metrics") or {},
                )
            except (ValueError, TypeError, AttributeError) as error:
                log.debug("job %s: skipping a progress line: %s", job.ref.job_id, error)
                continue
            events.append(event)
        job.progress_offset += end
        return events

    def _usage(self, job: _Tracked, now: float) -> list[ReportEvent]:
        start, job.usage_end = job.usage_end, now
        if now <= start or job.waiting:
            return []
        seconds = job.devices * (now - start)
        return [
            UsageEvent(
                **self._ref(job.ref),
                start=start,
                end=now,
                devices=job.devices,
                device_seconds=seconds,
            )
        ]

    def _started(self, job: _Tracked, at: float) -> StartedEvent:
        return StartedEvent(**self._ref(job.ref), engine_id=job.engine_id or "", at=at)

    def _exited(
        self, ref: JobRef, outcome: Outcome, code: int | None, reason: str, at: float
    ) -> ExitedEvent:
        return ExitedEvent(
            **self._ref(ref), outcome=outcome, exit_code=code, reason=reason[:2000], at=at
        )

    @staticmethod
    def _ref(ref: JobRef) -> dict[str, str | int]:
        return {"job_id": ref.job_id, "attempt": ref.attempt}

    def _flush(self) -> None:
        try:
            result = self.client.flush()
        except ServerUnavailable as error:
            if self._flush_after == 0.0:
                log.warning("cannot report (%s); keeping %d events", error, len(self.client.outbox))
            self._flush_after = self.clock.now() + error.retry_after
            return
        if self._flush_after:
            log.info("server reachable again; outbox replayed")
        self._flush_after = 0.0
        self._acked(result)

    def _acked(self, result: FlushResult) -> None:
        for event in result.acked:
            if isinstance(event, ExitedEvent):
                job = self.jobs.get(_key(event))
                if job is not None:
                    self._drop(job)
                else:
                    self.client.outbox.drop_cursor(event)
        for ref in result.stop:
            self._stop(ref)


def _install_sigterm(stop_event: threading.Event) -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        log.info("SIGTERM: stopping the agent, leaving jobs running")
        stop_event.set()

    previous = signal.signal(signal.SIGTERM, on_sigterm)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def build_executor(
    kind: str | ExecutorKind, state_dir: Path, name: str, options: dict[str, Any] | None = None
) -> Executor:
    """The executor named ``kind``, with its options (``huangpu agent --executor ...``).

    Engine-backed executors are imported here, so a local agent never imports httpx clients
    for Slurm, Ray (an optional extra) or the Kubernetes client.
    """
    opts = {k: v for k, v in (options or {}).items() if v is not None}
    kind = ExecutorKind(kind)
    jobs = state_dir / "jobs"
    if kind is ExecutorKind.LOCAL:
        return LocalExecutor(jobs, agent_name=name)
    if kind is ExecutorKind.SLURM:
        from huangpu.agent.executors.slurm import SlurmExecutor, parse_gres_map

        gres = opts.pop("gres_map", None)
        return SlurmExecutor(
            jobs, gres_map=parse_gres_map(gres) if isinstance(gres, str) else gres, **opts
        )
    if kind is ExecutorKind.RAY:
        from huangpu.agent.executors.ray import RayExecutor, parse_resource_map

        resources = opts.pop("resource_map", None)
        if isinstance(resources, str):
            resources = parse_resource_map(resources)
        return RayExecutor(jobs, resource_map=resources, **opts)
    from huangpu.agent.executors.kubernetes import KubernetesExecutor

    return KubernetesExecutor(jobs, **opts)


def run_agent(
    server_url: str,
    token: str,
    pool: str,
    inventory: str | None,
    state_dir: Path,
    name: str | None = None,
    stop_event: threading.Event | None = None,
    usage_interval: float = 5.0,
    executor: str = "local",
    executor_options: dict[str, Any] | None = None,
) -> None:
    """Run an agent on the named executor until ``stop_event`` is set or SIGTERM arrives."""
    name = name or socket.gethostname().split(".")[0]
    state_dir = Path(state_dir).expanduser()
    kind = ExecutorKind(executor)
    engine = build_executor(kind, state_dir, name, executor_options)
    nodes = parse_inventory(inventory, name) if inventory else engine.discover()
    if not nodes:
        raise InvalidInput(
            "no devices to offer: pass --inventory (e.g. 8xA100 or 2x8x910B), or run on a host "
            "with NVIDIA GPUs and nvidia-ml-py installed (local), or map the engine's "
            "resources to chips (--gres-map gpu=a100,npu=910b / --ray-resources npu=910b)",
            "inventory",
        )
    set_nodes = getattr(engine, "set_nodes", None)
    if set_nodes is not None:
        set_nodes(nodes)  # the chip of each lease (HUANGPU_CHIP) comes from this inventory
    stop_event = stop_event or threading.Event()
    restore = _install_sigterm(stop_event)
    client = AgentClient(server_url, token, state_dir)
    # An engine's poll is one cached listing for all jobs, so a shorter tick is cheap there and
    # hands a freed device to the next job sooner (bench/dispatch.py).
    tick = 0.5 if kind is ExecutorKind.LOCAL else 0.2
    agent = Agent(
        client, engine, nodes, name, usage_interval=usage_interval, tick=tick, executor_kind=kind
    )
    try:
        try:
            registration = agent.start(stop_event)
        except ServerUnavailable:
            if stop_event.is_set():
                client.close()
                return
            raise
        if pool and pool not in (registration.pool_name, registration.pool_id):
            client.close()
            raise InvalidInput(
                f"the agent token belongs to pool {registration.pool_name!r}, not {pool!r}; "
                "use a token created with `huangpu tokens create --role agent --pool "
                f"{pool}`",
                "pool",
            )
        agent.run(stop_event)
    finally:
        restore()
