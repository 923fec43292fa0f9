"""Money on the command line: CNY in, fen on the wire; bills and settlements as Rich tables."""

from __future__ import annotations

import csv
import io
from decimal import Decimal, InvalidOperation
from typing import Any

from rich.table import Table

from huangpu.cli.api_client import EXIT_BAD_INPUT, CliError
from huangpu.cli.output import listing
from huangpu.core.errors import InvalidInput
from huangpu.core.money import format_cny, parse_cny


def fen(text: str, option: str) -> int:
    """'3.00', '¥1,000' or '500' CNY -> fen; bad input exits 2 before anything is sent."""
    try:
        return int(parse_cny(text.replace("¥", "").replace(",", ""), option))
    except InvalidInput as error:
        raise CliError(f"{option}: {error.message}", exit_code=EXIT_BAD_INPUT) from None


def bp(text: str, option: str) -> int:
    """'30', '30%' or '12.5' percent -> basis points."""
    try:
        value = Decimal(text.strip().rstrip("%")) * 100
    except InvalidOperation:
        raise CliError(
            f"{option}: {text!r} is not a percentage", exit_code=EXIT_BAD_INPUT
        ) from None
    if value != value.to_integral_value():
        raise CliError(f"{option}: at most two decimals of a percent", exit_code=EXIT_BAD_INPUT)
    return int(value)


def cny(value: Any) -> str:
    return format_cny(int(value or 0))


def _programs(subsidies: list[dict[str, Any]]) -> str:
    return "\n".join(f"{s['program_id']} {cny(s['amount_fen'])}" for s in subsidies) or "-"


def bill_table(bill: dict[str, Any]) -> Table:
    table = listing(
        "JOB",
        "CHIP",
        "SUPPLIER",
        "CARD-HOURS",
        "GROSS",
        "SUBSIDY (per program)",
        "CASH",
        title=f"bill · {bill['org']} · {bill['month']}",
    )
    for line in bill["lines"]:
        table.add_row(
            line["job"],
            line["chip"],
            line["supplier"],
            f"{line['device_seconds'] / 3600:,.2f}",
            cny(line["gross_fen"]),
            _programs(line["subsidies"]),
            cny(line["cash_fen"]),
        )
    table.add_section()
    table.add_row(
        "total",
        "",
        "",
        "",
        cny(bill["gross_fen"]),
        _programs(bill["subsidies"]),
        f"[bold]{cny(bill['cash_fen'])}[/bold]",
    )
    table.caption = (
        f"gross {cny(bill['gross_fen'])} − voucher subsidy {cny(bill['subsidy_fen'])} "
        f"= cash {cny(bill['cash_fen'])}"
    )
    return table


def bill_csv(bill: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    programs = sorted({s["program_id"] for s in bill["subsidies"]})
    writer.writerow(
        [
            "org",
            "month",
            "job_id",
            "job",
            "chip",
            "supplier",
            "device_seconds",
            "gross_fen",
            *(f"subsidy_fen:{p}" for p in programs),
            "cash_fen",
        ]
    )
    for line in bill["lines"]:
        paid = {s["program_id"]: s["amount_fen"] for s in line["subsidies"]}
        writer.writerow(
            [
                bill["org"],
                bill["month"],
                line["job_id"],
                line["job"],
                line["chip"],
                line["supplier"],
                line["device_seconds"],
                line["gross_fen"],
                *(paid.get(p, 0) for p in programs),
                line["cash_fen"],
            ]
        )
    return out.getvalue()


def settlement_table(data: dict[str, Any]) -> Table:
    table = listing(
        "SUPPLIER",
        "GROSS",
        "TENANT CASH",
        "SUBSIDY (per program)",
        "FEE",
        "OWED",
        title=f"settlement · {data['quarter']}",
    )
    for row in data["suppliers"]:
        table.add_row(
            row["supplier"],
            cny(row["gross_fen"]),
            cny(row["cash_fen"]),
            _programs(row["subsidies"]),
            cny(row["fee_fen"]),
            f"[bold]{cny(row['owed_fen'])}[/bold]",
        )
    return table


def settlement_csv(data: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "quarter",
            "supplier",
            "gross_fen",
            "cash_fen",
            "program_id",
            "subsidy_fen",
            "fee_fen",
            "owed_fen",
        ]
    )
    for row in data["suppliers"]:
        for s in row["subsidies"] or [{"program_id": "", "amount_fen": 0}]:
            writer.writerow(
                [
                    data["quarter"],
                    row["supplier"],
                    row["gross_fen"],
                    row["cash_fen"],
                    s["program_id"],
                    s["amount_fen"],
                    row["fee_fen"],
                    row["owed_fen"],
                ]
            )
    return out.getvalue()
