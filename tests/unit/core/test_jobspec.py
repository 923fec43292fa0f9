from __future__ import annotations

import pytest

from huangpu.core.errors import InvalidInput, UnknownChip
from huangpu.core.jobspec import jobspec_json_schema, parse_jobspec_yaml

GOOD = """
name: tiny
kind: train
command: python train.py
resources:
  accelerators: 8
  nodes: 2
  chips: [ascend, A100]
  min_memory_gib: 40
priority: 5
max_price_cny_per_hour: 12.5
deadline: 2026-12-01T00:00:00Z
labels: {team: nlp}
"""


def test_good_spec() -> None:
    spec = parse_jobspec_yaml(GOOD)
    assert spec.resources.total_accelerators == 16
    ids = {m.id for m in spec.resources.accepted_models()}
    assert "a100" in ids and "910b2" in ids and "h100" not in ids


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("name: a\ncommand: x\nfoo: 1", "foo"),
        ("name: a\ncommand: x\nresources: {accelerators: 0}", "resources.accelerators"),
        ("name: a\ncommand: x\nresources: {nodes: -1}", "resources.nodes"),
        ("name: a\ncommand: x\nresources: {chips: [910X]}", "resources.chips[0]"),
        ("name: a\ncommand: x\nkind: sing", "kind"),
        ("name: 'bad name'\ncommand: x", "name"),
        ("name: a\ncommand: x\nenv: {'1BAD': v}", "env"),
        ("name: a", "command"),
    ],
)
def test_bad_fields_are_named(text: str, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_jobspec_yaml(text)
    assert info.value.field == field


def test_malformed_yaml_says_where() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_jobspec_yaml("name: [a\ncommand: x")
    assert "line" in info.value.message


def test_unknown_chip_is_typed() -> None:
    with pytest.raises(UnknownChip):
        parse_jobspec_yaml("name: a\ncommand: x\nresources: {chips: [nope9000]}")


def test_schema_forbids_unknown_fields() -> None:
    schema = jobspec_json_schema()
    assert schema["additionalProperties"] is False
    assert "resources" in schema["properties"]
