from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from huangpu.agent.inventory import chip_from_name, discover_nvml, parse_inventory
from huangpu.core.errors import InvalidInput, UnknownChip


def test_single_node_with_count() -> None:
    nodes = parse_inventory("8xA100", "edge")
    assert [n.name for n in nodes] == ["edge-n0"]
    devices = nodes[0].devices
    assert [d.index for d in devices] == list(range(8))
    assert {d.chip for d in devices} == {"a100"}
    assert devices[0].memory_gib == 80


def test_nodes_times_devices() -> None:
    nodes = parse_inventory("2x8x910B", "sz")
    assert [n.name for n in nodes] == ["sz-n0", "sz-n1"]
    assert all(len(n.devices) == 8 and n.devices[0].chip == "910b2" for n in nodes)


def test_colon_list_makes_one_node_per_entry() -> None:
    nodes = parse_inventory("A100:8, 910B:4", "mix")
    assert [(n.name, len(n.devices), n.devices[0].chip) for n in nodes] == [
        ("mix-n0", 8, "a100"),
        ("mix-n1", 4, "910b2"),
    ]


def test_mixed_forms_and_spacing() -> None:
    nodes = parse_inventory("8 x H100,2X4x4090,MLU370", "a")
    assert [len(n.devices) for n in nodes] == [8, 4, 4, 1]
    assert [n.devices[0].chip for n in nodes] == ["h100", "rtx4090", "rtx4090", "mlu370"]
    assert [n.name for n in nodes] == ["a-n0", "a-n1", "a-n2", "a-n3"]


@pytest.mark.parametrize(
    "text", ["", " ", "8xA100,", "0xA100", "x8", "A100:", "A100:0", "2x0x910B", "9999xA100"]
)
def test_bad_text_names_the_inventory_field(text: str) -> None:
    with pytest.raises(InvalidInput) as error:
        parse_inventory(text, "a")
    assert error.value.field == "inventory"


def test_unknown_chip_has_did_you_mean() -> None:
    with pytest.raises(UnknownChip) as error:
        parse_inventory("8xA10O", "a")
    assert error.value.field == "inventory"
    assert "a100" in error.value.message


@pytest.mark.parametrize(
    ("name", "chip"),
    [
        ("NVIDIA H100 80GB HBM3", "h100"),
        ("NVIDIA A100-SXM4-80GB", "a100"),
        ("NVIDIA GeForce RTX 4090", "rtx4090"),
        ("NVIDIA L40S", "l40s"),
        ("NVIDIA H200", None),
    ],
)
def test_driver_names_map_to_catalog(name: str, chip: str | None) -> None:
    assert chip_from_name(name) == chip


class _FakeNvml:
    def __init__(self, names: list[Any], fail_init: bool = False) -> None:
        self.names, self.fail_init, self.shut = names, fail_init, False

    def nvmlInit(self) -> None:
        if self.fail_init:
            raise RuntimeError("NVML Shared Library Not Found")

    def nvmlShutdown(self) -> None:
        self.shut = True

    def nvmlDeviceGetCount(self) -> int:
        return len(self.names)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> Any:
        return self.names[handle]

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        return SimpleNamespace(total=80 * 2**30)


def test_nvml_discovery_skips_unknown_chips(caplog: pytest.LogCaptureFixture) -> None:
    nvml = _FakeNvml([b"NVIDIA H100 80GB HBM3", "NVIDIA Mystery 9000", "NVIDIA H100 80GB HBM3"])
    nodes = discover_nvml("gpu", nvml=nvml)
    assert [n.name for n in nodes] == ["gpu-n0"]
    assert [(d.index, d.chip, d.memory_gib) for d in nodes[0].devices] == [
        (0, "h100", 80.0),
        (2, "h100", 80.0),
    ]
    assert "Mystery" in caplog.text
    assert nvml.shut


def test_nvml_without_driver_or_gpus_gives_nothing() -> None:
    assert discover_nvml("gpu", nvml=_FakeNvml([], fail_init=True)) == []
    assert discover_nvml("gpu", nvml=_FakeNvml([])) == []


def test_nvml_without_the_library_gives_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` fail
    assert discover_nvml("gpu") == []
