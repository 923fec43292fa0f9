"""JobSpec: what a tenant submits, chip-agnostic. Validated by pydantic; unknown fields are errors.

``parse_jobspec_yaml`` turns YAML text into a JobSpec or raises InvalidInput naming the field.
``jobspec_json_schema()`` gives the JSON Schema editors use for completion.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from huangpu.core.catalog import ChipModel, load_catalog
from huangpu.core.errors import InvalidInput
from huangpu.core.families import FAMILIES

NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
MAX_SPEC_BYTES = 64 * 1024


class JobKind(StrEnum):
    TRAIN = "train"
    FINETUNE = "finetune"
    BATCH_INFER = "batch-infer"
    SERVE = "serve"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Resources(_Strict):
    accelerators: Annotated[int, Field(ge=1, le=64, description="accelerators per node")] = 1
    nodes: Annotated[int, Field(ge=1, le=1024, description="nodes, started all-or-nothing")] = 1
    min_memory_gib: Annotated[float, Field(ge=0, le=4096)] = 0
    chips: Annotated[
        list[str],
        Field(
            min_length=1,
            description="accepted chip models (e.g. 910B, A100) or families (ascend, nvidia), "
            "or 'any'",
        ),
    ] = ["any"]
    software: Annotated[
        list[str], Field(description="software stack needs, e.g. 'torch>=2.1'")
    ] = []

    @field_validator("chips")
    @classmethod
    def _known_chips(cls, chips: list[str]) -> list[str]:
        for i, chip in enumerate(chips):
            if chip.lower() == "any" or chip.lower() in FAMILIES:
                continue
            load_catalog().resolve(chip, field=f"resources.chips[{i}]")
        return chips

    def accepted_models(self) -> list[ChipModel]:
        """The chip models this job accepts, in catalog order."""
        catalog = load_catalog()
        wanted: set[str] = set()
        for chip in self.chips:
            key = chip.lower()
            if key == "any":
                return list(catalog)
            if key in FAMILIES:
                wanted.update(m.id for m in catalog.family_members(key))
            else:
                wanted.add(catalog.resolve(chip).id)
        return [m for m in catalog if m.id in wanted]

    @property
    def total_accelerators(self) -> int:
        return self.accelerators * self.nodes


class JobSpec(_Strict):
    name: Annotated[str, Field(pattern=NAME_RE, description="letters, digits, . _ -")]
    kind: JobKind = JobKind.TRAIN
    command: Annotated[str, Field(min_length=1, max_length=8192)]
    env: dict[str, str] = {}
    image: str | None = None
    workdir: str | None = Field(
        default=None, description="directory the command runs in on the agent's host"
    )
    resources: Resources = Resources()
    priority: Annotated[int, Field(ge=-1000, le=1000)] = 0
    max_price_cny_per_hour: Annotated[
        float | None, Field(gt=0, le=10_000, description="max CNY per accelerator-hour")
    ] = None
    deadline: dt.datetime | None = None
    estimated_hours: Annotated[
        float | None,
        Field(
            gt=0,
            le=24 * 366,
            description="expected runtime on the fastest accepted chip; lets the job start "
            "early in gaps (backfill) and is used to keep to the deadline",
        ),
    ] = None
    regions: Annotated[
        list[str], Field(description="regions the job may run in, e.g. shanghai; empty: any")
    ] = []
    residency: Annotated[
        str | None,
        Field(description="region the job's data must never leave (data residency)"),
    ] = None
    suppliers_allow: Annotated[list[str], Field(description="only these suppliers")] = []
    suppliers_deny: Annotated[list[str], Field(description="never these suppliers")] = []
    checkpoint_dir: str | None = None
    labels: dict[str, str] = {}

    @field_validator("regions", "suppliers_allow", "suppliers_deny")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not re.fullmatch(NAME_RE, name):
                raise ValueError(
                    f"{name!r} is not a region or supplier name (letters, digits, . _ -)"
                )
        return names

    @model_validator(mode="after")
    def _placement_rules(self) -> JobSpec:
        if self.residency is not None:
            if not re.fullmatch(NAME_RE, self.residency):
                raise ValueError(f"residency {self.residency!r} is not a region name")
            if self.regions and self.residency not in self.regions:
                raise ValueError(
                    f"residency {self.residency!r} is not among regions {self.regions}; "
                    "data that must stay in a region can only run there"
                )
        both = sorted(set(self.suppliers_allow) & set(self.suppliers_deny))
        if both:
            raise ValueError(f"suppliers {both} are both allowed and denied")
        return self

    @field_validator("workdir", "checkpoint_dir")
    @classmethod
    def _safe_path(cls, path: str | None) -> str | None:
        # A path from a spec is used on an agent's host: one that climbs out with '..' or
        # hides control characters is refused here, never left to each executor to catch.
        if path is None:
            return None
        if not path or len(path) > 4096:
            raise ValueError("must be a path of 1 to 4096 characters")
        if any(ord(c) < 32 or ord(c) == 127 for c in path):
            raise ValueError("control characters are not allowed in a path")
        if ".." in re.split(r"[/\\]", path):
            raise ValueError(f"{path!r} climbs out with '..'; give the directory itself")
        return path

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        for key in env:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise ValueError(f"{key!r} is not a valid environment variable name")
        return env


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def validation_to_invalid(error: ValidationError) -> InvalidInput:
    """The first pydantic error, as one message naming its field."""
    first = error.errors()[0]
    field = _field_path(first["loc"]) or None
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown field; see `huangpu submit --schema` for the fields a job takes"
    ctx_error = first.get("ctx", {}).get("error")
    if isinstance(ctx_error, InvalidInput):
        return ctx_error
    return InvalidInput(f"{field}: {message}" if field else message, field)


def jobspec_from_dict(data: Any) -> JobSpec:
    if not isinstance(data, dict):
        raise InvalidInput("a job spec must be a mapping of fields, e.g. `name: my-job`", None)
    try:
        return JobSpec.model_validate(data)
    except ValidationError as error:
        raise validation_to_invalid(error) from None


def parse_jobspec_yaml(text: str) -> JobSpec:
    if len(text.encode()) > MAX_SPEC_BYTES:
        raise InvalidInput(f"job spec is larger than {MAX_SPEC_BYTES} bytes", None)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidInput(f"malformed YAML{where}: {getattr(error, 'problem', error)}") from None
    return jobspec_from_dict(data)


def jobspec_json_schema() -> dict[str, Any]:
    return JobSpec.model_json_schema()
