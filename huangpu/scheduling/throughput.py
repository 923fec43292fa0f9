"""The effective-throughput matrix: workload class × chip model → progress units per second.

Three sources, each overriding the one before (Gavel's idea: never treat a T4 and an A100 as
equal; measure where you can, estimate where you cannot):

1. **Roofline defaults** from the catalog: a class has an arithmetic intensity (FLOP per byte
   moved) and a cost per progress unit (FLOP); a chip reaches
   ``min(bf16 peak, memory bandwidth × intensity)`` times an efficiency.
2. **Measured profiles**, e.g. Gavel's ``simulation_throughputs.json`` (``parse_gavel``).
3. **Online learning**: ``learn`` folds the rate a running job reports into the matrix with an
   exponentially weighted moving average and returns a *new* matrix (snapshots stay immutable).

``rescale_remaining`` turns the time a preempted job still needs on one chip into the time it
needs on another, so a job resumed on another chip family keeps an honest runtime estimate.
Pure: no I/O; the caller reads files and hands in dicts.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from huangpu.core.catalog import ChipModel
from huangpu.scheduling.snapshot import FloatArray


@dataclass(frozen=True, slots=True)
class WorkloadClass:
    name: str
    intensity: float  # FLOP per byte of memory traffic: high = compute-bound
    pflop_per_unit: float = 1.0  # work in one progress unit, in PFLOP
    efficiency: float = 0.4  # share of the roofline real kernels reach (MFU-like)


# Why these numbers: large-batch transformer training runs near the compute roof (intensity in
# the hundreds); decode-heavy serving reads every weight per token (intensity ~10), so memory
# bandwidth decides its speed. They only rank chips until a measured profile replaces them.
CLASSES: tuple[WorkloadClass, ...] = (
    WorkloadClass("default", 150.0),
    WorkloadClass("train", 300.0),
    WorkloadClass("finetune", 150.0),
    WorkloadClass("batch-infer", 60.0),
    WorkloadClass("serve", 10.0),
)
# The chip that defines one normalised compute unit (NCU): one A100 on the default class.
REFERENCE_CHIP = "a100"


def roofline_rate(chip: ChipModel, cls: WorkloadClass) -> float:
    """Progress units per second of one accelerator of ``chip`` on ``cls``, from the roofline."""
    compute = chip.bf16_tflops * 1e12
    memory = chip.memory_bw_gbps * 1e9 * cls.intensity
    attainable = min(compute, memory) if compute > 0 and memory > 0 else max(compute, memory)
    return attainable * cls.efficiency / (cls.pflop_per_unit * 1e15)


@dataclass(frozen=True, eq=False)
class ThroughputMatrix:
    """Rates in progress units per second per accelerator; ``source`` says where each came from
    ("roofline", "profile" or "learned"), so an operator can see what is measured."""

    classes: tuple[str, ...]
    chips: tuple[str, ...]
    rates: FloatArray
    source: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        rates = np.array(self.rates, dtype=np.float64, copy=True)
        if rates.shape != (len(self.classes), len(self.chips)):
            raise ValueError(f"rates shape {rates.shape} != classes × chips")
        if not np.all(np.isfinite(rates)) or np.any(rates < 0):
            raise ValueError("rates must be finite and ≥ 0")
        rates.setflags(write=False)
        object.__setattr__(self, "rates", rates)

    def rate(self, cls: str, chip: str) -> float:
        return float(self.rates[self.classes.index(cls), self.chips.index(chip)])

    def with_rates(self, updates: Mapping[tuple[str, str], float], source: str) -> ThroughputMatrix:
        """A new matrix with the given (class, chip) rates replaced; unknown names are skipped
        (a profile may cover chips this city does not have), new classes are added."""
        classes = list(self.classes)
        for cls, _ in updates:
            if cls not in classes:
                classes.append(cls)
        rates = np.zeros((len(classes), len(self.chips)))
        rates[: len(self.classes)] = self.rates
        src = [list(row) for row in self.source] + [
            ["none"] * len(self.chips) for _ in range(len(classes) - len(self.classes))
        ]
        for (cls, chip), value in updates.items():
            if chip not in self.chips:
                continue
            i, c = classes.index(cls), self.chips.index(chip)
            rates[i, c] = float(value)
            src[i][c] = source
        return ThroughputMatrix(tuple(classes), self.chips, rates, tuple(tuple(r) for r in src))

    def learn(self, cls: str, chip: str, observed: float, alpha: float = 0.2) -> ThroughputMatrix:
        """EWMA update from a reported rate (progress units/s per accelerator): new matrix."""
        if not 0 < alpha <= 1:
            raise ValueError("alpha must be in (0, 1]")
        if not np.isfinite(observed) or observed < 0:
            return self  # a broken report never poisons the matrix
        old = self.rate(cls, chip)
        value = observed if old == 0 else (1 - alpha) * old + alpha * observed
        return self.with_rates({(cls, chip): value}, "learned")

    def rows_for(self, classes: Sequence[str]) -> FloatArray:
        """Rates for the given class names in order; an unknown class uses ``default``."""
        fallback = self.classes.index("default") if "default" in self.classes else 0
        rows = [self.classes.index(c) if c in self.classes else fallback for c in classes]
        return np.asarray(self.rates[rows], dtype=np.float64)


def roofline_matrix(
    chips: Sequence[ChipModel], classes: Iterable[WorkloadClass] = CLASSES
) -> ThroughputMatrix:
    cls_list = tuple(classes)
    rates = np.array([[roofline_rate(chip, cls) for chip in chips] for cls in cls_list])
    return ThroughputMatrix(
        tuple(c.name for c in cls_list),
        tuple(c.id for c in chips),
        rates.reshape(len(cls_list), len(chips)),
        tuple(("roofline",) * len(chips) for _ in cls_list),
    )


def normalised_compute(matrix: ThroughputMatrix, reference: str = REFERENCE_CHIP) -> FloatArray:
    """NCU per accelerator of each chip: its default-class rate over the reference chip's."""
    row = matrix.rows_for(["default"])[0]
    if reference in matrix.chips and row[matrix.chips.index(reference)] > 0:
        ref = row[matrix.chips.index(reference)]
    else:
        ref = float(row.max()) if row.size and row.max() > 0 else 1.0
    return np.asarray(row / ref, dtype=np.float64)


def parse_gavel(
    data: Mapping[str, Mapping[str, Mapping[str, object]]],
    chip_names: Mapping[str, str] | None = None,
    scale_factor: int = 1,
) -> dict[tuple[str, str], float]:
    """Isolated rates from Gavel's ``simulation_throughputs.json`` (already parsed from JSON).

    The file maps chip → "('Model (batch size B)', scale)" → {"null": isolated steps/s, other
    job: [co-located rates]}. We keep the isolated rate of jobs at ``scale_factor`` workers and
    map Gavel's chip names (k80, p100, v100) through ``chip_names``; ``*_unconsolidated`` rows
    are skipped. Keys of the result are (model name, chip).
    """
    names = dict(chip_names or {})
    out: dict[tuple[str, str], float] = {}
    for gavel_chip, jobs in data.items():
        if gavel_chip.endswith("_unconsolidated"):
            continue
        chip = names.get(gavel_chip, gavel_chip)
        for key, cell in jobs.items():
            model, scale = ast.literal_eval(key)
            rate = cell.get("null")
            if int(scale) == scale_factor and isinstance(rate, int | float):
                out[(str(model), chip)] = float(rate)
    return out


def rescale_remaining(
    matrix: ThroughputMatrix, cls: str, remaining_s: float, from_chip: str, to_chip: str
) -> float:
    """Seconds a job still needs on ``to_chip`` when it needed ``remaining_s`` on ``from_chip``.

    Progress is what is conserved: remaining work = remaining_s × rate(from); on the new chip
    it takes work ÷ rate(to). A chip the class cannot run on (rate 0) gives infinity.
    """
    rows = matrix.rows_for([cls])[0]
    src, dst = rows[matrix.chips.index(from_chip)], rows[matrix.chips.index(to_chip)]
    if dst <= 0:
        return float("inf")
    return remaining_s * float(src) / float(dst)
