"""The demo city's money: seeded prices, opening balances, a Shanghai-style city voucher
program stacked with a district one, both granted to the start-up, and the closing bill.

Everything goes through the HTTP API and is idempotent (existing prices and programs are kept,
top-ups carry a fixed key), so `huangpu up` can run it on every start.
"""

from __future__ import annotations

import time
from typing import Any

from huangpu.cli.api_client import ApiClient
from huangpu.core.catalog import load_catalog
from huangpu.ledger import seed_prices

OPENING_BALANCE_FEN = 500_000  # ¥5,000 each
# Shanghai-style: 30 % on domestic chips, 20 % on others, city and district stacking.
PROGRAMS: tuple[dict[str, Any], ...] = (
    {
        "id": "sh-city-compute",
        "name": "Shanghai city compute vouchers",
        "funder": "shanghai",
        "rate_bp_domestic": 3000,
        "rate_bp_other": 2000,
        "program_budget_fen": 100_000_000,
        "per_tenant_cap_fen": 5_000_000,
        "stack_group": "shanghai",
        "stack_ceiling_bp": 10_000,
        "eligible_categories": ["startup", "lab"],
    },
    {
        "id": "xuhui-district",
        "name": "Xuhui district AI start-up top-up",
        "funder": "xuhui",
        "rate_bp_domestic": 2000,
        "rate_bp_other": 2000,
        "program_budget_fen": 20_000_000,
        "per_tenant_cap_fen": 1_000_000,
        "stack_group": "shanghai",
        "stack_ceiling_bp": 10_000,
        "eligible_categories": ["startup"],
    },
)


def inventory_chip(inventory: str) -> str:
    """'2x8x910B' -> the catalog id of 910B."""
    return load_catalog().resolve(inventory.split("x")[-1]).id


def setup_ledger(api: ApiClient, pools: list[tuple[str, str]], orgs: list[tuple[str, str]]) -> None:
    """``pools``: (name, inventory); ``orgs``: (name, category)."""
    seeded = seed_prices()
    priced = {(p["pool"], p["chip"]) for p in api.get("/v1/prices")}
    for pool, inventory in pools:
        chip = inventory_chip(inventory)
        if (pool, chip) not in priced and chip in seeded:
            api.post("/v1/prices", {"pool": pool, "chip": chip, "fen_per_hour": seeded[chip]})
    for org, _ in orgs:
        api.post(
            f"/v1/orgs/{org}/topups",
            {
                "amount_fen": OPENING_BALANCE_FEN,
                "idempotency_key": "demo-opening-balance",
                "note": "demo opening balance",
            },
        )
    existing = {p["id"] for p in api.get("/v1/vouchers/programs")}
    for program in PROGRAMS:
        if program["id"] not in existing:
            api.post("/v1/vouchers/programs", program)
    for org, category in orgs:
        held = {g["program_id"] for g in api.get("/v1/balances", org=org)["grants"] if g["valid"]}
        for program in PROGRAMS:
            if category in program["eligible_categories"] and program["id"] not in held:
                api.post("/v1/vouchers/grants", {"program": program["id"], "org": org})


def wait_for_bill(api: ApiClient, org: str, month: str, job_ids: set[str], timeout: float) -> Any:
    """The org's bill once every job in ``job_ids`` is on it (metering runs at job end), or
    as it stands after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        bill = api.get(f"/v1/bills/{month}", org=org)
        if job_ids <= {line["job_id"] for line in bill["lines"]}:
            return bill
        if time.monotonic() > deadline:  # bill what is metered; the caller checks vouchers
            return bill
        time.sleep(0.5)
