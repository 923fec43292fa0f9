"""What an agent offers: a declared inventory (``--inventory``) or the GPUs NVML can see.

Declared forms, comma-separated groups, each group its own node(s):

    8xA100          one node with 8 A100
    2x8x910B        2 nodes with 8 910B each
    A100:8,910B:4   one node with 8 A100, then one node with 4 910B

Node names are ``<agent-name>-n0``, ``-n1``... in the order written.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from huangpu.core.catalog import load_catalog
from huangpu.core.domain import Device, Node
from huangpu.core.errors import InvalidInput, UnknownChip

log = logging.getLogger(__name__)

FIELD = "inventory"
MAX_DEVICES_PER_NODE = 1024
MAX_NODES = 100_000
_COUNTED = re.compile(r"^(?:(\d+)\s*[x×*]\s*)?(?:(\d+)\s*[x×*]\s*)?([^:x×*\s][^:×*]*?)$", re.I)
_COLON = re.compile(r"^([^:]+?)\s*:\s*(\d+)$")
_EXAMPLES = "expected e.g. '8xA100', '2x8x910B' or 'A100:8,910B:4'"


def _count(text: str, what: str, limit: int) -> int:
    value = int(text)
    if not 1 <= value <= limit:
        raise InvalidInput(f"inventory: {what} must be between 1 and {limit}, got {value}", FIELD)
    return value


def _group(text: str) -> tuple[int, int, str]:
    """(nodes, devices per node, chip name) of one comma-separated group."""
    colon = _COLON.match(text)
    if colon:
        return 1, _count(colon.group(2), "devices per node", MAX_DEVICES_PER_NODE), colon.group(1)
    counted = _COUNTED.match(text)
    if not counted or not counted.group(3).strip():
        raise InvalidInput(f"inventory: cannot read {text!r}; {_EXAMPLES}", FIELD)
    first, second, chip = counted.groups()
    if second is not None:
        nodes = _count(first, "node count", MAX_NODES)
        devices = _count(second, "devices per node", MAX_DEVICES_PER_NODE)
        return nodes, devices, chip
    if first is not None:
        return 1, _count(first, "devices per node", MAX_DEVICES_PER_NODE), chip
    return 1, 1, chip


def parse_inventory(text: str, agent_name: str) -> list[Node]:
    """Nodes declared by ``text``; raises InvalidInput (field ``inventory``) on bad text."""
    groups = [part.strip() for part in text.split(",")]
    if not text.strip() or not all(groups):
        raise InvalidInput(f"inventory: empty entry in {text!r}; {_EXAMPLES}", FIELD)
    catalog = load_catalog()
    nodes: list[Node] = []
    for group in groups:
        count, per_node, chip_name = _group(group)
        model = catalog.resolve(chip_name.strip(), field=FIELD)
        if len(nodes) + count > MAX_NODES:
            raise InvalidInput(f"inventory: more than {MAX_NODES} nodes", FIELD)
        for _ in range(count):
            devices = [
                Device(index=i, chip=model.id, memory_gib=model.memory_gib) for i in range(per_node)
            ]
            nodes.append(Node(name=f"{agent_name}-n{len(nodes)}", devices=devices))
    return nodes


def chip_from_name(name: str) -> str | None:
    """Catalog chip id for a driver's marketing name, e.g. 'NVIDIA H100 80GB HBM3' -> 'h100'.

    Driver names carry form factor and memory words the catalog does not list, so the
    longest run of words that resolves wins.
    """
    catalog = load_catalog()
    words = [w for w in re.split(r"[\s_-]+", name.strip()) if w]
    for size in range(len(words), 0, -1):
        for start in range(len(words) - size + 1):
            try:
                return catalog.resolve(" ".join(words[start : start + size])).id
            except UnknownChip:
                continue
    return None


def discover_nvml(agent_name: str = "local", nvml: Any = None) -> list[Node]:
    """The NVIDIA GPUs of this host as one node, or [] without pynvml or without a GPU."""
    if nvml is None:
        try:
            import pynvml as nvml  # type: ignore[no-redef]
        except ImportError:
            log.debug("pynvml not installed; no NVIDIA discovery")
            return []
    try:
        nvml.nvmlInit()
    except Exception as error:  # NVMLError has many subclasses: driver missing, no GPU...
        log.info("NVML unavailable (%s); no NVIDIA GPUs discovered", error)
        return []
    try:
        devices: list[Device] = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            raw = nvml.nvmlDeviceGetName(handle)
            name = raw.decode() if isinstance(raw, bytes) else str(raw)
            chip = chip_from_name(name)
            if chip is None:
                log.warning("GPU %d %r is not in the chip catalog; not offered", index, name)
                continue
            memory = nvml.nvmlDeviceGetMemoryInfo(handle).total / 2**30
            devices.append(Device(index=index, chip=chip, memory_gib=round(memory, 1)))
    finally:
        nvml.nvmlShutdown()
    return [Node(name=f"{agent_name}-n0", devices=devices)] if devices else []
