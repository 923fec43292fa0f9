from __future__ import annotations

import pytest

from huangpu.core.catalog import load_catalog
from huangpu.core.errors import UnknownChip
from huangpu.core.families import FAMILIES


def test_aliases_resolve_to_one_model() -> None:
    c = load_catalog()
    assert {c.resolve(n).id for n in ("910B", "Ascend910B2", "huawei-910b")} == {"910b2"}
    assert c.resolve("A100").id == c.resolve("NVIDIA A100 80GB SXM4").id == "a100"


def test_every_model_has_a_family_and_source() -> None:
    c = load_catalog()
    assert len(c) >= 30
    for model in c:
        assert model.family in FAMILIES
        assert model.source_url.startswith("http")
    assert {m.family for m in c} == set(FAMILIES)


def test_domestic_flag() -> None:
    c = load_catalog()
    assert c.resolve("910B").domestic and not c.resolve("H100").domestic


def test_unknown_chip_suggests() -> None:
    with pytest.raises(UnknownChip) as info:
        load_catalog().resolve("A10O", field="resources.chips[0]")
    assert "a100" in info.value.message and info.value.field == "resources.chips[0]"
