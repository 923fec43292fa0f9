"""Node-level best fit as Kubernetes scheduler simulators score it (the BestFit baseline of
FGD's artifact, github.com/hkust-adsl/kubernetes-scheduler-simulator): the node whose free CPU
and GPU, after the task, are smallest in ``0.5·cpu/128 cores + 0.5·gpu/8 GPUs``; on that
node a shared task takes the GPU with the least free milli that fits. Ties: lowest node.

``packing.BestFit`` picks the tightest *GPU* across the cluster instead, which packs better
than this baseline; both are kept so results can be compared with the published curves.
"""

from __future__ import annotations

import numpy as np

from huangpu.scheduling.packing import FULL, FgdPacker

# The simulator's normalisation constants: the largest node's CPU (milli) and GPU (milli).
MAX_SPEC_CPU = 128_000
MAX_SPEC_GPU = 8 * FULL


class NodeBestFit(FgdPacker):
    def place(self, cpu_milli: int, gpu_milli: int) -> tuple[int, tuple[int, ...]] | None:
        c = self.cluster
        options = c.candidates(cpu_milli, gpu_milli)
        if not options:
            return None
        nodes = np.array([n for n, _ in options], dtype=np.int64)
        gpu_left = c.gpu[nodes].clip(min=0).sum(axis=1) - gpu_milli
        cpu_left = c.cpu[nodes] - cpu_milli
        score = 0.5 * cpu_left / MAX_SPEC_CPU + 0.5 * gpu_left / MAX_SPEC_GPU
        if 0 < gpu_milli < FULL:
            # Same node score for every GPU of a node: break it by the GPU's own free milli.
            own = np.array([c.gpu[n, gs[0]] for n, gs in options], dtype=np.float64)
            score = score + own / (FULL * MAX_SPEC_GPU)
        node, gpus = options[int(np.argmin(score))]
        c.take(node, gpus, cpu_milli, gpu_milli)
        return node, gpus
