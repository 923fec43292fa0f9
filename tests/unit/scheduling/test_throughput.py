"""The throughput matrix: roofline defaults, Gavel's profile, EWMA learning, rescaling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from huangpu.core.catalog import load_catalog
from huangpu.scheduling.throughput import (
    CLASSES,
    ThroughputMatrix,
    WorkloadClass,
    normalised_compute,
    parse_gavel,
    rescale_remaining,
    roofline_matrix,
    roofline_rate,
)

CATALOG = load_catalog()
# The shared data folder sits next to the checkout (as in CI); the test skips without it.
GAVEL = Path(__file__).resolve().parents[4] / "shared/data/traces/gavel/simulation_throughputs.json"


def test_roofline_by_hand() -> None:
    a100 = CATALOG.models["a100"]  # 312 TFLOPS bf16, 2039 GB/s
    cls = WorkloadClass("x", intensity=100.0, pflop_per_unit=1.0, efficiency=0.5)
    # memory roof 2039e9 × 100 = 203.9 TFLOP/s < 312: memory-bound; × 0.5 / 1e15 units/s
    assert roofline_rate(a100, cls) == pytest.approx(203.9e12 * 0.5 / 1e15)


def test_h100_trains_faster_than_910b_and_4090_and_h20_serves_well() -> None:
    m = roofline_matrix([CATALOG.models[c] for c in ("h100", "910b2", "rtx4090", "h20", "a100")])
    assert m.rate("train", "h100") > 2 * m.rate("train", "910b2") > m.rate("train", "rtx4090")
    # decode is bandwidth-bound: the H20 (4 TB/s, little compute) beats an A100 there only
    assert m.rate("serve", "h20") > m.rate("serve", "a100")
    assert m.rate("train", "h20") < m.rate("train", "a100")
    ncu = normalised_compute(m)
    assert ncu[m.chips.index("a100")] == pytest.approx(1.0)
    assert set(m.source[0]) == {"roofline"}


def test_profile_overrides_and_learning_is_an_ewma() -> None:
    m = roofline_matrix([CATALOG.models["a100"]], CLASSES[:1])
    m2 = m.with_rates({("default", "a100"): 10.0, ("resnet", "a100"): 4.0, ("x", "k80"): 1}, "p")
    assert m2.rate("default", "a100") == 10.0 and m2.rate("resnet", "a100") == 4.0
    assert m2.source[0][0] == "p" and "k80" not in m2.chips
    m3 = m2.learn("default", "a100", 20.0, alpha=0.25)
    assert m3.rate("default", "a100") == pytest.approx(0.75 * 10 + 0.25 * 20)
    assert m2.rate("default", "a100") == 10.0  # immutable: a new matrix comes back
    assert m3.learn("default", "a100", float("nan")) is m3


def test_parse_gavel_keeps_isolated_single_worker_rates() -> None:
    data = {
        "v100": {
            "('ResNet-18 (batch size 16)', 1)": {"null": 4.5, "('A3C', 1)": [1.0, 2.0]},
            "('ResNet-18 (batch size 16)', 2)": {"null": 8.0},
        },
        "v100_unconsolidated": {"('ResNet-18 (batch size 16)', 1)": {"null": 99.0}},
    }
    assert parse_gavel(data, {"v100": "V100"}) == {("ResNet-18 (batch size 16)", "V100"): 4.5}


@pytest.mark.skipif(not GAVEL.exists(), reason="shared Gavel data not present")
def test_parse_gavel_real_file() -> None:
    rates = parse_gavel(json.loads(GAVEL.read_text()))
    assert {chip for _, chip in rates} == {"k80", "p100", "v100"}
    assert (
        rates[("ResNet-50 (batch size 64)", "v100")] > rates[("ResNet-50 (batch size 64)", "k80")]
    )


def test_rescale_remaining_conserves_progress() -> None:
    m = ThroughputMatrix(("default",), ("a", "b", "c"), np.array([[2.0, 1.0, 0.0]]), (("r",) * 3,))
    assert rescale_remaining(m, "default", 600.0, "a", "b") == pytest.approx(1200.0)
    assert rescale_remaining(m, "default", 600.0, "b", "c") == float("inf")
