"""Chip families: who makes them, which variable hides devices, which torch device they use.

Each visibility variable, and where it was checked (a job's runtime reads the same table):

- NVIDIA ``CUDA_VISIBLE_DEVICES``: CUDA environment variables,
  https://docs.nvidia.com/cuda/cuda-c-programming-guide/index.html#env-vars
- Ascend ``ASCEND_RT_VISIBLE_DEVICES``: CANN env var reference, https://www.hiascend.com/document/
  detail/zh/canncommercial/900/maintenref/envvar/envref_07_0028.html (also Ray's npu.py)
- Cambricon ``MLU_VISIBLE_DEVICES``: DeepSpeed ``accelerator/mlu_accelerator.py``
  (visible_devices_envs), https://github.com/deepspeedai/DeepSpeed
- Hygon DCU ``HIP_VISIBLE_DEVICES``: a ROCm/HIP stack; HIP env var reference,
  https://rocm.docs.amd.com/projects/HIP/en/latest/reference/env_variables.html
- MetaX ``CUDA_VISIBLE_DEVICES``: MACA is CUDA-compatible; Ray's accelerator manager for MetaX
  uses it, ``ray/_private/accelerators/metax_gpu.py``, https://github.com/ray-project/ray
- Iluvatar ``CUDA_VISIBLE_DEVICES``: CoreX is a CUDA-compatible stack (HAMi
  docs/iluvatar-gpu-support.md, https://github.com/Project-HAMi/HAMi; Iluvatar's own IX
  device plugin exposes the cards as ``iluvatar.ai/gpu`` and CoreX ships ``libcudart`` under
  /usr/local/corex, as InfiniTensor's server guide for the BI-100 shows:
  https://github.com/LearningInfiniTensor/.github, server/iluvatar.md). Iluvatar's own SDK
  manual is not public, so this stays second-hand.
- Biren ``BR_VISIBLE_DEVICES``: HAMi's Biren device support injects it
  (https://github.com/Project-HAMi/HAMi, docs/biren-support.md); torch device ``supa``
  (torch_br) is unverified against Biren's own documentation.
- Moore Threads ``MUSA_VISIBLE_DEVICES``: read by the MUSA runtime, https://github.com/
  MooreThreads/torch_musa (device ``musa``)
- Enflame ``TOPS_VISIBLE_DEVICES``: vLLM's GCU platform sets ``device_control_env_var`` to it,
  and Enflame's device plugin returns it from Allocate (HAMi enflame docs)
- Kunlunxin ``XPU_VISIBLE_DEVICES``: PaddlePaddle docs, ``paddle.static.xpu_places``,
  https://github.com/PaddlePaddle/docs (docs/api/paddle/static/xpu_places_cn.rst)
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
