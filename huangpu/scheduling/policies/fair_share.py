"""Fair share: Slurm's multifactor idea over orgs, on top of the cost-aware placement.

Order: starvation guard, then priority, then the org's fair-share factor ``2^(−U/S)`` from its
decayed usage and weight (``fairshare``; higher first), then submit time. Orgs that used
little lately go first; an org's heavy past fades with the half-life control applies.
"""

from __future__ import annotations

from huangpu.scheduling.fairshare import fair_share_factor
from huangpu.scheduling.policies import register
from huangpu.scheduling.policies.base import CellPolicyBase
from huangpu.scheduling.snapshot import FloatArray, IntArray, Snapshot


@register("fair-share")
class FairShare(CellPolicyBase):
    name = "fair-share"

    def tiebreak(self, s: Snapshot) -> list[FloatArray | IntArray]:
        factor = fair_share_factor(s.quotas.decayed_usage, s.quotas.weight)
        return [-s.job_priority, -factor[s.job_org], s.job_submit]
