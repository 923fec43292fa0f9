"""Fair-share input: each org's usage in normalised compute seconds, halving every half-life.

Read from ``usage_samples`` (what agents reported) joined with ``metering_cursors`` (the org and
chip of each attempt, recorded at placement). Samples are summed per org, chip and time bucket
in SQL, so the rows read are bounded by orgs × chips × buckets however many samples there are;
each bucket then decays from its midpoint (as ``scheduling.fairshare.decay`` does). Buckets
are an eighth of the half-life, so the decay is off by at most 2^(1/16) ≈ 4 % for any sample;
usage older than ten half-lives (< 0.1 %) is not read at all.
"""

from __future__ import annotations

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.orm import Session

from huangpu.store.ledger_models import MeteringCursorRow
from huangpu.store.models import UsageSampleRow

BUCKETS_PER_HALF_LIFE = 8
HORIZON_HALF_LIVES = 10


def decayed_usage(
    session: Session, now: float, half_life_s: float, chip_ncu: dict[str, float]
) -> dict[str, float]:
    """Org id -> decayed NCU·s. ``chip_ncu`` is the normalised compute of one device per chip
    (unknown chips count 1.0)."""
    width = half_life_s / BUCKETS_PER_HALF_LIFE
    bucket = cast(UsageSampleRow.end / width, Integer)
    rows = session.execute(
        select(
            MeteringCursorRow.org_id,
            MeteringCursorRow.chip,
            bucket,
            func.sum(UsageSampleRow.device_seconds),
        )
        .join(
            MeteringCursorRow,
            (MeteringCursorRow.job_id == UsageSampleRow.job_id)
            & (MeteringCursorRow.attempt == UsageSampleRow.attempt),
        )
        .where(UsageSampleRow.end > now - HORIZON_HALF_LIVES * half_life_s)
        .group_by(MeteringCursorRow.org_id, MeteringCursorRow.chip, bucket)
    ).all()
    usage: dict[str, float] = {}
    for org, chip, index, seconds in rows:
        mid = (int(index) + 0.5) * width
        ncu_s = float(seconds or 0.0) * chip_ncu.get(chip, 1.0)
        usage[org] = usage.get(org, 0.0) + ncu_s * 0.5 ** (max(now - mid, 0.0) / half_life_s)
    return usage
