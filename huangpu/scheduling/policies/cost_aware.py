"""Cost-aware: the platform default candidate. Heterogeneity, price, quotas, backfill, preemption.

- Order: jobs waiting past the starvation guard first, then priority, then submit time.
- Where: the (pool, chip) cell with the lowest net cost per unit of work, that is the price
  per accelerator-hour after the org's voucher subsidy divided by the chip's speed for the
  job's workload class (SkyPilot's optimiser across clouds, Gavel's effective throughput).
  Without prices, the fastest chip wins. A deadline comes before cost: cells that would
  finish late rank last, by finish time. Max price and budget stops are hard limits.
- Then: best-fit nodes in the cell, a gang in one interconnect domain (``cells``), quotas with
  cohort borrowing (``quota``), EASY backfill (``backfill``), preemption (``preemption``).
"""

from __future__ import annotations

from huangpu.scheduling.policies import register
from huangpu.scheduling.policies.base import CellPolicyBase


@register("cost-aware")
class CostAware(CellPolicyBase):
    name = "cost-aware"
