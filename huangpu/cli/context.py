"""Global CLI options (--server, --token) and how a command gets an API client from them.

The options live on ``ctx.obj`` so tests can pre-seed it with a mock transport:
``CliRunner().invoke(app, args, obj=CliOptions(transport=httpx.MockTransport(handler)))``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import httpx
import typer

from huangpu.cli.api_client import ApiClient
from huangpu.settings import Settings


@dataclass
class CliOptions:
    server: str | None = None
    token: str | None = None
    transport: httpx.BaseTransport | None = None

    def server_url(self) -> str:
        return self.server or Settings().url

    def resolve_token(self) -> str | None:
        """--token, then HUANGPU_TOKEN (typer fills both into ``token``), then the token file."""
        if self.token:
            return self.token.strip()
        return read_token_file(Settings().token_file)

    def client(self) -> ApiClient:
        return ApiClient(self.server_url(), self.resolve_token(), transport=self.transport)


def read_token_file(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def options(ctx: typer.Context) -> CliOptions:
    """The options of the root command, wherever in the command tree we are."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliOptions):
        root.obj = CliOptions(server=os.environ.get("HUANGPU_SERVER_URL"))
    return root.obj


def client(ctx: typer.Context) -> ApiClient:
    return options(ctx).client()
