"""Pipelines and their stages: ``/api/v1/pipelines``.

Reading pipelines needs ``pipeline:read`` or ``opportunity:read`` (whoever works opportunities
must see the stages); changing them needs ``pipeline`` create/update/delete. A stage change
answers the whole pipeline, whose version (ETag) every stage change bumps.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Response, delete, get, patch, post, put
from litestar.params import FromPath, FromQuery, JSONBody

from services.records.api.common import (
    AccessDep,
    AnyRequest,
    RuntimeDep,
    expected_version,
    idempotent,
    records_unit,
    with_etag,
)
from services.records.api.schemas import answers
from services.records.domain import pipelines as domain
from services.records.domain.access import RecordAccess
from shared.errors import Forbidden
from shared.pagination import Page, check_limit, page_of, time_cursor

# Binds this list's cursors (one of another list is refused).
LIST = "pipelines"

UNSET: Any = msgspec.UNSET
StageName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
PipelineName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Probability = Annotated[int, msgspec.Meta(ge=0, le=100)]
Kind = Literal["open", "won", "lost"]
FieldNames = Annotated[list[Annotated[str, msgspec.Meta(max_length=80)]], msgspec.Meta(max_length=50)]


class Body(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies."""


class StageIn(Body):
    name: StageName
    probability: Probability
    kind: Kind = "open"
    required_fields: FieldNames = msgspec.field(default_factory=list)


class PipelineCreate(Body):
    name: PipelineName
    stages: Annotated[list[StageIn], msgspec.Meta(min_length=1, max_length=domain.MAX_STAGES)]
    is_default: bool = False


class PipelinePatch(Body):
    name: PipelineName | msgspec.UnsetType = UNSET
    is_default: bool | msgspec.UnsetType = UNSET


class StageCreate(StageIn):
    position: Annotated[int, msgspec.Meta(ge=1, description="1-based; default: after the last stage")] | None = None


class StagePatch(Body):
    name: StageName | msgspec.UnsetType = UNSET
    probability: Probability | msgspec.UnsetType = UNSET
    kind: Kind | msgspec.UnsetType = UNSET
    required_fields: FieldNames | msgspec.UnsetType = UNSET
    position: Annotated[int, msgspec.Meta(ge=1)] | msgspec.UnsetType = UNSET


class StageOrder(Body):
    stage_ids: Annotated[list[uuid.UUID], msgspec.Meta(min_length=1, max_length=domain.MAX_STAGES)]


class StageOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    position: int
    probability: int
    kind: str
    required_fields: list[str]


class PipelineOut(msgspec.Struct):
    id: uuid.UUID
    version: int
    name: str
    is_default: bool
    stages: list[StageOut]
    created_at: datetime
    updated_at: datetime
    created_by: uuid.UUID | None
    updated_by: uuid.UUID | None


def pipeline_out(row: Any) -> PipelineOut:
    return msgspec.convert(domain.pipeline_answer(row), PipelineOut)


def _answer(row: Any, status_code: int = 200) -> Response[PipelineOut]:
    return with_etag(pipeline_out(row), row["version"], status_code)


def require_read(access: RecordAccess) -> None:
    if not (access.can("pipeline", "read") or access.can("opportunity", "read")):
        raise Forbidden("Your role does not allow reading pipelines (needs 'read' on 'pipeline' or 'opportunity')",
                        kind="permission-denied", extra={"entity": "pipeline", "action": "read"})


class PipelinesController(Controller):
    path = "/pipelines"
    tags = ["pipelines"]

    @get()
    async def list_pipelines(
        self, access: AccessDep, runtime: RuntimeDep,
        limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
    ) -> Page[PipelineOut]:
        """The tenant's pipelines, oldest first, each with its stages in order. The default
        pipeline "Sales" exists from the first call."""
        require_read(access)
        size = check_limit(limit)
        after = time_cursor(cursor, bind=LIST)
        async with records_unit(runtime, access) as unit:
            rows = await domain.list_pipelines(unit, access, after=after, limit=size)
        return page_of([pipeline_out(r) for r in rows], size, lambda p: [p.created_at, p.id], bind=LIST)

    @post(status_code=201, responses=answers(201, PipelineOut))
    async def create_pipeline(
        self, data: JSONBody[PipelineCreate], access: AccessDep, request: AnyRequest, runtime: RuntimeDep
    ) -> Response[Any]:
        """A pipeline with its stages in order: each ``{"name", "probability" (0–100), "kind"
        (open|won|lost), "required_fields" (opportunity fields, or custom_fields.<key>, that must
        be filled to enter it)}``. ``is_default: true`` makes it the tenant's default. Honours
        Idempotency-Key."""
        access.require("pipeline", "create")
        body = data
        stages = body.stages

        async def write(unit: Any) -> tuple[int, Any]:
            row = await domain.create_pipeline(unit, access, name=body.name, stages=stages,
                                               is_default=body.is_default)
            return 201, pipeline_out(row)

        return await idempotent(request, access, runtime, write)

    @get("/{pipeline_id:uuid}")
    async def get_pipeline(
        self, pipeline_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep
    ) -> Response[PipelineOut]:
        require_read(access)
        async with records_unit(runtime, access) as unit:
            return _answer(await domain.get_pipeline(unit, access, pipeline_id))

    @patch("/{pipeline_id:uuid}")
    async def update_pipeline(
        self, pipeline_id: FromPath[uuid.UUID], data: JSONBody[PipelinePatch], access: AccessDep,
        request: AnyRequest, runtime: RuntimeDep,
    ) -> Response[PipelineOut]:
        """Rename it or make it the default. Honours If-Match (412 when stale)."""
        access.require("pipeline", "update")
        body = data
        async with records_unit(runtime, access) as unit:
            row = await domain.update_pipeline(
                unit, access, pipeline_id, name=None if body.name is UNSET else body.name,
                is_default=None if body.is_default is UNSET else body.is_default,
                expected_version=expected_version(request),
            )
        return _answer(row)

    @delete("/{pipeline_id:uuid}", status_code=204)
    async def delete_pipeline(
        self, pipeline_id: FromPath[uuid.UUID], access: AccessDep, request: AnyRequest, runtime: RuntimeDep
    ) -> None:
        """Delete a pipeline that holds no opportunities and is not the default (else 409)."""
        access.require("pipeline", "delete")
        async with records_unit(runtime, access) as unit:
            await domain.delete_pipeline(unit, access, pipeline_id, expected_version=expected_version(request))

    @post("/{pipeline_id:uuid}/stages", status_code=201, responses=answers(201, PipelineOut))
    async def add_stage(
        self, pipeline_id: FromPath[uuid.UUID], data: JSONBody[StageCreate], access: AccessDep,
        request: AnyRequest, runtime: RuntimeDep,
    ) -> Response[Any]:
        """Add a stage at ``position`` (1-based, default last). Answers the pipeline. Honours
        If-Match and Idempotency-Key."""
        access.require("pipeline", "update")
        body = data
        spec = domain.stage_spec(body.name, body.probability, body.kind, body.required_fields, "")
        version = expected_version(request)

        async def write(unit: Any) -> tuple[int, Any]:
            row = await domain.add_stage(unit, access, pipeline_id, spec=spec, position=body.position,
                                         expected_version=version)
            return 201, pipeline_out(row)

        return await idempotent(request, access, runtime, write)

    @patch("/{pipeline_id:uuid}/stages/{stage_id:uuid}")
    async def update_stage(
        self, pipeline_id: FromPath[uuid.UUID], stage_id: FromPath[uuid.UUID], data: JSONBody[StagePatch],
        access: AccessDep, request: AnyRequest, runtime: RuntimeDep,
    ) -> Response[PipelineOut]:
        """Rename, change probability, required fields or position; ``kind`` only while the
        stage holds no opportunities (409). Answers the pipeline."""
        access.require("pipeline", "update")
        body = data
        changes = {k: v for k, v in msgspec.structs.asdict(body).items() if v is not UNSET}
        async with records_unit(runtime, access) as unit:
            row = await domain.update_stage(unit, access, pipeline_id, stage_id, changes=changes,
                                            expected_version=expected_version(request))
        return _answer(row)

    @put("/{pipeline_id:uuid}/stages/order")
    async def reorder_stages(
        self, pipeline_id: FromPath[uuid.UUID], data: JSONBody[StageOrder], access: AccessDep,
        request: AnyRequest, runtime: RuntimeDep,
    ) -> Response[PipelineOut]:
        """Reorder: ``stage_ids`` lists every stage of the pipeline once, in the new order."""
        access.require("pipeline", "update")
        body = data
        async with records_unit(runtime, access) as unit:
            row = await domain.reorder_stages(unit, access, pipeline_id, stage_ids=body.stage_ids,
                                              expected_version=expected_version(request))
        return _answer(row)

    @delete("/{pipeline_id:uuid}/stages/{stage_id:uuid}", status_code=200)
    async def delete_stage(
        self, pipeline_id: FromPath[uuid.UUID], stage_id: FromPath[uuid.UUID], access: AccessDep,
        request: AnyRequest, runtime: RuntimeDep,
    ) -> Response[PipelineOut]:
        """Delete a stage that holds no opportunities (409 naming how many otherwise). Answers
        the pipeline."""
        access.require("pipeline", "update")
        async with records_unit(runtime, access) as unit:
            row = await domain.delete_stage(unit, access, pipeline_id, stage_id,
                                            expected_version=expected_version(request))
        return _answer(row)
