"""/api/v1/approval-templates (审批模板) and /api/v1/approvals (审批): templates are managed with the
``workflow`` permissions; requests are made by anyone who can read the record, decided by their
approvers and recalled by their submitter (domain/approvals.py has the rules)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from litestar import Controller, Response, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from services.workflows.db import approvals as store
from services.workflows.domain import approval_templates as templates
from services.workflows.domain import approvals as domain
from services.workflows.domain.runs import RecordRef as RunRecordRef
from services.workflows.domain.runs import fetch_record
from services.workflows.records_client import RecordsClient
from shared.errors import Forbidden
from shared.http import AnyRequest, PrincipalDep, RuntimeDep
from shared.http.conditional import expected_version, with_etag
from shared.pagination import Page, check_limit, page_of, time_cursor
from shared.validation import check_query

SERVICE = "workflows"
STATUSES = Literal["pending", "approved", "rejected", "returned", "recalled", "cancelled"]


def _client(runtime: RuntimeDep) -> RecordsClient:
    assert runtime.bus is not None
    return RecordsClient(runtime.bus.nc)


class ApprovalTemplatesController(Controller):
    path = "/approval-templates"
    tags = ["approvals"]

    @post(status_code=201)
    async def create_approval_template(self, data: JSONBody[templates.TemplateCreate], principal: PrincipalDep,
                                       runtime: RuntimeDep) -> Response[templates.TemplateOut]:
        """A template: the ``entity`` it applies to, an optional CEL ``condition``, the
        ``guarded_fields`` locked while a request is pending, and ordered ``steps`` (approvers:
        ``users``, ``role``, ``manager``, ``department_head``, ``levels_up``; ``mode`` any (或签) or
        all (会签); an optional ``sla``). Every problem is named at its place; nothing is saved then."""
        principal.require("workflow", "create")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            out = await templates.create(unit, principal, data)
        return with_etag(out, out.version, status_code=201)

    @get()
    async def list_approval_templates(self, principal: PrincipalDep, request: AnyRequest, runtime: RuntimeDep,
                                      limit: FromQuery[int | None] = None,
                                      cursor: FromQuery[str | None] = None) -> Page[templates.TemplateOut]:
        """The tenant's approval templates, newest first. Anyone may read them (to request one)."""
        check_query(request)
        size = check_limit(limit)
        after = time_cursor(cursor, bind="approval-templates")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            rows = await store.page_templates(unit, after=after, limit=size)
        return page_of([templates.template_out(r) for r in rows], size, _template_key, bind="approval-templates")

    @get("/{template_id:uuid}")
    async def get_approval_template(self, template_id: FromPath[uuid.UUID], principal: PrincipalDep,
                                    runtime: RuntimeDep) -> Response[templates.TemplateOut]:
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            out = await templates.get(unit, template_id)
        return with_etag(out, out.version)

    @patch("/{template_id:uuid}")
    async def update_approval_template(self, template_id: FromPath[uuid.UUID],
                                       data: JSONBody[templates.TemplatePatch], principal: PrincipalDep,
                                       request: AnyRequest, runtime: RuntimeDep) -> Response[templates.TemplateOut]:
        """Change what is sent (requests already made keep their steps). ``If-Match``: 412 when stale."""
        principal.require("workflow", "update")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            out = await templates.update(unit, template_id, data, expected_version(request))
        return with_etag(out, out.version)

    @delete("/{template_id:uuid}", status_code=204)
    async def delete_approval_template(self, template_id: FromPath[uuid.UUID], principal: PrincipalDep,
                                       runtime: RuntimeDep) -> None:
        """No new requests from it; pending ones go on."""
        principal.require("workflow", "delete")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            await templates.delete(unit, template_id)


class ApprovalsController(Controller):
    path = "/approvals"
    tags = ["approvals"]

    @post(status_code=201)
    async def request_approval(self, data: JSONBody[domain.ApprovalCreate], principal: PrincipalDep,
                               runtime: RuntimeDep) -> Response[domain.ApprovalOut]:
        """Ask for an approval of a record you can read; its guarded fields are locked until it ends."""
        client = _client(runtime)
        ref = RunRecordRef(data.record.type, data.record.id)
        record = await fetch_record(client, principal, data.template_id, ref)  # 404 unless the caller may read it
        out = await domain.submit(runtime.db(SERVICE), principal.scope, client, domain.Submission(
            template_id=data.template_id, entity=data.record.type, record_id=data.record.id, record=record,
            submitted_by=principal.user_id, rights_of=principal.user_id))
        return with_etag(out, out.version, status_code=201)

    @get()
    async def list_approvals(
        self, principal: PrincipalDep, request: AnyRequest, runtime: RuntimeDep,
        assigned_to: FromQuery[Literal["me"] | None] = None, submitted_by: FromQuery[Literal["me"] | None] = None,
        status: FromQuery[STATUSES | None] = None, limit: FromQuery[int | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> Page[domain.ApprovalOut]:
        """``assigned_to=me``: pending approvals whose current step waits for the caller;
        ``submitted_by=me``: the caller's requests; ``status`` filters. Without either ``me`` filter,
        every approval of the tenant, for those who may read workflows. Newest first."""
        check_query(request)
        if assigned_to is None and submitted_by is None and not principal.can("workflow", "read"):
            raise Forbidden("List your own approvals with assigned_to=me or submitted_by=me",
                            kind="forbidden")
        size = check_limit(limit)
        after = time_cursor(cursor, bind="approvals")
        me = principal.user_id
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            items = await domain.page(unit, assigned_to=me if assigned_to else None,
                                      submitted_by=me if submitted_by else None, status=status, after=after,
                                      limit=size)
        return page_of(items, size, _approval_key, bind="approvals")

    @get("/{approval_id:uuid}")
    async def get_approval(self, approval_id: FromPath[uuid.UUID], principal: PrincipalDep,
                           runtime: RuntimeDep) -> Response[domain.ApprovalOut]:
        """The approval with its approvers and every decision (404 unless you submitted it, approve
        it, or may read workflows)."""
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            out = await domain.read_for(unit, principal, approval_id)
        return with_etag(out, out.version)

    @post("/{approval_id:uuid}/decisions", status_code=200)
    async def decide_approval(self, approval_id: FromPath[uuid.UUID], data: JSONBody[domain.DecisionIn],
                              principal: PrincipalDep, runtime: RuntimeDep) -> Response[domain.ApprovalOut]:
        """approve, reject (comment required), return to the submitter (comment required), transfer
        your place to ``user_id``, or add ``user_id`` as an approver of the step. 403 when you are not
        an undecided approver of the current step; 409 when you decided already or it is finished."""
        out = await domain.decide(runtime.db(SERVICE), _client(runtime), principal, approval_id, data)
        return with_etag(out, out.version)

    @post("/{approval_id:uuid}/recall", status_code=200)
    async def recall_approval(self, approval_id: FromPath[uuid.UUID], principal: PrincipalDep,
                              runtime: RuntimeDep) -> Response[domain.ApprovalOut]:
        """The submitter takes a pending request back (撤回); its fields are unlocked."""
        out = await domain.recall(runtime.db(SERVICE), _client(runtime), principal, approval_id)
        return with_etag(out, out.version)


def _template_key(out: templates.TemplateOut) -> list[datetime | uuid.UUID]:
    return [out.created_at, out.id]


def _approval_key(out: domain.ApprovalOut) -> list[datetime | uuid.UUID]:
    return [out.created_at, out.id]
