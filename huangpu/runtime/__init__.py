"""What a job imports: ``huangpu.runtime`` (no server, no database, no agent needed).

    from huangpu import runtime
    device = runtime.device()                 # cuda, npu, mlu, musa, xpu, gcu... or cpu
    model.to(device)
    state = runtime.checkpoint.load(path)     # device-neutral, lands on any chip family
    runtime.checkpoint.save(path, {"model": model.state_dict(), "step": step})
    runtime.report(step=step, samples=step * batch)

The agent tells the job where it landed through ``HUANGPU_CHIP`` (catalog id) and
``HUANGPU_CHIP_FAMILY``, plus the family's own visibility variable (CUDA_VISIBLE_DEVICES,
ASCEND_RT_VISIBLE_DEVICES, ...); see huangpu.core.families for the sources of each.
"""

from __future__ import annotations

from huangpu.runtime import checkpoint
from huangpu.runtime.devices import chip, device, device_type, family
from huangpu.runtime.progress import report

__all__ = ["checkpoint", "chip", "device", "device_type", "family", "report"]
