"""Node-level best fit as Kubernetes scheduler simulators score it (the BestFit baseline of
FGD's artifact, github.com/hkust-adsl/kubernetes-scheduler-simulator): the node whose free CPU
and GPU, after the task, are smallest in ``0.5·cpu/128 cores + 0.5·gpu/8 GPUs``; on that
node a shared task takes the GPU with the least free milli that fits. Ties: lowest node.

``packing.BestFit`` picks the tightest *GPU* across the cluster instead, which packs better
than this baseline; both are kept so results can be compared with the published curves.
"""

from __future__ import annotations

import numpy as np

from huangpu.scheduling.packing import FULL, FgdPacker, Placement

# The simulator's normalisation constants: the largest node's CPU (milli) and GPU (milli).
MAX_SPEC_CPU = 128_000
MAX_SPEC_GPU = 8 * FULL


class NodeBestFit(FgdPacker):
    def place(
        self, cpu_milli: int, gpu_milli: int, memory_mib: int = 0, gpu_spec: tuple[str, ...] = ()
    ) -> Placement | None:
        c = self.cluster
        ok = (c.cpu >= cpu_milli) & (c.mem >= memory_mib)
        free = c.gpu.clip(min=0)
        own = np.zeros(len(ok))
        if gpu_milli:
            ok &= c.access(gpu_spec)
        if 0 < gpu_milli < FULL:
            fit = np.where(c.gpu >= gpu_milli, c.gpu, FULL + 1)
            own = fit.min(axis=1).astype(np.float64)  # the tightest GPU that fits
            ok &= own <= FULL
        elif gpu_milli:
            ok &= (c.gpu == FULL).sum(axis=1) >= gpu_milli // FULL
        if not ok.any():
            return None
        gpu_left = free.sum(axis=1) - gpu_milli
        score = 0.5 * (c.cpu - cpu_milli) / MAX_SPEC_CPU + 0.5 * gpu_left / MAX_SPEC_GPU
        # Same node score for every GPU of a node: break it by the GPU's own free milli.
        score = score + own / (FULL * MAX_SPEC_GPU)
        node = int(np.argmin(np.where(ok, score, np.inf)))
        slot = int(np.argmin(np.where(c.gpu[node] >= gpu_milli, c.gpu[node], FULL + 1)))
        return self._take(node, slot, cpu_milli, gpu_milli, memory_mib)
