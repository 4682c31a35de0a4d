"""Pipelines and their ordered stages.

A tenant has several pipelines; one is the default. The default pipeline "Sales" is created the
first time a tenant touches pipelines or opportunities, so every tenant starts with one that
works. Stages are ordered (``position`` 1..n), each with a probability (0–100), a kind (open, won,
lost) and the opportunity fields that must be filled before an opportunity may enter it.

A pipeline's answer includes its stages, so any stage change bumps the pipeline's version (and a
stale If-Match on a stage change answers 412). A stage that holds opportunities can be neither
deleted nor change its kind (409 naming how many): its opportunities' won/lost status follows the
kind. Its probability may change: opportunities that do not override theirs follow it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from services.records.db import pipelines as store
from services.records.domain import custom_fields, normalise
from services.records.domain.access import RecordAccess
from shared.db import Unit
from shared.errors import Conflict, FieldError, NotFound, ValidationProblem
from shared.http.conditional import check_version

DEFAULT_PIPELINE_NAME = "Sales"
STAGE_KINDS = ("open", "won", "lost")
MAX_STAGES = 50
# Opportunity fields a stage may require; custom fields as "custom_fields.<key>".
REQUIRABLE_FIELDS = (
    "name", "amount", "currency", "expected_close_date", "owner_id", "description", "won_reason", "lost_reason",
)
CUSTOM_PREFIX = "custom_fields."
_CUSTOM_KEY = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_STAGE_NAME = "pipeline_stages_name"
_PIPELINE_NAME = "pipelines_name"


@dataclass(frozen=True)
class StageSpec:
    name: str
    probability: int
    kind: str = "open"
    required_fields: tuple[str, ...] = ()
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    def row(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "probability": self.probability, "kind": self.kind,
                "required_fields": list(self.required_fields)}


def default_stages() -> list[StageSpec]:
    return [
        StageSpec("Qualification", 10), StageSpec("Needs analysis", 30), StageSpec("Proposal", 60),
        StageSpec("Negotiation", 80), StageSpec("Won", 100, "won"), StageSpec("Lost", 0, "lost"),
    ]


# --- rules without I/O ----------------------------------------------------------------------------


def required_field_errors(fields: Iterable[str], where: str) -> list[FieldError]:
    """Each required field must be an opportunity field (or ``custom_fields.<key>``), named once."""
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, name in enumerate(fields):
        spot = f"{where}[{index}]"
        if name in seen:
            errors.append(FieldError(spot, f"'{name}' is listed twice", "duplicate"))
        elif name.startswith(CUSTOM_PREFIX):
            if not _CUSTOM_KEY.match(name[len(CUSTOM_PREFIX):]):
                errors.append(FieldError(spot, f"'{name}' is not a custom field key (custom_fields.<lower_snake_key>)",
                                         "invalid"))
        elif name not in REQUIRABLE_FIELDS:
            errors.append(FieldError(
                spot, f"unknown opportunity field '{name}'; use one of {', '.join(REQUIRABLE_FIELDS)} "
                      "or custom_fields.<key>", "unknown_field"))
        seen.add(name)
    return errors


def stage_spec(name: str, probability: int, kind: str, required_fields: Sequence[str], where: str) -> StageSpec:
    """One checked stage (422 naming ``<where>.<field>``)."""
    errors = normalise.Errors()
    clean = errors.check(f"{where}name", normalise.name, name, 100)
    errors.extend(required_field_errors(required_fields, f"{where}required_fields"))
    errors.raise_if_any()
    assert clean is not None
    return StageSpec(clean, probability, kind, tuple(required_fields))


def stage_list(stages: Sequence[Any]) -> list[StageSpec]:
    """A new pipeline's stages, every error reported at once; names are unique (case-insensitive)."""
    errors: list[FieldError] = []
    specs: list[StageSpec] = []
    names: set[str] = set()
    for index, stage in enumerate(stages):
        where = f"stages[{index}]."
        try:
            spec = stage_spec(stage.name, stage.probability, stage.kind, stage.required_fields, where)
            specs.append(spec)
            key = spec.name.lower()
        except ValidationProblem as problem:
            errors += problem.errors or []
            key = " ".join(stage.name.split()).lower()
        if key in names:
            errors.append(FieldError(f"{where}name", f"'{stage.name}' is used by another stage of this pipeline",
                                     "duplicate"))
        names.add(key)
    if errors:
        raise ValidationProblem(errors)
    return specs


async def check_custom_required(unit: Unit, fields_by_place: Mapping[str, Sequence[str]]) -> None:
    """422 for each ``custom_fields.<key>`` a stage would require that is no opportunity custom field.
    ``fields_by_place`` maps the request place (``stages[0].required_fields``) to its field names."""
    wanted = {(place, index, name) for place, names in fields_by_place.items()
              for index, name in enumerate(names) if name.startswith(CUSTOM_PREFIX)}
    if not wanted:
        return
    known = {d.key for d in await custom_fields.definitions(unit, "opportunity")}
    errors = [FieldError(f"{place}[{index}]", f"'{name}' is not a custom field of opportunities", "unknown_field")
              for place, index, name in sorted(wanted) if name[len(CUSTOM_PREFIX):] not in known]
    if errors:
        raise ValidationProblem(errors)


def clean_name(value: str, field: str = "name") -> str:
    errors = normalise.Errors()
    clean = errors.check(field, normalise.name, value, 100)
    errors.raise_if_any()
    assert clean is not None
    return clean


def empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value in ([], {})


def missing_required(required: Iterable[str], record: Mapping[str, Any]) -> list[str]:
    """The stage's required fields that ``record`` (the opportunity as it would be) leaves empty."""
    custom = record.get("custom_fields") or {}
    missing: list[str] = []
    for name in required:
        value = custom.get(name[len(CUSTOM_PREFIX):]) if name.startswith(CUSTOM_PREFIX) else record.get(name)
        if empty(value):
            missing.append(name)
    return missing


def stage_of(pipeline: Mapping[str, Any], stage_id: uuid.UUID) -> dict[str, Any] | None:
    return next((s for s in pipeline["stages"] if s["id"] == str(stage_id)), None)


def first_stage(pipeline: Mapping[str, Any]) -> dict[str, Any]:
    return pipeline["stages"][0]


def pipeline_answer(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "version": row["version"], "name": row["name"], "is_default": row["is_default"],
        "stages": list(row["stages"]), "created_at": row["created_at"], "updated_at": row["updated_at"],
        "created_by": row["created_by"], "updated_by": row["updated_by"],
    }


def missing_pipeline(pipeline_id: object) -> NotFound:
    return NotFound(f"No pipeline with id {pipeline_id}", kind="not-found")


def missing_stage(stage_id: object) -> NotFound:
    return NotFound(f"No stage with id {stage_id} in this pipeline", kind="not-found")


def _name_taken(name: str, where: str = "name") -> Conflict:
    return Conflict(f"'{name}' is already used", kind="name-taken",
                    errors=[FieldError(where, f"'{name}' is already used", "taken")])


# --- the default pipeline -------------------------------------------------------------------------


async def ensure_default(unit: Unit, access: RecordAccess) -> asyncpg.Record:
    """The tenant's default pipeline, created with the standard stages on first use."""
    pipeline = await store.get_default(unit)
    if pipeline is not None:
        return pipeline
    pipeline_id = uuid.uuid4()
    if await store.insert(unit, pipeline_id, DEFAULT_PIPELINE_NAME, is_default=True, user_id=access.user_id,
                          stages=[s.row() for s in default_stages()]):
        pipeline = await store.get(unit, pipeline_id)
        await _emit(unit, access, "created", pipeline)
        return pipeline
    # Another request created it meanwhile (our insert waited for its commit).
    pipeline = await store.get_default(unit)
    assert pipeline is not None
    return pipeline


async def _emit(unit: Unit, access: RecordAccess, action: str, pipeline: asyncpg.Record) -> None:
    await unit.emit("pipeline", action, pipeline["id"], actor=access.actor, version=pipeline["version"],
                    data={"record": pipeline_answer(pipeline)})


# --- use cases ------------------------------------------------------------------------------------


async def list_pipelines(
    unit: Unit, access: RecordAccess, *, after: tuple[Any, uuid.UUID] | None, limit: int
) -> list[asyncpg.Record]:
    await ensure_default(unit, access)
    return await store.page(unit, after=after, limit=limit)


async def get_pipeline(unit: Unit, access: RecordAccess, pipeline_id: uuid.UUID) -> asyncpg.Record:
    await ensure_default(unit, access)
    pipeline = await store.get(unit, pipeline_id)
    if pipeline is None:
        raise missing_pipeline(pipeline_id)
    return pipeline


async def create_pipeline(
    unit: Unit, access: RecordAccess, *, name: str, stages: Sequence[Any], is_default: bool
) -> asyncpg.Record:
    clean = clean_name(name)
    specs = stage_list(stages)
    pipeline_id = uuid.uuid4()
    await check_custom_required(unit, {f"stages[{i}].required_fields": s.required_fields for i, s in enumerate(specs)})
    try:
        await ensure_default(unit, access)
        if is_default:
            await _demote_default(unit, access)
        if not await store.insert(unit, pipeline_id, clean, is_default=is_default, user_id=access.user_id,
                                  stages=[s.row() for s in specs]):
            raise Conflict("Another pipeline was made the default at the same moment; retry", kind="default-race")
        pipeline = await store.get(unit, pipeline_id)
        await _emit(unit, access, "created", pipeline)
        return pipeline
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == _PIPELINE_NAME:
            raise _name_taken(clean) from None
        raise


async def _demote_default(unit: Unit, access: RecordAccess) -> None:
    previous = await store.clear_default(unit)
    if previous is not None:
        await _emit(unit, access, "updated", await store.get(unit, previous))


async def _locked(unit: Unit, pipeline_id: uuid.UUID, expected_version: int | None) -> asyncpg.Record:
    pipeline = await store.get(unit, pipeline_id, for_update=True)
    if pipeline is None:
        raise missing_pipeline(pipeline_id)
    check_version(expected_version, pipeline["version"], "pipeline")
    return pipeline


async def update_pipeline(
    unit: Unit, access: RecordAccess, pipeline_id: uuid.UUID, *, name: str | None,
    is_default: bool | None, expected_version: int | None,
) -> asyncpg.Record:
    """Rename it, or make it the default (the default cannot be un-made: make another one default)."""
    clean = clean_name(name) if name is not None else None
    try:
        await ensure_default(unit, access)
        pipeline = await _locked(unit, pipeline_id, expected_version)
        if is_default is False and pipeline["is_default"]:
            raise ValidationProblem.one(
                "is_default", "a tenant always has a default pipeline; make another pipeline the default instead",
                "default_required")
        columns: dict[str, Any] = {}
        if clean is not None and clean != pipeline["name"]:
            columns["name"] = clean
        if is_default and not pipeline["is_default"]:
            await _demote_default(unit, access)
            columns["is_default"] = True
        if not columns:
            return pipeline
        await store.touch(unit, pipeline_id, access.user_id, **columns)
        updated = await store.get(unit, pipeline_id)
        await _emit(unit, access, "updated", updated)
        return updated
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == _PIPELINE_NAME:
            raise _name_taken(str(clean)) from None
        if exc.constraint_name == "pipelines_default":
            raise Conflict("Another pipeline was made the default at the same moment; retry",
                           kind="default-race") from None
        raise


async def delete_pipeline(
    unit: Unit, access: RecordAccess, pipeline_id: uuid.UUID, *, expected_version: int | None
) -> None:
    await ensure_default(unit, access)
    pipeline = await _locked(unit, pipeline_id, expected_version)
    if pipeline["is_default"]:
        raise Conflict("The default pipeline cannot be deleted; make another pipeline the default first",
                       kind="default-pipeline")
    count = await store.opportunity_count(unit, pipeline_id)
    if count:
        raise Conflict(
            f"The pipeline holds {count} opportunit{'y' if count == 1 else 'ies'} (deleted ones count until "
            "they are purged); move them to another pipeline first",
            kind="pipeline-in-use", extra={"opportunities": count},
        )
    await store.delete(unit, pipeline_id)
    await unit.emit("pipeline", "deleted", pipeline_id, actor=access.actor, version=pipeline["version"] + 1,
                    data={"record": pipeline_answer(pipeline)})


async def add_stage(
    unit: Unit, access: RecordAccess, pipeline_id: uuid.UUID, *, spec: StageSpec, position: int | None,
    expected_version: int | None,
) -> asyncpg.Record:
    """Add a stage at ``position`` (1-based; default: last); the stages after it move down one."""
    await check_custom_required(unit, {"required_fields": spec.required_fields})
    try:
        await ensure_default(unit, access)
        pipeline = await _locked(unit, pipeline_id, expected_version)
        stages = list(pipeline["stages"])
        if len(stages) >= MAX_STAGES:
            raise Conflict(f"A pipeline has at most {MAX_STAGES} stages", kind="too-many-stages")
        at = _position(position, len(stages) + 1)
        await store.insert_stages(unit, pipeline_id, [spec.row()], first_position=len(stages) + 1)
        order = [uuid.UUID(s["id"]) for s in stages]
        order.insert(at - 1, spec.id)
        await store.set_positions(unit, pipeline_id, order)
        return await _changed(unit, access, pipeline_id)
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == _STAGE_NAME:
            raise _name_taken(spec.name) from None
        raise


def _position(position: int | None, last: int) -> int:
    if position is None:
        return last
    if not 1 <= position <= last:
        raise ValidationProblem.one("position", f"must be between 1 and {last}", "out_of_range")
    return position


async def _changed(unit: Unit, access: RecordAccess, pipeline_id: uuid.UUID) -> asyncpg.Record:
    await store.touch(unit, pipeline_id, access.user_id)
    pipeline = await store.get(unit, pipeline_id)
    await _emit(unit, access, "updated", pipeline)
    return pipeline


async def _in_use(unit: Unit, stage: Mapping[str, Any], doing: str) -> None:
    live, deleted = await store.stage_opportunity_count(unit, uuid.UUID(stage["id"]))
    if live or deleted:
        count = live + deleted
        detail = f"{live} opportunit{'y is' if live == 1 else 'ies are'} in stage '{stage['name']}'"
        if deleted:
            detail += f", and {deleted} deleted one{'' if deleted == 1 else 's'} until purged"
        raise Conflict(f"Cannot {doing}: {detail}; move them to another stage first", kind="stage-in-use",
                       extra={"opportunities": count, "live": live, "deleted": deleted})


async def update_stage(
    unit: Unit, access: RecordAccess, pipeline_id: uuid.UUID, stage_id: uuid.UUID, *,
    changes: Mapping[str, Any], expected_version: int | None,
) -> asyncpg.Record:
    """Rename, re-probability, re-kind (only when empty), change required fields, or move
    (``position``) one stage."""
    changes = dict(changes)
    errors: list[FieldError] = []
    if "required_fields" in changes:
        errors += required_field_errors(changes["required_fields"], "required_fields")
    if "name" in changes:
        try:
            changes["name"] = clean_name(changes["name"])
        except ValidationProblem as problem:
            errors += problem.errors or []
    if errors:
        raise ValidationProblem(errors)
    await check_custom_required(unit, {"required_fields": changes.get("required_fields", [])})
    try:
        await ensure_default(unit, access)
        pipeline = await _locked(unit, pipeline_id, expected_version)
        stage = stage_of(pipeline, stage_id)
        if stage is None:
            raise missing_stage(stage_id)
        position = changes.pop("position", None)
        columns = {k: v for k, v in changes.items() if v != stage[k]}
        if "kind" in columns:
            await _in_use(unit, stage, f"change the kind of stage '{stage['name']}'")
        if "required_fields" in columns:
            columns["required_fields"] = list(columns["required_fields"])
        moved = position is not None and position != stage["position"]
        if not columns and not moved:
            return pipeline
        if columns:
            await store.update_stage(unit, stage_id, columns)
        if moved:
            order = [uuid.UUID(s["id"]) for s in pipeline["stages"] if s["id"] != stage["id"]]
            order.insert(_position(position, len(pipeline["stages"])) - 1, stage_id)
            await store.set_positions(unit, pipeline_id, order)
        return await _changed(unit, access, pipeline_id)
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == _STAGE_NAME:
            raise _name_taken(str(changes.get("name"))) from None
        raise


async def reorder_stages(
    unit: Unit, access: RecordAccess, pipeline_id: uuid.UUID, *, stage_ids: Sequence[uuid.UUID],
    expected_version: int | None,
) -> asyncpg.Record:
    """Put every stage of the pipeline in the given order (the list names each stage once)."""
    await ensure_default(unit, access)
    pipeline = await _locked(unit, pipeline_id, expected_version)
    current = {s["id"] for s in pipeline["stages"]}
    given = [str(s) for s in stage_ids]
    if len(set(given)) != len(given) or set(given) != current:
        unknown = [s for s in given if s not in current]
        left_out = sorted(current - set(given))
        parts = []
        if unknown:
            parts.append(f"not stages of this pipeline: {', '.join(unknown)}")
        if left_out:
            parts.append(f"missing: {', '.join(left_out)}")
        if len(set(given)) != len(given):
            parts.append("a stage is listed twice")
        raise ValidationProblem.one("stage_ids", "must list every stage of the pipeline once (" + "; ".join(parts)
                                    + ")", "not_a_permutation")
    await store.set_positions(unit, pipeline_id, list(stage_ids))
    return await _changed(unit, access, pipeline_id)


async def delete_stage(
    unit: Unit, access: RecordAccess, pipeline_id: uuid.UUID, stage_id: uuid.UUID, *,
    expected_version: int | None,
) -> asyncpg.Record:
    await ensure_default(unit, access)
    pipeline = await _locked(unit, pipeline_id, expected_version)
    stage = stage_of(pipeline, stage_id)
    if stage is None:
        raise missing_stage(stage_id)
    if len(pipeline["stages"]) == 1:
        raise Conflict("A pipeline keeps at least one stage; delete the pipeline instead", kind="last-stage")
    await _in_use(unit, stage, f"delete stage '{stage['name']}'")
    await store.delete_stage(unit, stage_id)
    await store.set_positions(unit, pipeline_id, [uuid.UUID(s["id"]) for s in pipeline["stages"]
                                                  if s["id"] != stage["id"]])
    return await _changed(unit, access, pipeline_id)
