"""Usage as the agents report it (samples) and as it is rated (lines).

A sample is one device's use over [start, end]. ``aggregate`` folds the samples of one job on
one (supplier, pool, chip) into a ``UsageLine``: device-seconds add up, the window is the
samples' hull. It is order-independent (sum, min and max commute) and idempotent per sample
id, so late or repeated samples never change a line twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from huangpu.core.errors import Conflict, InvalidInput
from huangpu.core.jobspec import JobKind
from huangpu.ledger.validation import check_time, check_token

# Ten thousand device-years: more in one line is a broken counter, not usage.
MAX_DEVICE_SECONDS = 10_000 * 365 * 24 * 3600
_JOB_KINDS = frozenset(k.value for k in JobKind)


def _check_usage(device_seconds: object, start: float, end: float, job_kind: str) -> None:
    if isinstance(device_seconds, bool) or not isinstance(device_seconds, int):
        raise InvalidInput("device_seconds must be an int", "device_seconds")
    if not 0 <= device_seconds <= MAX_DEVICE_SECONDS:
        raise InvalidInput(f"device_seconds {device_seconds} is out of range", "device_seconds")
    check_time(start, "start")
    check_time(end, "end")
    if end < start:
        raise InvalidInput("usage ends before it starts", "end")
    if job_kind not in _JOB_KINDS:
        raise InvalidInput(f"job_kind must be one of {sorted(_JOB_KINDS)}", "job_kind")


@dataclass(frozen=True, slots=True)
class UsageLine:
    job_id: str
    org: str
    org_category: str
    supplier: str
    pool: str
    chip: str  # catalog chip id
    job_kind: str  # a JobKind value: "serve" decides compute vs model vouchers
    device_seconds: int
    start: float
    end: float

    def __post_init__(self) -> None:
        for name in ("job_id", "org", "org_category", "supplier", "pool", "chip"):
            check_token(getattr(self, name), name)
        _check_usage(self.device_seconds, self.start, self.end, self.job_kind)


@dataclass(frozen=True, slots=True)
class UsageSample:
    sample_id: str  # unique per agent report, e.g. "<agent>:<seq>:<device>"
    job_id: str
    org: str
    org_category: str
    supplier: str
    pool: str
    chip: str
    job_kind: str
    device: str
    device_seconds: int
    start: float
    end: float

    def __post_init__(self) -> None:
        if not isinstance(self.sample_id, str) or not self.sample_id.strip():
            raise InvalidInput("a usage sample needs an id", "sample_id")
        _check_usage(self.device_seconds, self.start, self.end, self.job_kind)

    def line_key(self) -> tuple[str, str, str, str, str, str, str]:
        return (
            self.job_id,
            self.org,
            self.org_category,
            self.supplier,
            self.pool,
            self.chip,
            self.job_kind,
        )


def aggregate(samples: Iterable[UsageSample]) -> UsageLine:
    """One line from the samples of one job on one pool and chip, in any order.

    A repeated sample id counts once; the same id with different content is a ``Conflict``.
    Samples of different jobs, orgs, pools or chips are ``InvalidInput``: group them first.
    """
    unique: dict[str, UsageSample] = {}
    for sample in samples:
        seen = unique.setdefault(sample.sample_id, sample)
        if seen != sample:
            raise Conflict(f"usage sample {sample.sample_id!r} was reported twice, differently")
    if not unique:
        raise InvalidInput("no usage samples to aggregate", "samples")
    kept = list(unique.values())
    keys = {s.line_key() for s in kept}
    if len(keys) != 1:
        raise InvalidInput(
            "samples of several jobs, pools or chips; aggregate each group", "samples"
        )
    job_id, org, category, supplier, pool, chip, job_kind = keys.pop()
    return UsageLine(
        job_id=job_id,
        org=org,
        org_category=category,
        supplier=supplier,
        pool=pool,
        chip=chip,
        job_kind=job_kind,
        device_seconds=sum(s.device_seconds for s in kept),
        start=min(s.start for s in kept),
        end=max(s.end for s in kept),
    )
