"""Job routes for tenants (their own org) and operators (any org)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from huangpu.api.auth import Principal, require
from huangpu.api.schemas import JobBatchSubmit, JobSubmit
from huangpu.control.job_service import JobService, job_view
from huangpu.core.errors import HuangpuError
from huangpu.core.states import JobState
from huangpu.store import jobs as job_repo

router = APIRouter(prefix="/v1")
Member = Annotated[Principal, Depends(require("tenant", "operator"))]


@router.post("/jobs", status_code=201)
async def submit_job(body: JobSubmit, request: Request, who: Member) -> dict[str, Any]:
    # Async on purpose: checks are in-memory after warm-up, and the insert is handed to the
    # group-commit writer, so a submit costs no thread-pool hop.
    jobs: JobService = request.app.state.platform.jobs
    org_id, org_name = jobs.prepare(who.caller, body.spec, body.org)
    row = await asyncio.wrap_future(jobs.queue.submit(org_id, body.spec))
    return job_view(row, org_name, None)


@router.post("/jobs:batch", status_code=201)
async def submit_batch(body: JobBatchSubmit, request: Request, who: Member) -> dict[str, Any]:
    """All-or-nothing: every spec passes every check of a single submit, then all rows are
    inserted in one transaction, so a failure stores none of them."""
    platform = request.app.state.platform
    jobs: JobService = platform.jobs
    org_id, org_name = jobs.org_for(who.caller, body.org)
    for i, spec in enumerate(body.jobs):
        try:
            jobs.feasible(spec)
        except HuangpuError as error:
            error.field = f"jobs[{i}].{error.field}" if error.field else f"jobs[{i}]"
            raise

    def insert() -> list[Any]:
        with platform.db.write() as session:
            return list(
                job_repo.insert_jobs(
                    session, [(org_id, spec) for spec in body.jobs], platform.clock.now()
                )
            )

    rows = await run_in_threadpool(insert)
    platform.metrics.jobs_submitted.inc(len(rows))
    return {"jobs": [job_view(row, org_name, None) for row in rows]}


@router.get("/jobs")
def list_jobs(
    request: Request,
    who: Member,
    state: JobState | None = None,
    org: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    return request.app.state.platform.jobs.list(who.caller, state, org, limit)  # type: ignore[no-any-return]


@router.get("/jobs/{job_id}")
def get_job(job_id: str, request: Request, who: Member) -> dict[str, Any]:
    return request.app.state.platform.jobs.get(who.caller, job_id)  # type: ignore[no-any-return]


@router.get("/jobs/{job_id}/logs")
def job_logs(
    job_id: str, request: Request, who: Member, offset: Annotated[int, Query(ge=0, le=2**62)] = 0
) -> dict[str, Any]:
    return request.app.state.platform.jobs.logs(who.caller, job_id, offset)  # type: ignore[no-any-return]


@router.post("/jobs/{job_id}/cancel")
def cancel_job(job_id: str, request: Request, who: Member) -> dict[str, Any]:
    return request.app.state.platform.jobs.cancel(who.caller, job_id)  # type: ignore[no-any-return]
