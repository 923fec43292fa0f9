"""Which torch device this job landed on, from the agent's env and the chip catalog."""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

from huangpu.core.catalog import load_catalog
from huangpu.core.families import FAMILIES

log = logging.getLogger(__name__)

# The PyTorch extension each non-CUDA device type needs before torch knows the device.
TORCH_PLUGINS = {
    "npu": "torch_npu",  # Huawei Ascend
    "mlu": "torch_mlu",  # Cambricon
    "musa": "torch_musa",  # Moore Threads
    "gcu": "torch_gcu",  # Enflame
    "supa": "torch_br",  # Biren
}


def chip() -> str | None:
    """The catalog chip id the agent placed this job on (``HUANGPU_CHIP``), if any."""
    return os.environ.get("HUANGPU_CHIP") or None


def family() -> str | None:
    """The chip family: ``HUANGPU_CHIP_FAMILY``, else the chip's, else the first family whose
    visibility variable is set and non-empty (CUDA-compatible families read as nvidia)."""
    named = os.environ.get("HUANGPU_CHIP_FAMILY")
    if named in FAMILIES:
        return named
    model = load_catalog().models.get(chip() or "")
    if model is not None:
        return model.family
    for fam in FAMILIES.values():
        if os.environ.get(fam.visibility_env, "").strip() not in ("", "-1"):
            return fam.name
    return None


def device_type() -> str:
    """'cuda', 'npu', 'mlu', 'musa', 'xpu', 'gcu', 'supa' or 'cpu', without importing torch."""
    fam = family()
    if fam is None:
        return "cpu"
    visible = os.environ.get(FAMILIES[fam].visibility_env)
    if visible is not None and visible.strip() in ("", "-1"):
        return "cpu"  # the agent hid every device: a CPU-only placement
    return FAMILIES[fam].torch_device


def _available(torch: Any, kind: str) -> bool:
    plugin = TORCH_PLUGINS.get(kind)
    if plugin is not None:
        try:
            importlib.import_module(plugin)
        except ImportError:
            log.warning("placed on %s but %s is not installed; using the CPU", kind, plugin)
            return False
    backend = getattr(torch, kind, None)
    is_available = getattr(backend, "is_available", None)
    try:
        return bool(is_available()) if callable(is_available) else False
    except Exception:  # a driver that fails to initialise: the CPU still works
        return False


def device(index: int = 0) -> Any:
    """The ``torch.device`` of this job's chip (local index ``index`` among the visible ones),
    or the CPU when torch cannot use the chip here. Needs torch."""
    import torch

    kind = device_type()
    if kind != "cpu" and _available(torch, kind):
        return torch.device(kind, index)
    return torch.device("cpu")
