"""Chip families: who makes them, which variable hides devices, which torch device they use.

The visibility variables for NVIDIA (CUDA), Ascend (ASCEND_RT_VISIBLE_DEVICES), Cambricon
(MLU_VISIBLE_DEVICES), Hygon DCU (HIP_VISIBLE_DEVICES, a ROCm/HIP stack), Moore Threads
(MUSA_VISIBLE_DEVICES), Enflame (TOPS_VISIBLE_DEVICES) and Kunlunxin (XPU_VISIBLE_DEVICES) are
named in the executors issue. Iluvatar and MetaX ship CUDA-compatible stacks and honour
CUDA_VISIBLE_DEVICES; Biren's variable is not yet verified against vendor documentation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChipFamily:
    name: str
    vendor: str
    visibility_env: str
    torch_device: str
    domestic: bool


FAMILIES: dict[str, ChipFamily] = {
    f.name: f
    for f in (
        ChipFamily("nvidia", "NVIDIA", "CUDA_VISIBLE_DEVICES", "cuda", False),
        ChipFamily("ascend", "Huawei", "ASCEND_RT_VISIBLE_DEVICES", "npu", True),
        ChipFamily("cambricon", "Cambricon", "MLU_VISIBLE_DEVICES", "mlu", True),
        ChipFamily("hygon", "Hygon", "HIP_VISIBLE_DEVICES", "cuda", True),
        ChipFamily("iluvatar", "Iluvatar CoreX", "CUDA_VISIBLE_DEVICES", "cuda", True),
        ChipFamily("metax", "MetaX", "CUDA_VISIBLE_DEVICES", "cuda", True),
        ChipFamily("biren", "Biren", "BR_VISIBLE_DEVICES", "supa", True),
        ChipFamily("moorethreads", "Moore Threads", "MUSA_VISIBLE_DEVICES", "musa", True),
        ChipFamily("enflame", "Enflame", "TOPS_VISIBLE_DEVICES", "gcu", True),
        ChipFamily("kunlunxin", "Kunlunxin", "XPU_VISIBLE_DEVICES", "xpu", True),
    )
}
