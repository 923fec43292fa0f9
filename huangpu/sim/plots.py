"""PNG plots with matplotlib (Agg backend: no display needed). Each function writes one file
and returns its path; the caller decides where reports live."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from huangpu.sim.engine import SimResult
from huangpu.sim.metrics import measured_rows


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    # Fixed metadata so the same run gives the same bytes.
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


def jct_cdf(results: Sequence[SimResult], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in results:
        rows = measured_rows(r)
        jct = np.sort((r.finish[rows] - r.submit[rows])[~np.isnan(r.finish[rows])]) / 3600
        if jct.size:
            ax.plot(jct, np.arange(1, jct.size + 1) / jct.size, label=r.policy)
    ax.set_xscale("log")
    ax.set_xlabel("JCT (hours, log)")
    ax.set_ylabel("fraction of jobs")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def utilisation(r: SimResult, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 3.5))
    capacity = r.world.capacity_by_chip()
    if r.sample_busy.size:
        t = r.sample_t / 3600
        for c, chip in enumerate(r.world.chips):
            ax.plot(t, r.sample_busy[:, c] / capacity[chip], label=chip, lw=0.8)
    ax.set_xlabel("time (hours)")
    ax.set_ylabel("devices allocated / devices")
    ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def allocation_vs_load(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: Path,
    published: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    zoom_from: float = 85.0,
) -> Path:
    """Allocation rate (%) against arrived load (% of capacity requested), one line per policy;
    the right panel zooms on loads from ``zoom_from`` %, where the policies part."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax in axes:
        for name, (x, y) in curves.items():
            ax.plot(x, y, label=name)
        for name, (x, y) in (published or {}).items():
            ax.plot(x, y, ls="--", label=f"{name} (published)")
        ax.plot([0, 100], [0, 100], color="grey", lw=0.5)
        ax.set_xlabel("arrived GPU requests (% of capacity)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("GPUs allocated (%)")
    axes[1].set_xlim(zoom_from, None)
    axes[1].set_ylim(zoom_from, 100)
    axes[1].legend(fontsize=8)
    return _save(fig, path)


def bars(
    values: Mapping[str, float],
    ylabel: str,
    path: Path,
    published: Mapping[str, float] | None = None,
) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    names = list(values)
    x = np.arange(len(names))
    ax.bar(x - 0.2 if published else x, [values[n] for n in names], 0.4, label="huangpu")
    if published:
        ax.bar(x + 0.2, [published.get(n, np.nan) for n in names], 0.4, label="published")
        ax.legend()
    ax.set_xticks(x, names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)


def lines(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    xlabel: str,
    ylabel: str,
    path: Path,
) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (x, y) in series.items():
        ax.plot(x, y, marker="o", ms=3, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
