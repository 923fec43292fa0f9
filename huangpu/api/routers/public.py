"""Routes that need no token: health, metrics, the chip catalog and the job-spec schema."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from huangpu.core.catalog import load_catalog
from huangpu.core.jobspec import jobspec_json_schema

router = APIRouter()


@router.get("/healthz")
def healthz(request: Request) -> dict[str, str]:
    with request.app.state.platform.db.read() as session:
        session.execute(text("SELECT 1"))
    return {"status": "ok", "database": "ok"}


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    return Response(
        generate_latest(request.app.state.platform.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )


@router.get("/v1/chips")
def chips() -> list[dict[str, Any]]:
    return [
        {
            "id": m.id,
            "name": m.name,
            "family": m.family,
            "vendor": m.family_info.vendor,
            "memory_gib": m.memory_gib,
            "bf16_tflops": m.bf16_tflops,
            "memory_bw_gbps": m.memory_bw_gbps,
            "domestic": m.domestic,
            "visibility_env": m.family_info.visibility_env,
            "torch_device": m.family_info.torch_device,
            "source_url": m.source_url,
        }
        for m in load_catalog()
    ]


@router.get("/v1/schema/jobspec")
def jobspec_schema() -> dict[str, Any]:
    return jobspec_json_schema()
