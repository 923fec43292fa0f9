"""Progress in the job's own units: ``report(step=…, samples=…)`` appends one JSON line to
``$HUANGPU_PROGRESS_FILE``, which the agent tails and forwards to the server as progress
events (the scheduler's throughput matrix learns from them). Without that variable (a job run
by hand) it does nothing, so a script can call it unconditionally.
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any


def report(
    step: int | None = None, samples: int | None = None, **metrics: float
) -> dict[str, Any] | None:
    """Record progress; returns the record written, or None when no agent is listening."""
    path = os.environ.get("HUANGPU_PROGRESS_FILE")
    if not path:
        return None
    record: dict[str, Any] = {"t": time.time()}
    if step is not None:
        record["step"] = int(step)
    if samples is not None:
        record["samples"] = int(samples)
    clean = {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}
    if clean:
        record["metrics"] = clean
    # one write() of one line in append mode: a concurrent reader sees whole lines
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, separators=(",", ":")) + "\n")
    return record
