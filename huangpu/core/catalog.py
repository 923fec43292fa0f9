"""The chip catalog: one ChipModel per accelerator, with aliases users actually type.

Loaded once from package data copied from the shared catalog (sources kept in the CSV).
``resolve("910B")``, ``resolve("Ascend910B2")`` and ``resolve("huawei-910b")`` all give the
same model. Unknown names raise UnknownChip with a did-you-mean.
"""

from __future__ import annotations

import csv
import difflib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from huangpu.core.errors import UnknownChip
from huangpu.core.families import FAMILIES, ChipFamily


@dataclass(frozen=True, slots=True)
class ChipModel:
    id: str
    name: str
    family: str
    memory_gib: float
    bf16_tflops: float
    memory_bw_gbps: float
    year: int | None
    source_url: str

    @property
    def family_info(self) -> ChipFamily:
        return FAMILIES[self.family]

    @property
    def domestic(self) -> bool:
        return self.family_info.domestic


# CSV model name prefix -> (id, family, extra aliases). The first alias-free match wins.
# "910B" on its own means the 910B2, the card the market rents as "910B".
_ROWS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("A100 80GB", "a100", "nvidia", ("a100-80g",)),
    ("A800", "a800", "nvidia", ()),
    ("H100", "h100", "nvidia", ("h100-80g",)),
    ("H800", "h800", "nvidia", ()),
    ("H20", "h20", "nvidia", ()),
    ("L20", "l20", "nvidia", ()),
    ("L40S", "l40s", "nvidia", ()),
    ("GeForce RTX 4090", "rtx4090", "nvidia", ("4090",)),
    ("Ascend 910B1", "910b1", "ascend", ()),
    ("Ascend 910B2", "910b2", "ascend", ("910b", "ascend910b")),
    ("Ascend 910B3", "910b3", "ascend", ()),
    ("Ascend 910B4", "910b4", "ascend", ()),
    ("Ascend 910C", "910c", "ascend", ()),
    ("Ascend 310P", "310p", "ascend", ()),
    ("MLU370", "mlu370", "cambricon", ("mlu370-x8",)),
    ("MLU590", "mlu590", "cambricon", ()),
    ("BR100", "br100", "biren", ()),
    ("BR104", "br104", "biren", ()),
    ("BR106", "br106", "biren", ()),
    ("曦云 C500", "c500", "metax", ("metax-c500",)),
    ("曦思 N260", "n260", "metax", ("metax-n260",)),
    ("天垓100", "bi-v100", "iluvatar", ("tianhai100",)),
    ("天垓150", "bi-v150", "iluvatar", ("tianhai150",)),
    ("智铠100", "mr-v100", "iluvatar", ("zhikai100",)),
    ("云燧 T20", "t20", "enflame", ("enflame-t20",)),
    ("云燧 i20", "i20", "enflame", ("enflame-i20",)),
    ("云燧 S60", "s60", "enflame", ("enflame-s60",)),
    ("DCU Z100", "z100", "hygon", ("dcu-z100",)),
    ("DCU K100 AI", "k100-ai", "hygon", ("dcu-k100-ai",)),
    ("DCU K100", "k100", "hygon", ("dcu-k100",)),
    ("MTT S4000", "s4000", "moorethreads", ("mtt-s4000",)),
    ("MTT S5000", "s5000", "moorethreads", ("mtt-s5000",)),
    ("R200", "r200", "kunlunxin", ("kunlun-r200",)),
    ("P800", "p800", "kunlunxin", ("kunlun-p800",)),
)

_VENDOR_WORDS = (
    "nvidia",
    "huawei",
    "ascend",
    "cambricon",
    "hygon",
    "kunlunxin",
    "kunlun",
    "enflame",
    "metax",
    "iluvatar",
    "biren",
    "moorethreads",
    "mtt",
    "geforce",
)


def normalise(name: str) -> str:
    """Lower case, no punctuation, vendor words dropped: 'Huawei-910B' -> '910b'."""
    key = re.sub(r"[^0-9a-z\u4e00-\u9fff]", "", name.lower())
    for word in _VENDOR_WORDS:
        if key.startswith(word) and len(key) > len(word):
            key = key[len(word) :]
    return key


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


class Catalog:
    def __init__(self, models: list[ChipModel], aliases: dict[str, str]) -> None:
        self.models = {m.id: m for m in models}
        self._aliases = aliases

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.models.values())

    def __len__(self) -> int:
        return len(self.models)

    def resolve(self, name: str, field: str = "chip") -> ChipModel:
        key = normalise(name)
        model_id = self._aliases.get(key)
        if model_id is None:
            names = sorted(self.models)
            close = difflib.get_close_matches(key, list(self._aliases), n=3, cutoff=0.5)
            hint = sorted({self._aliases[c] for c in close})
            advice = f" Did you mean {', '.join(hint)}?" if hint else ""
            raise UnknownChip(
                f"unknown chip {name!r}.{advice} Run `huangpu chips` for the catalog "
                f"({len(names)} models).",
                field,
            )
        return self.models[model_id]

    def family_members(self, family: str) -> list[ChipModel]:
        return [m for m in self.models.values() if m.family == family]


def _build(rows: list[dict[str, str]]) -> Catalog:
    models: list[ChipModel] = []
    aliases: dict[str, str] = {}
    for row in rows:
        match = next((r for r in _ROWS if row["model"].startswith(r[0])), None)
        if match is None:
            continue  # photonic research chips: not schedulable accelerators
        prefix, model_id, family, extra = match
        if model_id in {m.id for m in models}:
            continue
        model = ChipModel(
            id=model_id,
            name=f"{FAMILIES[family].vendor} {row['model']}",
            family=family,
            memory_gib=_number(row["memory_gb"]),
            bf16_tflops=_number(row["bf16_tflops"]) or _number(row["fp16_tflops"]),
            memory_bw_gbps=_number(row["memory_bw_gbps"]),
            year=int(row["year"]) if row["year"].isdigit() else None,
            source_url=row["source_url"],
        )
        models.append(model)
        for alias in (model_id, prefix, row["model"], *extra):
            aliases.setdefault(normalise(alias), model_id)
    return Catalog(models, aliases)


@cache
def load_catalog() -> Catalog:
    text = resources.files("huangpu.core").joinpath("data/accelerators.csv").read_text("utf-8")
    return _build(list(csv.DictReader(text.splitlines())))
