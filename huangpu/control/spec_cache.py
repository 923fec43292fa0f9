"""Parsed JobSpecs of pending jobs, by job id, so a cycle reads and validates only new ones.

A spec never changes after submit, so a cached one stays right; ids that are no longer
pending are dropped each cycle, which bounds the cache by the queue length.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from huangpu.core.jobspec import JobSpec
from huangpu.store.models import JobRow

CHUNK = 500  # ids per IN (...) query


class SpecCache:
    def __init__(self) -> None:
        self._specs: dict[str, JobSpec] = {}

    def specs(self, session: Session, job_ids: Sequence[str]) -> dict[str, JobSpec]:
        """Specs of ``job_ids``, reading from the store only those not seen before."""
        missing = [j for j in job_ids if j not in self._specs]
        for start in range(0, len(missing), CHUNK):
            chunk = missing[start : start + CHUNK]
            for job_id, spec in session.execute(
                select(JobRow.id, JobRow.spec).where(JobRow.id.in_(chunk))
            ):
                self._specs[job_id] = JobSpec.model_validate(spec)
        wanted = set(job_ids)
        self._specs = {j: s for j, s in self._specs.items() if j in wanted}
        return dict(self._specs)

    def __len__(self) -> int:
        return len(self._specs)
