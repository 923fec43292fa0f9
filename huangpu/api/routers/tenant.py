"""Job routes for tenants (their own org) and operators (any org)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from huangpu.api.auth import Principal, require
from huangpu.api.schemas import JobSubmit
from huangpu.control.job_service import JobService, job_view
from huangpu.core.states import JobState

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
    job_id: str, request: Request, who: Member, offset: Annotated[int, Query(ge=0)] = 0
) -> dict[str, Any]:
    return request.app.state.platform.jobs.logs(who.caller, job_id, offset)  # type: ignore[no-any-return]


@router.post("/jobs/{job_id}/cancel")
def cancel_job(job_id: str, request: Request, who: Member) -> dict[str, Any]:
    return request.app.state.platform.jobs.cancel(who.caller, job_id)  # type: ignore[no-any-return]
