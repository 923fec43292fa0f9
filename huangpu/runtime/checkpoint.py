"""Device-neutral checkpoints: tensors are saved from the CPU and loaded onto the CPU (or a
given device), so a job preempted on one chip family resumes on another.

Writes are atomic (temp file + rename): a job killed mid-save keeps its previous checkpoint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

FILE_NAME = "checkpoint.pt"


def default_path(name: str = FILE_NAME) -> Path | None:
    """``$HUANGPU_CHECKPOINT_DIR/<name>`` when the job spec names a checkpoint dir."""
    directory = os.environ.get("HUANGPU_CHECKPOINT_DIR")
    return Path(directory) / name if directory else None


def to_cpu(obj: Any) -> Any:
    """A copy of ``obj`` with every tensor moved to the CPU (dicts, lists, tuples walked)."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, Mapping):
        return type(obj)((k, to_cpu(v)) for k, v in obj.items())  # type: ignore[call-arg]
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(to_cpu(v) for v in obj))
    if isinstance(obj, list | tuple):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


def save(path: str | os.PathLike[str], state: Any) -> Path:
    """Save ``state`` (e.g. model and optimizer state dicts, step, RNG state) at ``path``."""
    import torch

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    torch.save(to_cpu(state), tmp)
    os.replace(tmp, target)
    return target


def load(path: str | os.PathLike[str], map_location: Any = "cpu") -> Any:
    """Load a checkpoint onto ``map_location`` (default the CPU; move the model after)."""
    import torch

    return torch.load(Path(path), map_location=map_location, weights_only=False)


def exists(path: str | os.PathLike[str] | None) -> bool:
    return path is not None and Path(path).is_file()
