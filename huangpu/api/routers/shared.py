"""Routes any token may call: who am I, and the pools with their live capacity."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select

from huangpu.api.auth import Principal, authenticate
from huangpu.store.inventory import devices
from huangpu.store.models import AgentRow, PoolRow, SupplierRow

router = APIRouter(prefix="/v1")
Anyone = Annotated[Principal, Depends(authenticate)]


@router.get("/whoami")
def whoami(principal: Anyone) -> dict[str, Any]:
    return {
        "token_id": principal.token_id,
        "role": principal.role,
        "org_id": principal.org_id,
        "pool_id": principal.pool_id,
    }


@router.get("/pools")
def list_pools(request: Request, _: Anyone) -> list[dict[str, Any]]:
    p = request.app.state.platform
    online_after = p.clock.now() - p.settings.lease_seconds
    with p.db.read() as session:
        capacity: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
        for dev in devices(session):
            cell = capacity[dev.pool_id].setdefault(dev.chip, {"total": 0, "free": 0})
            cell["total"] += 1
            cell["free"] += 0 if dev.allocated else 1
        agents: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for agent in session.scalars(select(AgentRow).order_by(AgentRow.name)):
            agents[agent.pool_id].append(
                {
                    "id": agent.id,
                    "name": agent.name,
                    "last_seen": agent.last_seen,
                    "online": agent.last_seen >= online_after,
                }
            )
        rows = session.execute(
            select(PoolRow, SupplierRow.name)
            .join(SupplierRow, SupplierRow.id == PoolRow.supplier_id)
            .order_by(PoolRow.created_at)
        )
        return [
            {
                "id": pool.id,
                "name": pool.name,
                "supplier_id": pool.supplier_id,
                "supplier": supplier,
                "region": pool.region,
                "executor": pool.executor,
                "agents": agents.get(pool.id, []),
                "capacity": capacity.get(pool.id, {}),
            }
            for pool, supplier in rows
        ]
