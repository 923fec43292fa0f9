"""A tiny training run: an MLP fits a synthetic regression, printing the loss every 10 steps.

Uses PyTorch when it is installed and plain numpy otherwise, with the same style of output, so
the demo works on a machine without torch. Finishes in seconds on 2 CPU cores.

With huangpu.runtime (installed with huangpu) the same script runs unchanged on any chip:
``runtime.device()`` picks cuda, npu, mlu, musa, xpu, gcu or the CPU from where the agent put
the job; ``runtime.checkpoint`` saves device-neutral checkpoints in $HUANGPU_CHECKPOINT_DIR
(when the job spec names ``checkpoint_dir``) and resumes from them after a requeue; and
``runtime.report`` sends progress (steps and samples) to the scheduler.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

try:
    from huangpu import runtime
except ImportError:  # run outside a huangpu install: no placement, checkpoints or progress
    runtime = None  # type: ignore[assignment]

BATCH = 256

VISIBILITY_VARS = (
    "CUDA_VISIBLE_DEVICES",
    "ASCEND_RT_VISIBLE_DEVICES",
    "MLU_VISIBLE_DEVICES",
    "HIP_VISIBLE_DEVICES",
    "MUSA_VISIBLE_DEVICES",
    "TOPS_VISIBLE_DEVICES",
    "XPU_VISIBLE_DEVICES",
    "BR_VISIBLE_DEVICES",
)


def describe_placement() -> None:
    seen = {k: os.environ[k] for k in VISIBILITY_VARS if k in os.environ}
    placed = ", ".join(f"{k}={v}" for k, v in seen.items()) or "no visibility variable set"
    print(f"placement: {placed}", flush=True)
    extra = {
        k: v for k, v in sorted(os.environ.items()) if k.startswith("HUANGPU_") and "TOKEN" not in k
    }
    if extra:
        print("huangpu env: " + " ".join(f"{k}={v}" for k, v in extra.items()), flush=True)


def train_torch(steps: int, seed: int) -> None:
    import torch

    # The chip the agent placed the job on, when torch can use it here; else the CPU, so a
    # CPU-only torch still runs on a pool of declared A100s.
    if runtime is not None:
        device = runtime.device()
    else:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    x = torch.randn(2048, 16, device=device)
    true_w = 0.25 * torch.randn(16, 1, device=device)
    y = torch.sin(x @ true_w) + 0.05 * torch.randn(2048, 1, device=device)
    model = torch.nn.Sequential(
        torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1)
    ).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    print(f"backend: torch {torch.__version__} on {device}", flush=True)
    path = runtime.checkpoint.default_path() if runtime is not None else None
    first = 1
    if runtime is not None and runtime.checkpoint.exists(path):
        state = runtime.checkpoint.load(path)  # saved on any chip, loaded on the CPU
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        torch.set_rng_state(state["rng"])
        first = state["step"] + 1
        print(f"resumed from {path} at step {first}", flush=True)
    start = time.perf_counter()
    for step in range(first, steps + 1):
        idx = torch.randint(0, x.shape[0], (BATCH,), device=device)
        loss = torch.nn.functional.mse_loss(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 0 or step == steps:
            print(f"step {step:4d}/{steps} loss {loss.item():.4f}", flush=True)
            progress(step, loss.item())
            if path is not None and runtime is not None:
                state = {"model": model.state_dict(), "opt": opt.state_dict(), "step": step}
                runtime.checkpoint.save(path, {**state, "rng": torch.get_rng_state()})
    report(steps - first + 1, time.perf_counter() - start)


def train_numpy(steps: int, seed: int) -> None:
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2048, 16))
    y = np.sin(x @ rng.standard_normal((16, 1)) * 0.25) + 0.05 * rng.standard_normal((2048, 1))
    w1, b1 = rng.standard_normal((16, 64)) * 0.25, np.zeros(64)
    w2, b2 = rng.standard_normal((64, 1)) * 0.1, np.zeros(1)
    lr = 0.05
    print(f"backend: numpy {np.__version__} on cpu (torch not installed)", flush=True)
    start = time.perf_counter()
    for step in range(1, steps + 1):
        idx = rng.integers(0, x.shape[0], BATCH)
        xb, yb = x[idx], y[idx]
        h = np.maximum(xb @ w1 + b1, 0.0)
        pred = h @ w2 + b2
        err = pred - yb
        loss = float(np.mean(err**2))
        # Backpropagation by hand: d(mse)/d(pred) = 2·err/n.
        g_pred = 2.0 * err / len(xb)
        g_w2, g_b2 = h.T @ g_pred, g_pred.sum(0)
        g_h = (g_pred @ w2.T) * (h > 0)
        g_w1, g_b1 = xb.T @ g_h, g_h.sum(0)
        for param, grad in ((w1, g_w1), (b1, g_b1), (w2, g_w2), (b2, g_b2)):
            param -= lr * grad
        if step % 10 == 0 or step == steps:
            print(f"step {step:4d}/{steps} loss {loss:.4f}", flush=True)
            progress(step, loss)
        time.sleep(0.02)  # pace it like a real step so the live table has something to show
    report(steps, time.perf_counter() - start)


def progress(step: int, loss: float) -> None:
    """Progress in this job's own units, for the scheduler (a no-op outside huangpu)."""
    if runtime is not None:
        runtime.report(step=step, samples=step * BATCH, loss=loss)


def report(steps: int, seconds: float) -> None:
    print(f"done: {steps} steps in {seconds:.2f}s ({steps / seconds:.1f} steps/s)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    describe_placement()
    try:
        import torch  # noqa: F401
    except ImportError:
        train_numpy(args.steps, args.seed)
    else:
        train_torch(args.steps, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
