"""Small builders for job spec dicts and agent inventories, as tests put them on the wire.

They build plain dicts (not pydantic models) on purpose: tests send them through the HTTP API
and the CLI, and bad-input tests need to break them in ways a model would refuse to hold.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from huangpu.core.catalog import load_catalog


def job_spec(
    name: str = "job",
    command: str = "echo hello",
    *,
    chips: list[str] | None = None,
    accelerators: int = 1,
    nodes: int = 1,
    kind: str = "batch-infer",
    env: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A JobSpec dict. ``extra`` adds or overrides top-level fields (including unknown ones)."""
    spec: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "command": command,
        "resources": {
            "accelerators": accelerators,
            "nodes": nodes,
            "chips": list(chips) if chips is not None else ["any"],
        },
    }
    if env:
        spec["env"] = dict(env)
    spec.update(extra)
    return spec


def job_yaml(spec: dict[str, Any]) -> str:
    """YAML text for a spec dict (JSON is valid YAML 1.2, and keeps quoting exact)."""
    return json.dumps(spec, indent=2) + "\n"


def node(name: str, chip: str, count: int, *, domain: str = "default") -> dict[str, Any]:
    """One node with ``count`` healthy devices of ``chip`` (any alias the catalog resolves)."""
    model = load_catalog().resolve(chip)
    return {
        "name": name,
        "domain": domain,
        "devices": [
            {"index": i, "chip": model.id, "memory_gib": model.memory_gib, "healthy": True}
            for i in range(count)
        ],
    }


def inventory_text(chip: str, per_node: int, nodes: int = 1) -> str:
    """The agent's ``--inventory`` text: ``8xA100`` (one node) or ``2x8x910B`` (two nodes)."""
    return f"{nodes}x{per_node}x{chip}" if nodes > 1 else f"{per_node}x{chip}"


def inventory(chip: str, per_node: int, nodes: int = 1, *, prefix: str = "node") -> dict[str, Any]:
    """Inventory nodes as the register payload carries them, for tests that speak the protocol."""
    return {"nodes": [node(f"{prefix}-{i}", chip, per_node) for i in range(nodes)]}


def write_inventory(path: Path, inv: dict[str, Any]) -> Path:
    """Write an inventory as JSON (also valid YAML) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(inv, indent=2) + "\n")
    return path
