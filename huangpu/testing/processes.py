"""The real parts of huangpu, started as local processes on loopback, for tests and benchmarks.

    ServerProcess      python -m huangpu server       temp HUANGPU_HOME, waits for /healthz
    SchedulerProcess   python -m huangpu scheduler    same home / database as its server
    AgentProcess       python -m huangpu agent ...    .kill() (SIGKILL) and .restart()
    PostgresServer     scripts/pg-up.sh               temp dir in /tmp, free port
    ApiClient          thin httpx wrapper over the /v1 API, with waits

Every process is stopped by its own PID (SIGTERM, then SIGKILL after a grace period), never by
name: other huangpu processes on the machine (a developer's own server, a parallel test run)
must not be touched. Each child starts in its own session so that a last-resort SIGKILL can go
to its process group (its id is its PID) and take any workers it forked with it.

Environment: children get the parent's environment minus every HUANGPU_* variable, plus what
the helper sets, so a developer's own HUANGPU_HOME or HUANGPU_TOKEN never leaks into a test.
Temp dirs go directly under /tmp (tempfile's default) because pytest's tmp_path sits under a
0700 directory that the `postgres` user cannot enter (ENGINES.md, section 3).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from huangpu.agent.executors.local import pid_alive
from huangpu.cli.api_client import pool_body

LOOPBACK = "127.0.0.1"
# Set to 1 to keep temp homes (databases, logs) after the processes stop, for debugging.
KEEP_ENV = "HUANGPU_KEEP_TMP"


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def repo_root() -> Path:
    """The source checkout this package is installed from (editable install)."""
    return Path(__file__).resolve().parents[2]


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUANGPU_")}
    # Logs reach the file as they are written, so a failing test can show them.
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def _keep_tmp() -> bool:
    return os.environ.get(KEEP_ENV, "") not in ("", "0")


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def _now_ticks() -> int:
    with open("/proc/uptime") as f:
        return int(float(f.read().split()[0]) * os.sysconf("SC_CLK_TCK"))


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` in the process tree (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.split("/")[2]))
        except (FileNotFoundError, IndexError, ValueError, ProcessLookupError):
            continue
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def group_members(pgid: int) -> set[int]:
    """Every live process whose process group is ``pgid`` (Linux /proc)."""
    found: set[int] = set()
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, IndexError, ProcessLookupError):
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            found.add(int(stat.split("/")[2]))
    return found


def tail(path: Path | None, limit: int = 4000) -> str:
    """The last ``limit`` characters of a log file, or a note that there is none."""
    if path is None or not path.exists():
        return f"(no log at {path})"
    data = path.read_bytes()[-limit:]
    return data.decode("utf-8", "replace")


_LIVE: weakref.WeakSet[ManagedProcess] = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:
    # A test or benchmark that died between start and stop must not leave servers behind.
    for proc in list(_LIVE):
        with contextlib.suppress(Exception):
            proc.stop(timeout=3)


class ManagedProcess:
    """One child process with its log file, stopped by PID."""

    name = "process"

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path, cwd: Path) -> None:
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.cwd = cwd
        self._popen: subprocess.Popen[bytes] | None = None
        self.started_ticks = 0

    @property
    def pid(self) -> int:
        if self._popen is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def start(self) -> None:
        if self.alive():
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.started_ticks = _now_ticks()
        with open(self.log_path, "ab") as log:
            log.write(f"\n--- start: {' '.join(self.argv)}\n".encode())
            log.flush()
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        _LIVE.add(self)

    def kill(self) -> None:
        """SIGKILL this process only (not its group): a crash, as the tests simulate one."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self._reap(10)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL the process group. Returns the code."""
        if self._popen is None:
            return None
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with open(self.log_path, "ab") as log:
                    log.write(f"\n--- no exit {timeout}s after SIGTERM; SIGKILL\n".encode())
                self._kill_group()
        else:
            # It exited on its own; workers it forked into its group may still run.
            self._kill_group()
        self._reap(10)
        _LIVE.discard(self)
        return self._popen.returncode

    def _kill_group(self) -> None:
        # The group id is our child's PID (start_new_session), so this only hits its own tree.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def _reap(self, timeout: float) -> None:
        if self._popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(timeout)

    def log_tail(self, limit: int = 4000) -> str:
        return tail(self.log_path, limit)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _python_m(*args: str) -> list[str]:
    return [sys.executable, "-m", "huangpu", *args]


class ServerProcess(ManagedProcess):
    """``python -m huangpu server`` on a free loopback port, with its own HUANGPU_HOME.

    ``start()`` returns once /healthz answers 200 and the operator token file exists.
    """

    name = "server"

    def __init__(
        self,
        *,
        home: Path | None = None,
        port: int | None = None,
        database_url: str | None = None,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 60.0,
        python_args: Iterable[str] = (),
    ) -> None:
        self._own_home = home is None
        self.home = Path(tempfile.mkdtemp(prefix="huangpu-home-")) if home is None else home
        self.port = port or free_port()
        self.database_url = database_url
        self.startup_timeout = startup_timeout
        extra = {"HUANGPU_HOME": str(self.home), "HUANGPU_HOST": LOOPBACK}
        extra["HUANGPU_PORT"] = str(self.port)
        if database_url:
            extra["HUANGPU_DATABASE_URL"] = database_url
        extra.update(env or {})
        # python_args go before `-m huangpu`, e.g. ["-m", "cProfile", "-o", path] to profile.
        argv = [sys.executable, *python_args, "-m", "huangpu", "server"]
        super().__init__(argv, child_env(extra), self.home / "logs" / "server.log", repo_root())
        self._operator_token: str | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def operator_token(self) -> str:
        if self._operator_token is None:
            raise RuntimeError("the server has not written its operator token yet")
        return self._operator_token

    def start(self) -> None:
        super().start()
        try:
            self._wait_ready()
        except BaseException:
            self.stop(timeout=5)
            raise

    def _wait_ready(self) -> None:
        token_file = self.home / "operator.token"
        deadline = time.monotonic() + self.startup_timeout
        last = "no answer yet"
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if not self.alive():
                    raise RuntimeError(
                        f"server exited with code {self.returncode} before /healthz answered; "
                        f"log {self.log_path}:\n{self.log_tail()}"
                    )
                try:
                    resp = client.get(f"{self.url}/healthz")
                    last = f"HTTP {resp.status_code}: {resp.text[:200]}"
                    if resp.status_code == 200 and token_file.exists():
                        token = token_file.read_text().strip()
                        if token:
                            self._operator_token = token
                            return
                        last = "operator.token is empty"
                    elif resp.status_code == 200:
                        last = f"/healthz ok but {token_file} does not exist"
                except httpx.TransportError as error:
                    last = repr(error)
                time.sleep(0.1)
        raise TimeoutError(
            f"server not ready within {self.startup_timeout}s ({last}); "
            f"log {self.log_path}:\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 10.0) -> int | None:
        code = super().stop(timeout)
        if self._own_home and not _keep_tmp():
            shutil.rmtree(self.home, ignore_errors=True)
        return code


class SchedulerProcess(ManagedProcess):
    """``python -m huangpu scheduler`` on the same home (SQLite file) or database as a server."""

    name = "scheduler"

    def __init__(
        self,
        *,
        home: Path,
        database_url: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.home = home
        extra = {"HUANGPU_HOME": str(home)}
        if database_url:
            extra["HUANGPU_DATABASE_URL"] = database_url
        extra.update(env or {})
        super().__init__(
            _python_m("scheduler"), child_env(extra), home / "logs" / "scheduler.log", repo_root()
        )

    @classmethod
    def for_server(cls, server: ServerProcess, env: Mapping[str, str] | None = None) -> Self:
        return cls(home=server.home, database_url=server.database_url, env=env)

    def start(self) -> None:
        super().start()
        # No health endpoint: a scheduler that cannot open the store exits at once.
        time.sleep(0.5)
        if not self.alive():
            raise RuntimeError(
                f"scheduler exited with code {self.returncode}; log {self.log_path}:\n"
                f"{self.log_tail()}"
            )


class AgentProcess(ManagedProcess):
    """``python -m huangpu agent`` for one pool, with a state dir that survives restarts.

    The agent writes ``<state_dir>/jobs/<job_id>/job.json`` with the job's ``pid``.
    ``inventory`` is the agent's declared-devices text, e.g. ``8xA100`` (builders.inventory_text).
    ``kill()`` simulates a crash (SIGKILL, jobs keep running); ``restart()`` starts it again on
    the same state dir so it can re-attach. ``stop()`` also ends job processes this agent
    started that are still alive, so a test never leaves a ``sleep 300`` behind.
    """

    name = "agent"

    def __init__(
        self,
        *,
        server_url: str,
        token: str,
        pool: str,
        inventory: str,
        state_dir: Path | None = None,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._own_state = state_dir is None
        self.state_dir = (
            Path(tempfile.mkdtemp(prefix=f"huangpu-agent-{pool}-"))
            if state_dir is None
            else state_dir
        )
        self.pool = pool
        self.inventory = inventory
        argv = _python_m(
            "agent",
            "--server",
            server_url,
            "--token",
            token,
            "--pool",
            pool,
            "--inventory",
            inventory,
            "--state-dir",
            str(self.state_dir),
        )
        if name:
            argv += ["--name", name]
        extra = {"HUANGPU_HOME": str(self.state_dir / "home")}
        extra.update(env or {})
        super().__init__(argv, child_env(extra), self.state_dir / "agent.log", repo_root())
        self._first_ticks: int | None = None

    def start(self) -> None:
        super().start()
        if self._first_ticks is None:
            self._first_ticks = self.started_ticks

    def restart(self) -> None:
        """Start again on the same state dir (after ``kill()`` or ``stop()``)."""
        if self.alive():
            self.stop()
        super().start()

    def job_dirs(self, job_id: str) -> list[Path]:
        """The job's directories under ``<state>/jobs``, oldest attempt first.

        The local executor keeps one per attempt, ``<job_id>-a<attempt>/``; a plain
        ``<job_id>/`` is accepted too.
        """

        def attempt(path: Path) -> int:
            suffix = path.name[len(job_id) :]
            return int(suffix[2:]) if suffix.startswith("-a") and suffix[2:].isdigit() else -1

        root = self.state_dir / "jobs"
        found = [d for d in root.glob(f"{job_id}*") if d.is_dir() and attempt(d) >= -1]
        found = [d for d in found if d.name == job_id or d.name.startswith(f"{job_id}-a")]
        return sorted(found, key=attempt)

    def job_record(self, job_id: str) -> dict[str, Any] | None:
        """The latest attempt's job.json, or None while it is not written."""
        dirs = self.job_dirs(job_id)
        if not dirs:
            return None
        try:
            data = json.loads((dirs[-1] / "job.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None  # not written yet, or caught mid-write
        return data if isinstance(data, dict) else None

    def job_pid(self, job_id: str, timeout: float = 10.0) -> int:
        """The job's process id from job.json, waiting up to ``timeout`` for it to appear."""
        deadline = time.monotonic() + timeout
        while True:
            record = self.job_record(job_id)
            if record and isinstance(record.get("pid"), int):
                return int(record["pid"])
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"no job.json with a pid for {job_id} under {self.state_dir / 'jobs'} after "
                    f"{timeout}s (record: {record}); agent log:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def _job_pids(self) -> list[int]:
        pids = []
        for path in glob.glob(str(self.state_dir / "jobs" / "*" / "job.json")):
            with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
                pid = json.loads(Path(path).read_text()).get("pid")
                if isinstance(pid, int):
                    pids.append(pid)
        return pids

    def _kill_leftover_jobs(self) -> None:
        # Only processes started after this agent first started can be its jobs: the start-time
        # check keeps a recycled PID that belongs to an older, unrelated process safe.
        first = self._first_ticks or 0
        for pid in self._job_pids():
            if not pid_alive(pid) or (_start_ticks(pid) or 0) < first:
                continue
            for victim in [*descendants(pid), *group_members(pid), pid]:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(victim, signal.SIGKILL)

    def stop(self, timeout: float = 10.0) -> int | None:
        code = super().stop(timeout)
        self._kill_leftover_jobs()
        if self._own_state and not _keep_tmp():
            shutil.rmtree(self.state_dir, ignore_errors=True)
        return code


class PostgresServer:
    """A throwaway PostgreSQL from scripts/pg-up.sh in a temp dir under /tmp, on a free port.

    Stopped by the postmaster's PID with SIGINT (fast shutdown), as ENGINES.md does.
    """

    def __init__(self, port: int | None = None, startup_timeout: float = 120.0) -> None:
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="huangpu-pg-"))
        # mkdtemp makes 0700; the postgres user must be able to enter it.
        self.dir.chmod(0o755)
        self.startup_timeout = startup_timeout
        self._pid: int | None = None

    @staticmethod
    def available() -> bool:
        """Whether PostgreSQL's server binaries are installed where pg-up.sh looks."""
        return bool(glob.glob("/usr/lib/postgresql/*/bin/initdb"))

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@{LOOPBACK}:{self.port}/huangpu"

    @property
    def pid(self) -> int | None:
        return self._pid

    def start(self) -> None:
        env = child_env({"HUANGPU_PG_DIR": str(self.dir), "HUANGPU_PG_PORT": str(self.port)})
        result = subprocess.run(
            ["bash", str(repo_root() / "scripts" / "pg-up.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=self.startup_timeout,
        )
        pid_file = self.dir / "data" / "postmaster.pid"
        if pid_file.exists():
            self._pid = int(pid_file.read_text().splitlines()[0])
        if result.returncode != 0:
            self.stop()
            raise RuntimeError(
                f"scripts/pg-up.sh exited {result.returncode}: {result.stderr.strip()}\n"
                f"pg.log:\n{tail(self.dir / 'pg.log')}"
            )

    def stop(self, timeout: float = 10.0) -> None:
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGINT)
            deadline = time.monotonic() + timeout
            while pid_alive(self._pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if pid_alive(self._pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self._pid, signal.SIGKILL)
            self._pid = None
        if not _keep_tmp():
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ApiError(AssertionError):
    """An API call answered with an unexpected status. An AssertionError so pytest shows it."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.status_code = response.status_code
        try:
            self.body: Any = response.json()
        except ValueError:
            self.body = response.text
        request = response.request
        super().__init__(
            f"{request.method} {request.url.path} -> HTTP {response.status_code}: {self.body}"
        )


class UnexpectedState(AssertionError):
    """A job reached a terminal state other than the ones waited for."""


_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "REJECTED"})


class ApiClient:
    """A thin, synchronous httpx wrapper over /v1 for tests. ``token`` defaults to the operator's.

    Methods that return data raise ApiError on any non-2xx answer; ``request`` and ``post_job``
    return the raw response for tests that check error answers.
    """

    def __init__(self, base_url: str, operator_token: str, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.operator_token = operator_token
        # trust_env=False: an HTTP(S)_PROXY in the environment must never see loopback calls.
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, trust_env=False)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """A raw call. ``token=""`` sends no Authorization header at all."""
        headers = dict(kwargs.pop("headers", {}) or {})
        bearer = self.operator_token if token is None else token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        return self.http.request(method, path, headers=headers, **kwargs)

    def _ok(self, response: httpx.Response) -> Any:
        if not response.is_success:
            raise ApiError(response)
        return response.json()

    def get(self, path: str, token: str | None = None, **params: Any) -> Any:
        return self._ok(self.request("GET", path, token, params=params or None))

    def post(self, path: str, body: Any = None, token: str | None = None) -> Any:
        return self._ok(self.request("POST", path, token, json=body))

    # operator
    def create_org(self, name: str, category: str = "startup") -> dict[str, Any]:
        return dict(self.post("/v1/orgs", {"name": name, "category": category}))

    def create_supplier(self, name: str) -> dict[str, Any]:
        return dict(self.post("/v1/suppliers", {"name": name}))

    def create_pool(
        self,
        name: str,
        supplier: str,
        region: str = "shanghai",
        executor: str = "local",
        engine_backlog: int | None = None,
    ) -> dict[str, Any]:
        body = pool_body(name, supplier, region, executor, engine_backlog)
        return dict(self.post("/v1/pools", body))

    def create_token(
        self,
        role: str,
        *,
        org: str | None = None,
        pool: str | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Returns the token view; the secret is in ``["token"]``."""
        body: dict[str, Any] = {"role": role}
        for key, value in (("org", org), ("pool", pool), ("name", name)):
            if value is not None:
                body[key] = value
        return dict(self.post("/v1/tokens", body))

    def pools(self, token: str | None = None) -> list[dict[str, Any]]:
        return list(self.get("/v1/pools", token))

    # jobs
    def post_job(self, body: Any, token: str | None = None) -> httpx.Response:
        """POST /v1/jobs with ``body`` as given (any JSON), returning the raw response."""
        return self.request("POST", "/v1/jobs", token, json=body)

    def submit(
        self, spec: dict[str, Any], token: str | None = None, org: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"spec": spec}
        if org is not None:
            body["org"] = org
        return dict(self._ok(self.post_job(body, token)))

    def jobs(self, token: str | None = None, **params: Any) -> list[dict[str, Any]]:
        return list(self.get("/v1/jobs", token, **params))

    def job(self, job_id: str, token: str | None = None) -> dict[str, Any]:
        return dict(self.get(f"/v1/jobs/{job_id}", token))

    def cancel(self, job_id: str, token: str | None = None) -> dict[str, Any]:
        return dict(self.post(f"/v1/jobs/{job_id}/cancel", None, token))

    def logs_page(self, job_id: str, offset: int = 0, token: str | None = None) -> dict[str, Any]:
        return dict(self.get(f"/v1/jobs/{job_id}/logs", token, offset=offset))

    def logs(self, job_id: str, token: str | None = None, max_pages: int = 1000) -> str:
        """All log text stored so far, following ``next_offset`` page by page."""
        parts: list[str] = []
        offset = 0
        for _ in range(max_pages):
            page = self.logs_page(job_id, offset, token)
            parts.append(page.get("data") or "")
            nxt = int(page.get("next_offset", offset))
            if nxt <= offset or not page.get("data"):
                break
            offset = nxt
        return "".join(parts)

    def wait_for_logs(
        self, job_id: str, needle: str, timeout: float = 15.0, token: str | None = None
    ) -> str:
        """Poll the logs until ``needle`` appears; return them (raise TimeoutError otherwise)."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.logs(job_id, token)
            if needle in text:
                return text
            time.sleep(0.2)
        raise TimeoutError(f"{needle!r} not in the logs of {job_id} after {timeout}s: {text!r}")

    def wait_for_state(
        self,
        job_id: str,
        states: str | Iterable[str],
        timeout: float = 30.0,
        token: str | None = None,
        interval: float = 0.1,
    ) -> dict[str, Any]:
        """Poll the job until its state is one of ``states``; return its detail view.

        Raises UnexpectedState as soon as the job is terminal in a state not waited for, and
        TimeoutError (with the last view, history included) when time runs out.
        """
        wanted = {states} if isinstance(states, str) else set(states)
        deadline = time.monotonic() + timeout
        view: dict[str, Any] = {}
        while True:
            view = self.job(job_id, token)
            if view.get("state") in wanted:
                return view
            if view.get("state") in _TERMINAL:
                raise UnexpectedState(
                    f"job {job_id} ended {view.get('state')} while waiting for {sorted(wanted)}: "
                    f"exit_code={view.get('exit_code')} reason={view.get('reason')!r} "
                    f"history={view.get('history')}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"job {job_id} not in {sorted(wanted)} after {timeout}s; last view: {view}"
                )
            time.sleep(interval)

    def wait_for_agent(self, pool: str, timeout: float = 20.0, token: str | None = None) -> None:
        """Wait until pool ``pool`` (name or id) lists an online agent."""
        deadline = time.monotonic() + timeout
        seen: Any = None
        while time.monotonic() < deadline:
            for view in self.pools(token):
                if pool in (view.get("name"), view.get("id")):
                    seen = view.get("agents")
                    if any(a.get("online") for a in view.get("agents") or []):
                        return
            time.sleep(0.1)
        raise TimeoutError(f"no online agent in pool {pool!r} after {timeout}s (agents: {seen})")


# Short leases so LOST detection and requeueing happen within seconds in tests.
FAST_LEASES = {
    "HUANGPU_LEASE_SECONDS": "3",
    "HUANGPU_POLL_TIMEOUT_SECONDS": "1",
    "HUANGPU_SCHEDULER_INTERVAL_SECONDS": "0.2",
}


class PoolHandle:
    """A pool created through the API, with its agent process and agent token."""

    def __init__(self, view: dict[str, Any], chip: str, token: str, agent: AgentProcess) -> None:
        self.view = view
        self.id: str = view["id"]
        self.name: str = view["name"]
        self.chip = chip
        self.token = token
        self.agent = agent


class Platform:
    """Server + scheduler processes, and pools with agent processes, all set up via the API.

    ``database_url=None`` uses the server's SQLite file. Stop with ``stop()`` (agents first).
    """

    def __init__(
        self,
        *,
        database_url: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.env = dict(FAST_LEASES if env is None else env)
        self.server = ServerProcess(database_url=database_url, env=self.env)
        self.scheduler = SchedulerProcess.for_server(self.server, env=self.env)
        self._api: ApiClient | None = None
        self.orgs: dict[str, dict[str, Any]] = {}
        self.tenant_tokens: dict[str, str] = {}
        self.suppliers: dict[str, dict[str, Any]] = {}
        self.pools: dict[str, PoolHandle] = {}
        self._work = Path(tempfile.mkdtemp(prefix="huangpu-platform-"))

    @property
    def api(self) -> ApiClient:
        if self._api is None:
            raise RuntimeError("platform not started")
        return self._api

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def operator_token(self) -> str:
        return self.server.operator_token

    def start(self) -> None:
        try:
            self.server.start()
            self._api = ApiClient(self.server.url, self.server.operator_token)
            self.scheduler.start()
        except BaseException:
            self.stop()
            raise

    def add_org(self, name: str, category: str = "startup") -> str:
        """Create an org and a tenant token for it; return the token's secret."""
        self.orgs[name] = self.api.create_org(name, category)
        token = self.api.create_token("tenant", org=name, name=f"{name}-tenant")["token"]
        self.tenant_tokens[name] = str(token)
        return str(token)

    def add_pool(
        self,
        name: str,
        supplier: str,
        chip: str,
        per_node: int,
        nodes: int = 1,
        region: str = "shanghai",
        online_timeout: float = 30.0,
    ) -> PoolHandle:
        """Create supplier (once), pool and agent token; start the agent; wait until online."""
        from huangpu.testing.builders import inventory_text

        if supplier not in self.suppliers:
            self.suppliers[supplier] = self.api.create_supplier(supplier)
        view = self.api.create_pool(name, supplier, region=region)
        token = str(self.api.create_token("agent", pool=name, name=f"{name}-agent")["token"])
        agent = AgentProcess(
            server_url=self.server.url,
            token=token,
            pool=name,
            inventory=inventory_text(chip, per_node, nodes),
            name=f"{name}-agent",
            env=self.env,
        )
        handle = PoolHandle(view, chip, token, agent)
        self.pools[name] = handle
        agent.start()
        try:
            self.api.wait_for_agent(name, timeout=online_timeout)
        except TimeoutError as error:
            raise TimeoutError(f"{error}\nagent log:\n{agent.log_tail()}") from None
        return handle

    def pool_of(self, job: dict[str, Any]) -> PoolHandle:
        """The pool a job view says it is placed on."""
        for handle in self.pools.values():
            if job.get("pool_id") == handle.id or job.get("pool") == handle.name:
                return handle
        raise KeyError(f"job {job.get('id')} is on pool {job.get('pool')!r}, not one of ours")

    def processes(self) -> list[ManagedProcess]:
        return [self.server, self.scheduler, *(p.agent for p in self.pools.values())]

    def log_tails(self, limit: int = 3000) -> dict[str, str]:
        tails = {"server": self.server.log_tail(limit), "scheduler": self.scheduler.log_tail(limit)}
        for name, handle in self.pools.items():
            tails[f"agent {name}"] = handle.agent.log_tail(limit)
        return tails

    def stop(self) -> None:
        # Agents first, so they do not spend their last seconds retrying a dead server.
        for handle in self.pools.values():
            handle.agent.stop()
        self.scheduler.stop()
        if self._api is not None:
            self._api.close()
        self.server.stop()
        if not _keep_tmp():
            shutil.rmtree(self._work, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
