"""Fair-share inputs: usage history with half-life decay, and Slurm's classic fair-share factor.

``decay`` is what control (or the simulator) applies between cycles to each org's usage in
NCU-seconds: usage halves every ``half_life_s``, so last month's burst stops counting against
an org, as in Slurm's PriorityDecayHalfLife and Kueue's fair sharing.

``fair_share_factor`` is Slurm's ``F = 2^(−U/S)``: U is the org's share of all decayed usage,
S its share of all weights. F is 1 for an org that used nothing, 0.5 for one that used exactly
its share, and tends to 0 for heavy users. The queue is sorted by it (higher first).
"""

from __future__ import annotations

import numpy as np

from huangpu.scheduling.snapshot import FloatArray


def decay(
    usage: FloatArray, elapsed_s: float, half_life_s: float, added: FloatArray | None = None
) -> FloatArray:
    """Usage after ``elapsed_s`` seconds of decay, plus what was ``added`` meanwhile."""
    if half_life_s <= 0:
        raise ValueError("half_life_s must be > 0")
    out = np.asarray(usage, dtype=np.float64) * 0.5 ** (max(elapsed_s, 0.0) / half_life_s)
    if added is not None:
        out = out + np.asarray(added, dtype=np.float64)
    return np.asarray(out, dtype=np.float64)


def fair_share_factor(decayed_usage: FloatArray, weight: FloatArray) -> FloatArray:
    total_usage = float(decayed_usage.sum())
    shares = weight / float(weight.sum()) if weight.size else weight
    if total_usage <= 0:
        return np.ones_like(shares)
    used = decayed_usage / total_usage
    return np.asarray(np.exp2(-used / shares), dtype=np.float64)
