"""Real Slurm and Ray on loopback for tests and benchmarks (scripts/slurm-up.sh, ray-up.sh).

    SlurmCluster   munged, slurmctld, slurmd, slurmrestd in a temp dir; ``stop()`` runs
                   scripts/slurm-down.sh (by PID); ``kill_slurmd()`` / ``start_slurmd()``
    RayHead        ``ray start --head --block`` in its own session; stopped with SIGTERM to the
                   PID ray-up.sh recorded (never the Ray CLI's stop, which ends every Ray)

Ports come from a base the caller picks (free ranges checked first), so a developer's own
Slurm or Ray on the default ports is never touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from huangpu.agent.executors.local import pid_alive
from huangpu.testing.processes import _keep_tmp, child_env, repo_root

SLURM_COMMANDS = ("munged", "slurmctld", "slurmd", "slurmrestd", "sbatch", "scontrol")


def _ports_free(base: int, offsets: range) -> bool:
    for offset in offsets:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", base + offset))
            except OSError:
                return False
    return True


def pick_port_base(start: int, offsets: range, tries: int = 40, step: int = 211) -> int:
    for i in range(tries):
        base = start + i * step
        if _ports_free(base, offsets):
            return base
    raise RuntimeError(f"no free port range near {start}")


class SlurmCluster:
    def __init__(self, port_base: int | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="hpslurm-"))  # in /tmp: nobody must enter it
        os.chmod(self.dir, 0o755)
        self.port_base = port_base or pick_port_base(26810, range(6, 11))
        self.env = {
            "HUANGPU_SLURM_DIR": str(self.dir),
            "HUANGPU_SLURM_PORT_BASE": str(self.port_base),
        }

    @staticmethod
    def available() -> bool:
        return all(shutil.which(c) for c in SLURM_COMMANDS)

    @property
    def conf(self) -> str:
        return str(self.dir / "slurm.conf")

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port_base + 10}"

    @property
    def slurm_env(self) -> dict[str, str]:
        """What a Slurm command needs to talk to this cluster."""
        return {"SLURM_CONF": self.conf}

    def _script(self, name: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(repo_root() / "scripts" / name)],
            env=child_env(self.env),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=repo_root(),
        )

    def start(self) -> None:
        done = self._script("slurm-up.sh")
        if done.returncode != 0:
            logs = "\n".join(
                f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}"
                for p in sorted((self.dir / "log").glob("*.log"))
            )
            self.stop()
            raise RuntimeError(f"slurm-up.sh exited {done.returncode}: {done.stderr}\n{logs}")

    def pid(self, daemon: str) -> int | None:
        try:
            return int((self.dir / f"{daemon}.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def kill_slurmd(self) -> None:
        pid = self.pid("slurmd")
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)

    def start_slurmd(self) -> None:
        subprocess.run(
            ["slurmd", "-N", "localhost", "-f", self.conf],
            env=child_env(self.slurm_env),
            check=True,
            timeout=30,
        )

    def node_state(self) -> str:
        done = subprocess.run(
            ["sinfo", "-h", "-n", "localhost", "-o", "%T"],
            env=child_env(self.slurm_env),
            capture_output=True,
            text=True,
            timeout=30,
        )
        return done.stdout.strip()

    def wait_idle(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.node_state() in ("idle", "mixed", "allocated"):
                return
            time.sleep(0.5)
        raise TimeoutError(f"slurm node not back after {timeout}s: {self.node_state()!r}")

    def stop(self) -> None:
        self._script("slurm-down.sh", timeout=60)
        if not _keep_tmp():
            shutil.rmtree(self.dir, ignore_errors=True)


class RayHead:
    def __init__(self, port_base: int | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="hpray-"))
        self.port_base = port_base or pick_port_base(26380, range(0, 9))
        self.env = {
            "HUANGPU_RAY_DIR": str(self.dir),
            "HUANGPU_RAY_PORT_BASE": str(self.port_base),
            "HUANGPU_VENV": str(Path(sys.executable).parent.parent),
        }

    @staticmethod
    def available() -> bool:
        try:
            import ray  # noqa: F401
        except ImportError:
            return False
        return True

    @property
    def address(self) -> str:
        """The Jobs API (dashboard) address, for ``JobSubmissionClient``."""
        return f"http://127.0.0.1:{self.port_base + 1}"

    @property
    def gcs_address(self) -> str:
        """The cluster address a driver joins with ``ray.init(address=...)``."""
        return f"127.0.0.1:{self.port_base}"

    def start(self) -> None:
        done = subprocess.run(
            ["bash", str(repo_root() / "scripts" / "ray-up.sh")],
            env=child_env(self.env),
            capture_output=True,
            text=True,
            timeout=180,
            cwd=repo_root(),
        )
        if done.returncode != 0:
            log = (self.dir / "ray.log").read_text(errors="replace")[-3000:]
            self.stop()
            raise RuntimeError(f"ray-up.sh exited {done.returncode}: {done.stderr}\n{log}")
        # the Jobs API answers before the head's raylet has registered its resources
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                rows = httpx.get(
                    f"{self.address}/api/v0/nodes",
                    params={"detail": "1"},
                    timeout=5,
                    trust_env=False,
                ).json()["data"]["result"]["result"]
                if any(r.get("state") == "ALIVE" and r.get("resources_total") for r in rows):
                    return
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.3)
        raise TimeoutError("the Ray head listed no alive node within 60 s")

    def stop(self) -> None:
        try:
            pid = int((self.dir / "ray.pid").read_text().strip())
        except (OSError, ValueError):
            pid = None
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)  # `ray start --block` drains its session
            deadline = time.monotonic() + 30
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)  # setsid: its group is its own session
        if not _keep_tmp():
            shutil.rmtree(self.dir, ignore_errors=True)
