"""Configuration: one ``huangpu.toml`` under $HUANGPU_HOME, overridden by HUANGPU_* variables.

Secrets (tokens) never go in the file: the CLI reads them from --token, HUANGPU_TOKEN, or the
0600 token file the server writes under $HUANGPU_HOME on first start.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


def default_home() -> Path:
    env = os.environ.get("HUANGPU_HOME")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "share" / "huangpu"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUANGPU_", extra="ignore")

    home: Path = Field(default_factory=default_home)
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=0, le=65535)
    server_url: str | None = None
    lease_seconds: float = Field(default=20.0, gt=0)
    poll_timeout_seconds: float = Field(default=10.0, ge=0)
    scheduler_interval_seconds: float = Field(default=0.5, gt=0)
    policy: str = "cost-aware"
    # Fair share: an org's past usage halves every this many seconds (Slurm's decay half-life).
    fair_share_half_life_seconds: float = Field(default=7 * 86400.0, gt=0)
    # Ledger: how often the scheduler process rates usage, and how long running jobs of an
    # org whose cash ran out may go on before they are cancelled.
    metering_interval_seconds: float = Field(default=60.0, gt=0)
    cash_grace_seconds: float = Field(default=300.0, ge=0)
    # The wall screen (/wall) needs no sign-in when true: it shows no tenant or job names.
    wall_public: bool = True
    # Hardening (issue 9). Request bodies above max_body_bytes get 413. Submits are limited
    # per token and sign-ins per client address by token buckets (rate per second, burst);
    # the submit default keeps bench/submit.py's 64 clients on one token unthrottled.
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    submit_rate_per_second: float = Field(default=5000.0, gt=0)
    submit_burst: int = Field(default=10000, ge=1)
    login_rate_per_second: float = Field(default=2.0, gt=0)
    login_burst: int = Field(default=30, ge=1)
    # Server processes sharing the port (PostgreSQL only; SQLite has one writer anyway). Each
    # has its own caches, rate-limit buckets and /metrics counters (docs/benchmarks.md, Load).
    server_workers: int = Field(default=1, ge=1, le=64)
    # "text" for people, "json" (one object a line, with the request id) for log shippers.
    log_format: Literal["text", "json"] = "text"
    # The scheduler process's Prometheus metrics on 127.0.0.1:<port>; None: not served.
    scheduler_metrics_port: int | None = Field(default=None, ge=1, le=65535)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        from pydantic_settings import TomlConfigSettingsSource

        toml = TomlConfigSettingsSource(settings_cls, toml_file=default_home() / "huangpu.toml")
        return (init_settings, env_settings, toml)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'huangpu.db'}"

    @property
    def url(self) -> str:
        return self.server_url or f"http://{self.host}:{self.port}"

    @property
    def token_file(self) -> Path:
        return self.home / "operator.token"
