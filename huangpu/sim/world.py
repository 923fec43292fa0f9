"""The simulated city: pools of nodes of one chip model each, their prices and suppliers,
and the voucher programs that subsidise the rent.

Static arrays (node → pool, chip, domain) are built once; the engine keeps only the busy
devices, so a cycle's snapshot is a few numpy slices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from huangpu.ledger import VoucherProgram


@dataclass(frozen=True, slots=True)
class PoolSpec:
    name: str
    chip: str
    nodes: int
    devices_per_node: int
    supplier: str = "sim"
    memory_gib: float = 80.0
    price_fen_per_hour: int = 0  # 0: no bill (a research trace without prices)
    nodes_per_domain: int = 0  # 0: the whole pool is one interconnect domain
    region: str = "default"


@dataclass
class World:
    pools: tuple[PoolSpec, ...]
    programs: tuple[VoucherProgram, ...] = ()
    org_category: dict[str, str] = field(default_factory=dict)  # org → category; default "startup"
    # Orgs granted each program at time zero (program id → orgs); None: every org is granted.
    grants: dict[str, tuple[str, ...] | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.pools:
            raise ValueError("a world needs at least one pool")
        names = [p.name for p in self.pools]
        if len(set(names)) != len(names):
            raise ValueError(f"pool names repeat: {names}")
        chips: list[str] = []
        for p in self.pools:
            if p.chip not in chips:
                chips.append(p.chip)
            if p.nodes < 1 or p.devices_per_node < 1:
                raise ValueError(f"pool {p.name}: needs ≥ 1 node and ≥ 1 device per node")
        self.chips: tuple[str, ...] = tuple(chips)
        keys: list[str] = []
        pool_of: list[int] = []
        domains: list[str] = []
        devices: list[int] = []
        for i, p in enumerate(self.pools):
            for n in range(p.nodes):
                keys.append(f"{p.name}/n{n:04d}")
                pool_of.append(i)
                span = p.nodes_per_domain or p.nodes
                domains.append(f"{p.name}/d{n // span}")
                devices.append(p.devices_per_node)
        self.node_keys: tuple[str, ...] = tuple(keys)
        self.node_pool = np.array(pool_of, dtype=np.int64)
        self.node_chip = np.array(
            [self.chips.index(self.pools[i].chip) for i in pool_of], dtype=np.int64
        )
        self.node_devices = np.array(devices, dtype=np.int64)
        self.node_mem = np.array([self.pools[i].memory_gib for i in pool_of], dtype=np.float64)
        domain_codes: dict[str, int] = {}
        for d in domains:
            domain_codes.setdefault(d, len(domain_codes))
        self.domains: tuple[str, ...] = tuple(domain_codes)
        self.node_domain = np.array([domain_codes[d] for d in domains], dtype=np.int64)
        self.domain_pool = np.zeros(len(domain_codes), dtype=np.int64)
        self.domain_pool[self.node_domain] = self.node_pool
        self.price_fen = np.zeros((len(self.pools), len(self.chips)), dtype=np.int64)
        for i, p in enumerate(self.pools):
            self.price_fen[i, self.chips.index(p.chip)] = p.price_fen_per_hour

    @property
    def pool_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.pools)

    @property
    def n_nodes(self) -> int:
        return len(self.node_keys)

    def capacity_by_chip(self) -> dict[str, int]:
        out = dict.fromkeys(self.chips, 0)
        for p in self.pools:
            out[p.chip] += p.nodes * p.devices_per_node
        return out


def uniform_world(
    counts: dict[str, int], devices_per_node: int = 4, supplier: str = "sim"
) -> World:
    """One pool per chip with ``counts[chip]`` devices, in nodes of ``devices_per_node``."""
    pools: list[PoolSpec] = []
    for chip, count in counts.items():
        if count % devices_per_node:
            raise ValueError(f"{count} {chip} devices do not fill nodes of {devices_per_node}")
        pools.append(
            PoolSpec(
                f"{chip}-pool", chip, count // devices_per_node, devices_per_node, supplier=supplier
            )
        )
    return World(tuple(pools))


def parse_cluster_spec(text: str, devices_per_node: int = 4) -> World:
    """``v100=36,p100=36,k80=36`` (Gavel's ``--cluster_spec`` 36:36:36, named) → a world."""
    counts: dict[str, int] = {}
    for part in text.split(","):
        chip, _, count = part.partition("=")
        if not chip or not count.strip().isdigit():
            raise ValueError(f"bad cluster spec {text!r}: expected chip=count,chip=count")
        counts[chip.strip()] = int(count)
    return uniform_world(counts, devices_per_node)
