"""Per-job shim: ``python -m huangpu.agent.executors.shim JOB_DIR COMMAND``.

It outlives the agent (own session, not the agent's child once the agent dies), so the exit
status of a job is never lost with the agent: the shim waits for ``/bin/sh -c COMMAND`` and
writes ``exit.json`` atomically. Stdlib only, so it starts fast and holds little memory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

EXIT_FILE = "exit.json"
PID_FILE = "shim.json"


def write_json_atomic(path: Path, data: dict[str, object]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def process_start_ticks(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot; tells a reused pid from ours."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may hold spaces and parentheses: split after its closing parenthesis
    return int(stat.rsplit(")", 1)[1].split()[19])


def _ignore(signum: int, frame: object) -> None:
    """The group's SIGTERM is meant for the command; the shim stays to record its exit."""


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m huangpu.agent.executors.shim JOB_DIR COMMAND", file=sys.stderr)
        return 2
    job_dir, command = Path(argv[0]), argv[1]
    # a record of our own pid, in case the agent died before it wrote job.json
    write_json_atomic(
        job_dir / PID_FILE, {"pid": os.getpid(), "start_ticks": process_start_ticks(os.getpid())}
    )
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _ignore)
    try:
        code = subprocess.Popen(["/bin/sh", "-c", command]).wait()
    except OSError as error:
        print(f"huangpu shim: cannot start /bin/sh: {error}", file=sys.stderr)
        code = 127
    write_json_atomic(job_dir / EXIT_FILE, {"exit_code": code, "finished_at": time.time()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
