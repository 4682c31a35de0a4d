"""Runs: a workflow's runs, one run with its steps, start by hand, retry, cancel, dry run."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from litestar import Controller, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from services.workflows.db import runs as store
from services.workflows.domain import runs as domain
from services.workflows.records_client import RecordsClient
from shared.http import AnyRequest, PrincipalDep, RuntimeDep
from shared.pagination import Page, check_limit, page_of, time_cursor
from shared.validation import check_query

# Binds this list's cursors (one of another list is refused).
LIST = "workflow-runs"

SERVICE = "workflows"
RUN_STATUSES = ("pending", "running", "waiting", "succeeded", "failed", "cancelled", "skipped")


def _client(runtime: RuntimeDep) -> RecordsClient:
    assert runtime.bus is not None
    return RecordsClient(runtime.bus.nc)


class WorkflowRunsController(Controller):
    path = "/workflows/{workflow_id:uuid}"
    tags = ["workflows"]

    @get("/runs")
    async def list_workflow_runs(self, workflow_id: FromPath[uuid.UUID], principal: PrincipalDep, request: AnyRequest,
                                 runtime: RuntimeDep, status: FromQuery[str | None] = None,
                                 limit: FromQuery[int | None] = None,
                                 cursor: FromQuery[str | None] = None) -> Page[domain.RunOut]:
        """The workflow's runs, newest first (``status`` filters: pending, running, waiting, succeeded,
        failed, cancelled, skipped). ``GET /workflow-runs/{id}`` gives one with its steps."""
        check_query(request)
        principal.require("workflow", "read")
        if status is not None and status not in RUN_STATUSES:
            from shared.errors import ValidationProblem

            raise ValidationProblem.one("status", f"must be one of {', '.join(RUN_STATUSES)}")
        size = check_limit(limit)
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            rows = await store.page(unit, workflow_id=workflow_id, after=time_cursor(cursor, bind=LIST), limit=size,
                                    status=status)
        return page_of([domain.run_out(r) for r in rows], size, _cursor_key, bind=LIST)

    @post("/runs", status_code=201)
    async def start_workflow_run(self, workflow_id: FromPath[uuid.UUID], data: JSONBody[domain.RunRequest],
                                 principal: PrincipalDep, request: AnyRequest,
                                 runtime: RuntimeDep) -> domain.RunOut:
        """Start the workflow by hand (it needs a ``manual`` trigger) on ``record`` ``{type, id}``, which
        the caller must be able to read. ``Idempotency-Key`` makes a repeat answer the same run."""
        principal.require("workflow", "update")
        record = {}
        if data.record is not None:
            record = await domain.fetch_record(_client(runtime), principal, workflow_id, data.record)
        key = "manual:" + (request.headers.get("idempotency-key") or str(uuid.uuid4()))[:200]
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            return await domain.start_by_hand(unit, principal, workflow_id, data.record, record, key)

    @post("/dry-run", status_code=200)
    async def dry_run_workflow(self, workflow_id: FromPath[uuid.UUID], data: JSONBody[domain.RunRequest],
                               principal: PrincipalDep, runtime: RuntimeDep) -> domain.DryRunOut:
        """What each step would do for ``record`` now, without doing it (waits are not waited)."""
        principal.require("workflow", "read")
        record = {}
        if data.record is not None:
            record = await domain.fetch_record(_client(runtime), principal, workflow_id, data.record)
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            return await domain.dry_run(unit, principal, workflow_id, data.record, record, _client(runtime).nc)


class RunsController(Controller):
    path = "/workflow-runs/{run_id:uuid}"
    tags = ["workflows"]

    @get()
    async def get_workflow_run(self, run_id: FromPath[uuid.UUID], principal: PrincipalDep,
                               runtime: RuntimeDep) -> domain.RunOut:
        """One run: its trigger, record, status and every step's input, output, duration and error."""
        principal.require("workflow", "read")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            return await domain.read(unit, run_id)

    @post("/retry", status_code=200)
    async def retry_workflow_run(self, run_id: FromPath[uuid.UUID], principal: PrincipalDep,
                                 runtime: RuntimeDep) -> domain.RunOut:
        """Run a failed run again from its failed step."""
        principal.require("workflow", "update")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            return await domain.retry(unit, run_id)

    @post("/cancel", status_code=200)
    async def cancel_workflow_run(self, run_id: FromPath[uuid.UUID], principal: PrincipalDep,
                                  runtime: RuntimeDep) -> domain.RunOut:
        """Cancel a pending or waiting run: it does nothing more; an approval it waits on ends as
        ``cancelled`` and unlocks the record's fields (records unreachable: 503, nothing changed)."""
        principal.require("workflow", "update")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            return await domain.cancel(unit, run_id, _client(runtime), principal.user_id)


@post("/workflow-hooks/{workflow_id:uuid}", status_code=202, exclude_from_auth=True, tags=["workflows"],
      opt={"security_scheme": "webhook_secret"})
async def workflow_webhook(workflow_id: FromPath[uuid.UUID], request: AnyRequest, runtime: RuntimeDep,
                           data: JSONBody[dict[str, Any] | None] = None) -> domain.RunOut:
    """Start the workflow from another system: ``Authorization: Bearer <webhook secret>`` (given
    once, when the webhook trigger was saved); the JSON object sent is what conditions and steps
    see as ``record`` (no body: an empty one). A repeat with the same ``webhook-id`` or ``Idempotency-Key`` header answers
    the run the first one started."""
    secret = request.headers.get("authorization", "").removeprefix("Bearer ").strip() or None
    delivery = request.headers.get("webhook-id") or request.headers.get("idempotency-key") or str(uuid.uuid4())
    return await domain.start_from_webhook(runtime.db(SERVICE), workflow_id, secret, data or {},
                                           "webhook:" + delivery[:200])


def _cursor_key(out: domain.RunOut) -> list[datetime | uuid.UUID]:
    return [out.created_at, out.id]


__all__ = ["RunsController", "Response", "WorkflowRunsController"]
