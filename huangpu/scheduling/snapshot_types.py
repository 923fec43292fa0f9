"""Array aliases and the snapshot's typed error, shared by ``snapshot`` and its ``tables``."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from huangpu.core.errors import HuangpuError

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class SnapshotError(HuangpuError):
    """The snapshot handed to scheduling is inconsistent: a bug upstream, never user input.

    ``kind`` is the kind of object at fault ("node", "job" or "snapshot" for whole columns)
    and ``object_key`` names it, so the operator can find the row in the store.
    """

    code = "invalid_snapshot"
    http_status = 500

    def __init__(self, kind: str, object_key: str, message: str) -> None:
        super().__init__(f"{kind} {object_key!r}: {message}", object_key)
        self.kind = kind
        self.object_key = object_key


def frozen_array(value: Any, dtype: type[np.generic]) -> Any:
    """A read-only copy, so a caller's array can never change a snapshot a cycle is reading."""
    array = np.array(value, dtype=dtype, copy=True)
    array.setflags(write=False)
    return array
