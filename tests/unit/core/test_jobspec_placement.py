"""The scheduling fields of a JobSpec: runtime estimate, regions, residency, supplier lists."""

from __future__ import annotations

import pytest

from huangpu.core.errors import InvalidInput
from huangpu.core.jobspec import jobspec_from_dict


def spec(**fields: object) -> dict[str, object]:
    return {"name": "x", "command": "true", **fields}


def test_defaults_leave_placement_open() -> None:
    s = jobspec_from_dict(spec())
    assert (s.estimated_hours, s.regions, s.residency) == (None, [], None)
    assert (s.suppliers_allow, s.suppliers_deny) == ([], [])


def test_valid_placement_fields() -> None:
    s = jobspec_from_dict(
        spec(
            estimated_hours=2.5,
            regions=["shanghai", "beijing"],
            residency="shanghai",
            suppliers_allow=["telecom-sh"],
            suppliers_deny=["cloud-x"],
        )
    )
    assert s.estimated_hours == 2.5 and s.residency == "shanghai"


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"estimated_hours": 0}, "estimated_hours"),
        ({"residency": "singapore", "regions": ["shanghai"]}, "not among regions"),
        ({"suppliers_allow": ["a"], "suppliers_deny": ["a"]}, "both allowed and denied"),
        ({"regions": ["no spaces"]}, "regions"),
        ({"residency": "bad name!"}, "residency"),
    ],
)
def test_bad_placement_fields_are_refused_with_the_field(
    fields: dict[str, object], words: str
) -> None:
    with pytest.raises(InvalidInput, match=words):
        jobspec_from_dict(spec(**fields))
