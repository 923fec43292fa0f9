"""Named experiments: a trace spec string → (Trace, round length), so CLI, sweep and bench
build runs the same way.

    gavel-continuous[:rate=5.6,seed=0,window=4000-5000,cluster=v100=36;p100=36;k80=36,generator=gavel]
                          Gavel's own arrivals and jobs for the seed (generator=numpy: our old
                          draw, which alone takes durations=philly-csv)
    gavel-static[:jobs=700,seed=0,gpus_per_server=1,generator=gavel]
                          Gavel's own jobs for the seed (generator=numpy: our old draw)
    gavel-trace:FILE
    itp:FILE[@gpus=128]   Microsoft ITP, raw or ElasticFlow form (see itp.py)
    jsonl:FILE            huangpu-native trace (see native.py)

Gavel's continuous and static experiments use its 360 s rounds (``--time_per_iteration``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from huangpu.sim.jobs import Trace

DEFAULT_DATA = Path("../shared/data/traces")
GAVEL_ROUND_S = 360.0


@dataclass(frozen=True, slots=True)
class TraceSpec:
    kind: str
    params: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> TraceSpec:
        kind, _, rest = text.partition(":")
        params: dict[str, str] = {}
        if kind in ("gavel-trace", "jsonl", "itp", "itp-elasticflow"):
            params["file"] = rest
        elif rest:
            for part in rest.split(","):
                key, sep, value = part.partition("=")
                if not sep:
                    raise ValueError(f"bad trace parameter {part!r} in {text!r}: use key=value")
                params[key.strip()] = value.strip()
        return cls(kind, params)

    def with_params(self, **extra: str) -> TraceSpec:
        return TraceSpec(self.kind, {**self.params, **extra})

    def __str__(self) -> str:
        if "file" in self.params:
            return f"{self.kind}:{self.params['file']}"
        body = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.kind}:{body}" if body else self.kind


def build(spec: TraceSpec, data: Path = DEFAULT_DATA) -> tuple[Trace, float]:
    """The trace and its round length (0: event-driven)."""
    from huangpu.sim import gavel, native  # local: a plain `sim --help` stays fast

    p = spec.params
    gavel_dir = data / "gavel"
    cluster = p.get("cluster", "v100=36;p100=36;k80=36").replace(";", ",")
    if spec.kind == "gavel-continuous":
        lo, _, hi = p.get("window", "4000-5000").partition("-")
        trace = gavel.continuous_trace(
            gavel_dir,
            float(p.get("rate", "5.6")),
            int(p.get("seed", "0")),
            cluster,
            (int(lo), int(hi)),
            multi_gpu=p.get("multi", "0") == "1",
            philly_csv=p.get("durations", "gavel") == "philly-csv",
            generator=p.get("generator", "gavel"),
        )
        return trace, float(p.get("round", GAVEL_ROUND_S))
    if spec.kind == "gavel-static":
        trace = gavel.static_trace(
            gavel_dir,
            int(p.get("jobs", "700")),
            int(p.get("seed", "0")),
            cluster,
            gpus_per_server=int(p.get("gpus_per_server", "1")),
            generator=p.get("generator", "gavel"),
        )
        return trace, float(p.get("round", GAVEL_ROUND_S))
    if spec.kind == "gavel-trace":
        return gavel.file_trace(gavel_dir, Path(p["file"]), cluster), GAVEL_ROUND_S
    if spec.kind in ("itp", "itp-elasticflow"):
        from huangpu.sim import itp

        file, _, gpus = p["file"].partition("@gpus=")
        return itp.trace(Path(file), int(gpus or "128")), 0.0
    if spec.kind == "jsonl":
        return native.read_trace(Path(p["file"])), 0.0
    raise ValueError(
        f"unknown trace kind {spec.kind!r}: use gavel-continuous, gavel-static, "
        "gavel-trace:FILE or jsonl:FILE"
    )
