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


_NATIVE: dict[type[np.generic], np.dtype[Any]] = {
    t: np.dtype(t) for t in (np.int64, np.float64, np.bool_)
}


def frozen_array(value: Any, dtype: type[np.generic]) -> Any:
    """A read-only copy, so a caller's array can never change a snapshot a cycle is reading."""
    if type(value) is np.ndarray and value.dtype is _NATIVE.get(dtype):
        array = value.copy(order="K")  # already the right dtype: the same copy, done sooner
    else:
        array = np.array(value, dtype=dtype, copy=True)
    array.setflags(write=False)
    return array


# One read-only empty array per dtype and rank, shared by every unset column: an empty array
# holds nothing to change, and sharing it lets a check see at a glance that a column is unset.
_EMPTIES: dict[tuple[type[np.generic], int], Any] = {}


def empty_array(dtype: type[np.generic], ndim: int = 1) -> Any:
    """The shared read-only empty array of ``dtype`` and rank ``ndim``."""
    array = _EMPTIES.get((dtype, ndim))
    if array is None:
        array = np.zeros((0,) * ndim, dtype=dtype)
        array.setflags(write=False)
        _EMPTIES[dtype, ndim] = array
    return array


# Read-only arrays of one value, shared by every snapshot that needs that default (the
# simulator's unset columns, the neutral market and quota tables). They own their memory and
# nobody holds a writable reference, so sharing them is as safe as a private copy.
_constants: dict[tuple[type[np.generic], tuple[int, ...], Any], Any] = {}
_constant_bytes = 0
_MAX_CONSTANTS, _MAX_CONSTANT_BYTES = 4096, 32 << 20  # then start again, from empty


def constant(shape: tuple[int, ...], dtype: type[np.generic], value: Any) -> Any:
    """A shared read-only array of ``shape`` filled with ``value`` (``"arange"``: 0, 1, ...)."""
    global _constant_bytes
    key = (dtype, shape, value if value == value else "nan")  # NaN never equals itself
    array = _constants.get(key)
    if array is None:
        if value == "arange":
            array = np.arange(shape[0], dtype=dtype)
        else:
            array = np.full(shape, value, dtype=dtype)
        array.setflags(write=False)
        if len(_constants) >= _MAX_CONSTANTS or _constant_bytes > _MAX_CONSTANT_BYTES:
            _constants.clear()
            _constant_bytes = 0
        _constants[key] = array
        _constant_bytes += array.nbytes
    return array
