"""The `huangpu` command: assembles the noun modules and maps errors to exit codes.

Exit codes: 0 ok, 1 failure (server unreachable, 5xx, a job that failed), 2 bad input (local
validation, any HTTP 4xx). Every CliError is printed once, here, as a red line plus a hint.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

import huangpu
from huangpu.cli import (
    billing,
    budgets,
    chips,
    db,
    demo,
    jobs,
    orgs,
    pools,
    prices,
    quotas,
    services,
    sim,
    suppliers,
    tokens,
    vouchers,
)
from huangpu.cli.api_client import EXIT_BAD_INPUT, EXIT_FAILURE, CliError
from huangpu.cli.context import CliOptions
from huangpu.cli.output import print_error
from huangpu.core.errors import HuangpuError


class HuangpuGroup(TyperGroup):
    """The root group: every subcommand runs inside its invoke, so errors are handled once."""

    # ctx is Any: typer vendors click, and its Context base class is not public.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as error:
            print_error(error)
            raise typer.Exit(error.exit_code) from None
        except HuangpuError as error:
            # Raised by the service entry points (e.g. an agent given a bad --inventory).
            exit_code = EXIT_BAD_INPUT if 400 <= error.http_status < 500 else EXIT_FAILURE
            print_error(CliError(f"{error.code}: {error.message}", exit_code=exit_code))
            raise typer.Exit(exit_code) from None
        except ValidationError as error:
            # Only Settings() validates outside the API client: a bad HUANGPU_* value.
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            print_error(
                CliError(
                    f"configuration: {where}: {first['msg']}",
                    exit_code=EXIT_BAD_INPUT,
                    hint=f"check huangpu.toml and HUANGPU_{where.upper()}",
                )
            )
            raise typer.Exit(EXIT_BAD_INPUT) from None


app = typer.Typer(
    cls=HuangpuGroup,
    name="huangpu",
    help="huangpu: a city-scale dispatch platform for AI compute.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"huangpu {huangpu.__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    server: Annotated[
        str | None,
        typer.Option(envvar="HUANGPU_SERVER_URL", help="server URL (default: from settings)"),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="HUANGPU_TOKEN",
            show_default=False,
            help="bearer token (default: $HUANGPU_HOME/operator.token)",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print version")
    ] = False,
) -> None:
    # Tests seed ctx.obj with a mock transport; keep it and fill in the options.
    existing = ctx.obj if isinstance(ctx.obj, CliOptions) else CliOptions()
    existing.server = server or existing.server
    existing.token = token or existing.token
    ctx.obj = existing


jobs.register(app)
chips.register(app)
app.add_typer(pools.app, name="pools")
app.add_typer(orgs.app, name="orgs")
app.add_typer(suppliers.app, name="suppliers")
app.add_typer(tokens.app, name="tokens")
services.register(app)
app.command("demo")(demo.demo)
billing.register(app)
app.add_typer(vouchers.app, name="vouchers")
app.add_typer(prices.app, name="prices")
app.add_typer(budgets.app, name="budgets")
app.add_typer(db.app, name="db")
app.add_typer(quotas.app, name="quotas")
sim.register(app)


def main() -> None:
    app(prog_name="huangpu")
