"""The local executor with real subprocesses: exits, env, logs, cancel, reattach."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from huangpu.agent.executors.base import ExecState, ExecStatus, Executor, SubmitFailed
from huangpu.agent.executors.local import LocalExecutor, group_alive, pid_alive
from huangpu.core.jobspec import JobSpec
from huangpu.core.protocol import DevicePlacement, Lease

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def lease(command: str, job_id: str = "job_1", attempt: int = 0, **spec: object) -> Lease:
    return Lease(
        job_id=job_id,
        attempt=attempt,
        spec=JobSpec(name="t", command=command, **spec),
        devices=[DevicePlacement(node="a-n0", index=0), DevicePlacement(node="a-n0", index=1)],
        visibility_env={"CUDA_VISIBLE_DEVICES": "0,1"},
        expires_at=time.time() + 60,
    )


def wait_for(check: Callable[[], object], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def finished(ex: LocalExecutor, engine_id: str) -> ExecStatus:
    wait_for(lambda: ex.poll(engine_id).state is not ExecState.RUNNING)
    return ex.poll(engine_id)


def output(ex: LocalExecutor, engine_id: str) -> str:
    return ex.logs(engine_id, 0, 1 << 20)[0].decode()


@pytest.fixture
def ex(tmp_path: Path) -> Iterator[LocalExecutor]:
    executor = LocalExecutor(tmp_path / "jobs")
    yield executor
    for engine_id in list(executor._jobs):  # no stray sleeps after a failed test
        executor.cancel(engine_id, grace_seconds=0.2)


def test_implements_the_interface(ex: LocalExecutor) -> None:
    assert isinstance(ex, Executor)


def test_exit_code_and_logs(ex: LocalExecutor) -> None:
    engine_id = ex.submit(lease("echo hello; echo oops >&2; exit 3"))
    assert engine_id == f"local:{engine_id.split(':')[1]}"
    status = finished(ex, engine_id)
    assert (status.state, status.exit_code, status.reason) == (ExecState.EXITED, 3, "exit code 3")
    assert status.finished_at is not None
    assert output(ex, engine_id) == "hello\noops\n"
    data, next_offset = ex.logs(engine_id, 6, 3)
    assert (data, next_offset) == (b"oop", 9)
    assert ex.logs(engine_id, 11) == (b"", 11)


def test_success_and_signal(ex: LocalExecutor) -> None:
    ok = ex.submit(lease("true", job_id="job_ok"))
    killed = ex.submit(lease("kill -9 $$", job_id="job_killed"))
    assert finished(ex, ok).exit_code == 0
    status = finished(ex, killed)
    assert (status.exit_code, status.signal) == (-9, 9)
    assert status.reason == "killed by signal 9 (SIGKILL)"


def test_environment(ex: LocalExecutor, tmp_path: Path) -> None:
    script = (
        'echo "$CUDA_VISIBLE_DEVICES|$HUANGPU_JOB_ID|$HUANGPU_ATTEMPT|$HUANGPU_CHECKPOINT_DIR'
        '|$PYTHONUNBUFFERED|$FOO"; echo "$PATH"; python -c "import sys; print(sys.executable)"; pwd'
    )
    engine_id = ex.submit(
        lease(script, attempt=2, env={"FOO": "bar"}, checkpoint_dir=str(tmp_path / "ckpt"))
    )
    assert finished(ex, engine_id).exit_code == 0
    values, path, python, cwd = output(ex, engine_id).splitlines()
    assert values == f"0,1|job_1|2|{tmp_path / 'ckpt'}|1|bar"
    assert path.split(os.pathsep)[0] == os.path.dirname(sys.executable)
    assert os.path.dirname(python) == os.path.dirname(sys.executable)
    assert Path(cwd) == ex.state_dir / "job_1-a2" / "work"


def test_workdir(ex: LocalExecutor, tmp_path: Path) -> None:
    engine_id = ex.submit(lease("pwd", workdir=str(tmp_path)))
    finished(ex, engine_id)
    assert output(ex, engine_id).strip() == str(tmp_path)
    with pytest.raises(SubmitFailed, match="does not exist"):
        ex.submit(lease("pwd", job_id="job_2", workdir=str(tmp_path / "missing")))


def test_cancel_kills_the_whole_process_group(ex: LocalExecutor, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # the shell and its children ignore SIGTERM, so only the SIGKILL after the grace works
    engine_id = ex.submit(lease(f"trap '' TERM; sleep 300 & echo $! $$ > {pids}; wait"))
    wait_for(lambda: pids.exists() and pids.read_text().strip())
    sleeper, shell = (int(p) for p in pids.read_text().split())
    shim_pid = int(engine_id.split(":")[1])
    assert os.getpgid(sleeper) == os.getpgid(shell) == shim_pid
    started = time.monotonic()
    ex.cancel(engine_id, grace_seconds=0.5)
    assert time.monotonic() - started >= 0.5
    for pid in (sleeper, shell, shim_pid):
        assert not pid_alive(pid)
    assert not group_alive(shim_pid)
    assert ex.poll(engine_id).state is ExecState.EXITED


def test_cancel_cooperative_job_is_quick(ex: LocalExecutor) -> None:
    engine_id = ex.submit(lease("sleep 300"))
    wait_for(lambda: (ex.state_dir / "job_1-a0" / "shim.json").exists())
    started = time.monotonic()
    ex.cancel(engine_id, grace_seconds=10)
    assert time.monotonic() - started < 5
    status = ex.poll(engine_id)
    assert (status.state, status.exit_code) == (ExecState.EXITED, -signal.SIGTERM)


def test_reattach_after_restart(tmp_path: Path) -> None:
    first = LocalExecutor(tmp_path / "jobs")
    running = first.submit(lease("echo started; sleep 300", job_id="job_run"))
    done = first.submit(lease("echo bye; exit 7", job_id="job_done"))
    gone = first.submit(lease("sleep 300", job_id="job_gone"))
    wait_for(lambda: (tmp_path / "jobs" / "job_done-a0" / "exit.json").exists())
    wait_for(lambda: (tmp_path / "jobs" / "job_gone-a0" / "shim.json").exists())
    os.killpg(int(gone.split(":")[1]), signal.SIGKILL)  # shim and job die without a record
    wait_for(lambda: not group_alive(int(gone.split(":")[1])))

    second = LocalExecutor(tmp_path / "jobs")  # the agent restarted
    found = {a.ref.job_id: a for a in second.reattach()}
    assert set(found) == {"job_run", "job_done"}
    assert found["job_run"].engine_id == running and found["job_run"].devices == 2
    assert found["job_done"].engine_id == done
    assert second.poll(running).state is ExecState.RUNNING
    assert second.poll(done).exit_code == 7
    wait_for(lambda: b"started" in second.logs(running)[0])
    assert second.logs(done)[0] == b"bye\n"

    second.forget(done)
    second.cancel(running, grace_seconds=2)
    assert not group_alive(int(running.split(":")[1]))
    status = second.poll(running)
    assert (status.state, status.exit_code) == (ExecState.EXITED, -signal.SIGTERM)

    third = LocalExecutor(tmp_path / "jobs")
    assert [a.ref.job_id for a in third.reattach()] == ["job_run"]  # exited, not yet reported
    first.poll(running)  # reap the first executor's children
    first.poll(gone)


def test_same_lease_twice_runs_once(ex: LocalExecutor) -> None:
    first = ex.submit(lease("sleep 300"))
    assert ex.submit(lease("sleep 300")) == first


def test_agent_secrets_do_not_reach_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    from huangpu.agent.executors.local import inherited_env

    monkeypatch.setenv("HUANGPU_TOKEN", "hp_secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    env = inherited_env()
    assert "HUANGPU_TOKEN" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert env["LC_ALL"] == "C.UTF-8" and "PATH" in env
