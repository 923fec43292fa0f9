"""The tenant console (/console): the org's jobs, usage and bill, the submit form (fields or
YAML), one job's page, and the server-sent event streams behind them (/v1/stream/jobs...)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from huangpu.api.routers.web.gates import checked_form, stream_caller, tenant_gate, viewer_gate
from huangpu.api.routers.web.ledger_panels import ledger_panel
from huangpu.api.routers.web.rendering import error_page, render
from huangpu.api.routers.web.sessions import Who
from huangpu.api.routers.web.wall import SSE_HEADERS, sse
from huangpu.api.wall import local_midnight
from huangpu.core.errors import HuangpuError, NotFound
from huangpu.core.jobspec import JobKind, jobspec_from_dict, parse_jobspec_yaml
from huangpu.core.states import JobState
from huangpu.store import dashboard
from huangpu.store.models import OrgRow

router = APIRouter()


FORM_FIELDS = {
    "name": "name",
    "kind": "kind",
    "command": "command",
    "resources.chips": "chips",
    "resources.accelerators": "accelerators",
    "resources.nodes": "nodes",
    "workdir": "workdir",
    "priority": "priority",
}


def _form_spec(form: dict[str, str]) -> dict[str, Any]:
    """The job spec a console form describes; values stay strings so the JobSpec model does the
    same coercion and gives the same messages as the JSON API."""
    resources: dict[str, Any] = {}
    chips = [c.strip() for c in form.get("chips", "").split(",") if c.strip()]
    if chips:
        resources["chips"] = chips
    for key in ("accelerators", "nodes"):
        if form.get(key, "").strip():
            resources[key] = form[key].strip()
    spec: dict[str, Any] = {"name": form.get("name", ""), "command": form.get("command", "")}
    if form.get("kind"):
        spec["kind"] = form["kind"]
    for key in ("workdir", "priority"):
        if form.get(key, "").strip():
            spec[key] = form[key].strip()
    if resources:
        spec["resources"] = resources
    return spec


def _input_for(field_path: str | None) -> str | None:
    if not field_path:
        return None
    for prefix, name in FORM_FIELDS.items():
        if field_path == prefix or field_path.startswith(prefix + "["):
            return name
    return None


def _job_list(request: Request, who: Who, state: str | None, q: str) -> list[dict[str, Any]]:
    try:
        wanted = JobState(state) if state else None
    except ValueError:
        wanted = None
    jobs: list[dict[str, Any]] = request.app.state.platform.jobs.list(who.caller, wanted, None, 200)
    if q:
        jobs = [j for j in jobs if q.lower() in j["name"].lower()]
    return jobs


async def _console(request: Request, who: Who, status: int = 200, **extra: Any) -> HTMLResponse:
    platform = request.app.state.platform
    state = request.query_params.get("state") or None
    q = request.query_params.get("q", "")
    now = platform.clock.now()
    month = datetime.fromtimestamp(now).replace(day=1).timestamp()
    month = local_midnight(month)

    def load() -> dict[str, Any]:
        assert who.org_id is not None
        with platform.db.read() as session:
            org = session.get(OrgRow, who.org_id)
            usage = dashboard.org_usage(session, who.org_id, month, now + 1)
            counts = dashboard.job_state_counts(session, who.org_id)
        return {
            "org": org.name if org else who.org_id,
            "usage": usage,
            "counts": counts,
            "jobs": _job_list(request, who, state, q),
        }

    data = await run_in_threadpool(load)
    ledger = {
        panel: await ledger_panel(request, who, panel) for panel in ("bill", "vouchers", "budgets")
    }
    context: dict[str, Any] = {
        "who": who,
        "states": [s.value for s in JobState],
        "kinds": [k.value for k in JobKind],
        "state": state or "",
        "q": q,
        "ledger": ledger,
        "values": {"kind": "train", "chips": "any", "accelerators": "1", "nodes": "1"},
        "error": None,
        "mode": "form",
        "yaml_text": "",
        **data,
    }
    context.update(extra)
    return render(request, "console.html", status=status, **context)


@router.get("/console", include_in_schema=False)
async def console(request: Request) -> Response:
    who = tenant_gate(request)
    if isinstance(who, Response):
        return who
    return await _console(request, who)


@router.post("/console/jobs", include_in_schema=False)
async def console_submit(request: Request) -> Response:
    checked = await checked_form(request, tenant_gate)
    if isinstance(checked, Response):
        return checked
    who, form = checked
    mode = "yaml" if form.get("mode") == "yaml" else "form"
    platform = request.app.state.platform
    try:
        if mode == "yaml":
            spec = parse_jobspec_yaml(form.get("yaml", ""))
        else:
            spec = jobspec_from_dict(_form_spec(form))
        view = await run_in_threadpool(platform.jobs.submit, who.caller, spec, None)
    except HuangpuError as error:
        return await _console(
            request,
            who,
            status=error.http_status,
            error={
                "field": error.field,
                "message": error.message,
                "input": _input_for(error.field) if mode == "form" else "yaml",
                "code": error.code,
            },
            values={k: form.get(k, "") for k in FORM_FIELDS.values()},
            mode=mode,
            yaml_text=form.get("yaml", ""),
        )
    return RedirectResponse(f"/console/jobs/{view['id']}", status_code=303)


@router.get("/console/jobs/{job_id}", include_in_schema=False)
async def console_job(job_id: str, request: Request) -> Response:
    who = viewer_gate(request)
    if isinstance(who, Response):
        return who
    platform = request.app.state.platform
    try:
        job = await run_in_threadpool(platform.jobs.get, who.caller, job_id)
        logs = await run_in_threadpool(platform.jobs.logs, who.caller, job_id, 0)
    except NotFound as error:
        # The same answer for "not yours" and "no such job": existence is not leaked.
        return error_page(request, 404, "not_found", error.message)
    return render(request, "job.html", who=who, job=job, logs=logs)


@router.post("/console/jobs/{job_id}/cancel", include_in_schema=False)
async def console_cancel(job_id: str, request: Request) -> Response:
    checked = await checked_form(request, viewer_gate)
    if isinstance(checked, Response):
        return checked
    who, _ = checked
    try:
        await run_in_threadpool(request.app.state.platform.jobs.cancel, who.caller, job_id)
    except NotFound as error:
        return error_page(request, 404, "not_found", error.message)
    except HuangpuError as error:
        return error_page(request, error.http_status, "error", error.message)
    return RedirectResponse(f"/console/jobs/{job_id}", status_code=303)


def _lite(job: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "name", "kind", "state", "pool", "reason", "exit_code", "updated_at")
    return {k: job.get(k) for k in keys}


@router.get("/v1/stream/jobs")
async def stream_jobs(request: Request) -> Response:
    """The caller's newest jobs (50; a tenant's own org only) as a `jobs` event whenever any of
    them changes. Cookie session or bearer token."""
    who = stream_caller(request)
    if isinstance(who, Response):
        return who
    jobs = request.app.state.platform.jobs

    async def events() -> AsyncIterator[str]:
        yield "retry: 1000\n\n"
        sent = ""
        while not await request.is_disconnected():
            rows = await run_in_threadpool(jobs.list, who.caller, None, None, 50)
            body = json.dumps([_lite(j) for j in rows], separators=(",", ":"))
            if body != sent:
                sent = body
                yield f"event: jobs\ndata: {body}\n\n"
            await asyncio.sleep(1.0)

    return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)


@router.get("/v1/stream/jobs/{job_id}")
async def stream_job(job_id: str, request: Request) -> Response:
    """One job: a `job` event (state, reason, history) on every change and `log` events with
    new log text. A job of another org answers 404, as the JSON API does."""
    who = stream_caller(request)
    if isinstance(who, Response):
        return who
    service = request.app.state.platform.jobs
    try:
        await run_in_threadpool(service.get, who.caller, job_id)
    except NotFound as error:
        body = {"error": {"code": error.code, "message": error.message, "field": error.field}}
        return Response(json.dumps(body), status_code=404, media_type="application/json")
    raw_offset = request.query_params.get("offset", "0") or "0"
    if not raw_offset.isdigit():  # a bad offset is bad input, never a 500
        body = {
            "error": {
                "code": "invalid_input",
                "message": "offset: not a whole number >= 0",
                "field": "offset",
            }
        }
        return Response(json.dumps(body), status_code=422, media_type="application/json")
    offset = int(raw_offset)

    async def events() -> AsyncIterator[str]:
        nonlocal offset
        yield "retry: 1000\n\n"
        sent = ""
        while not await request.is_disconnected():
            job = await run_in_threadpool(service.get, who.caller, job_id)
            lite = {**_lite(job), "history": job["history"]}
            body = json.dumps(lite, separators=(",", ":"))
            if body != sent:
                sent = body
                yield f"event: job\ndata: {body}\n\n"
            page = await run_in_threadpool(service.logs, who.caller, job_id, offset)
            if page["data"]:
                offset = page["next_offset"]
                yield sse("log", {"data": page["data"], "next_offset": offset})
            if page["complete"]:
                yield sse("end", {"state": job["state"]})
                return
            await asyncio.sleep(0.5)

    return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)
