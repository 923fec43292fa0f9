"""``las-fair-hetero``: ``las-hetero`` with a starvation guard that needs no constant.

Pure least-attained-service is the best order for mean JCT while the city keeps up with its
arrivals, but when demand exceeds capacity (even briefly) it starves the long jobs for as long
as new ones arrive. Equal time share (``max-min-share``) never starves anyone but serves
short jobs no faster than long ones. This policy interleaves the two queues: a job's place is
the better of its rank by attained service and its rank by share received per second in the
system (ties: attained service). The head therefore holds the least-served jobs *and* the
jobs furthest behind their share, each job runs where it is relatively fastest (the same
assignment as ``las-hetero``), and nothing waits forever.
"""

from __future__ import annotations

import numpy as np

from huangpu.scheduling.policies import register
from huangpu.scheduling.policies.fair_share_order import attained, ordered, share_rate
from huangpu.scheduling.policies.las_hetero import HeteroLeastAttainedService
from huangpu.scheduling.snapshot import IntArray, Snapshot


def interleaved(s: Snapshot) -> IntArray:
    las_rank = np.empty(s.n_jobs)
    las_rank[ordered(s, attained(s))] = np.arange(s.n_jobs)
    share_rank = np.empty(s.n_jobs)
    share_rank[ordered(s, share_rate(s))] = np.arange(s.n_jobs)
    # min(ranks), then LAS rank as the tie-break: an exact, constant-free merge.
    return ordered(s, np.minimum(las_rank, share_rank) * (s.n_jobs + 1) + las_rank)


@register("las-fair-hetero")
class FairHeteroLeastAttainedService(HeteroLeastAttainedService):
    name = "las-fair-hetero"

    def head_order(self, s: Snapshot) -> IntArray:
        return interleaved(s)
