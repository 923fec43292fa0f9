"""`huangpu chips`: the accelerator catalog, served from package data (no server needed)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from huangpu.cli.api_client import EXIT_BAD_INPUT, CliError
from huangpu.cli.output import console, listing, print_json
from huangpu.core.catalog import ChipModel, load_catalog
from huangpu.core.families import FAMILIES


def chip_view(model: ChipModel) -> dict[str, Any]:
    """The same shape as the server's GET /v1/chips, so scripts can use either."""
    family = model.family_info
    return {
        "id": model.id,
        "name": model.name,
        "family": model.family,
        "vendor": family.vendor,
        "memory_gib": model.memory_gib,
        "bf16_tflops": model.bf16_tflops,
        "memory_bw_gbps": model.memory_bw_gbps,
        "domestic": model.domestic,
        "visibility_env": family.visibility_env,
        "torch_device": family.torch_device,
    }


def _num(value: float) -> str:
    return f"{value:g}" if value else "-"  # 0 means the catalog has no figure


def chips(
    family: Annotated[str | None, typer.Option(help="only this family, e.g. ascend")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """List the accelerator catalog: chip ids to use in a job's resources.chips."""
    if family is not None and family.lower() not in FAMILIES:
        raise CliError(
            f"--family: unknown family {family!r}",
            exit_code=EXIT_BAD_INPUT,
            hint=f"use one of {', '.join(FAMILIES)}",
        )
    models = [m for m in load_catalog() if family is None or m.family == family.lower()]
    if json_out:
        print_json([chip_view(m) for m in models])
        return
    table = listing("ID", "MODEL", "FAMILY", "MEM GiB", "BF16 TFLOPS", "BW GB/s", "VISIBILITY ENV")
    for m in models:
        table.add_row(
            m.id,
            m.name.split(" (")[0],  # the catalog's notes in parentheses belong in --json only
            m.family + (" (CN)" if m.domestic else ""),
            _num(m.memory_gib),
            _num(m.bf16_tflops),
            _num(m.memory_bw_gbps),
            m.family_info.visibility_env,
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("chips")(chips)
