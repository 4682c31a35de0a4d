"""Duplicates: check a candidate without saving, the tenant's duplicate rules, background scans.

* ``POST /api/v1/duplicates/check`` ``{"entity": "customer"|"contact", "record": {...},
  "exclude_id"?}`` answers ``{"duplicates": [...], "blocked": bool}`` (needs ``<entity>:read``);
* ``GET|PATCH /api/v1/duplicate-rules`` (PATCH needs ``tenant:update``, honours If-Match; every
  change is a new version);
* ``POST /api/v1/duplicate-scans`` (needs ``customer:merge``) answers 202 ``{"id", "status"}``;
  ``GET /api/v1/duplicate-scans/{id}`` its progress (``total``, ``done``) and, when done, ``groups``.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Controller, Response, get, patch, post
from litestar.params import FromPath, JSONBody

from services.records.api.common import AccessDep, AnyRequest, RuntimeDep, records_unit, with_etag
from services.records.api.schemas import DuplicateOut, DuplicateRulesOut, DuplicateScanOut, answers
from services.records.domain import duplicates as domain
from services.records.domain import scans
from services.records.domain import settings as settings_domain
from shared.errors import ValidationProblem
from shared.http.conditional import expected_version


class CheckBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    entity: str = "customer"
    record: dict[str, Any]
    exclude_id: uuid.UUID | None = None


class DuplicateCheckOut(msgspec.Struct, kw_only=True):
    duplicates: list[DuplicateOut]
    blocked: bool  # creating the candidate would answer 409


class DuplicatesController(Controller):
    path = "/"
    tags = ["duplicates"]

    @post("/duplicates/check", status_code=200, responses=answers(200, DuplicateCheckOut))
    async def check(self, data: JSONBody[CheckBody], access: AccessDep, runtime: RuntimeDep) -> dict[str, Any]:
        """The stored records a candidate (``name``, ``aliases``, ``phone``/``phones``,
        ``email``/``emails``, ``uscc``) would duplicate, soft-deleted and merged ones included;
        ``blocked`` tells whether creating it would answer 409. Nothing is saved. Fields hidden
        from the caller are not matched on (a match would tell whose the hidden value is)."""
        body = data
        if body.entity not in domain.ENTITIES:
            raise ValidationProblem.one("entity", f"must be one of {', '.join(domain.ENTITIES)}", "invalid")
        access.require(body.entity, "read")
        async with records_unit(runtime, access) as unit:
            cfg = await settings_domain.get(unit)
            rule_set = await domain.rules(unit)
            found = await domain.find_duplicates(unit, body.entity, domain.matchable(access, body.entity, body.record),
                                                 exclude=[body.exclude_id] if body.exclude_id else [],
                                                 region=cfg.default_region,
                                                 rule_set=domain.resolved(rule_set, cfg.duplicate_rule))
        return {"duplicates": domain.out(access, found),
                "blocked": domain.blocking(found, rule_set, cfg.duplicate_rule)}

    @get("/duplicate-rules", responses=answers(200, DuplicateRulesOut))
    async def get_rules(self, access: AccessDep, runtime: RuntimeDep) -> Response[dict[str, Any]]:
        """The duplicate rules in force (any signed-in user: forms warn with them)."""
        async with records_unit(runtime, access) as unit:
            cfg = await settings_domain.get(unit)
            current = await domain.rules(unit)
        return with_etag(domain.rules_out(current, cfg), current.version)

    @patch("/duplicate-rules", responses=answers(200, DuplicateRulesOut))
    async def patch_rules(
        self, data: JSONBody[domain.RulesPatch], access: AccessDep, request: AnyRequest, runtime: RuntimeDep
    ) -> Response[dict[str, Any]]:
        """Per rule (``phone``, ``email``, ``uscc``, ``name``): ``block``, ``warn`` or ``off``
        (null for an exact rule: follow the records settings' ``duplicate_rule``), and
        ``name_threshold`` (0.1-1.0 trigram similarity). Needs ``tenant:update``."""
        access.require("tenant", "update")
        body = data
        version = expected_version(request)
        async with records_unit(runtime, access) as unit:
            current = await domain.change_rules(unit, body, user_id=access.user_id, expected_version=version)
            cfg = await settings_domain.get(unit)
            answer = domain.rules_out(current, cfg)
            await unit.emit("duplicate_rules", "updated", access.tenant_id, actor=access.actor,
                            version=current.version, data={"rules": answer})
        return with_etag(answer, current.version)

    @post("/duplicate-scans", status_code=202)
    async def start_scan(self, access: AccessDep, runtime: RuntimeDep) -> DuplicateScanOut:
        """Find groups of duplicate customers across the workspace, in the background."""
        access.require("customer", "merge")
        async with records_unit(runtime, access) as unit:
            row = await scans.queue(unit, access.user_id)
        scans.kick(access.tenant_id, row["id"])
        return msgspec.convert(scans.out(row), DuplicateScanOut, strict=False)

    @get("/duplicate-scans/{scan_id:uuid}")
    async def get_scan(self, scan_id: FromPath[uuid.UUID], access: AccessDep,
                       runtime: RuntimeDep) -> DuplicateScanOut:
        access.require("customer", "merge")
        async with records_unit(runtime, access) as unit:
            return msgspec.convert(scans.out(await scans.get(unit, scan_id)), DuplicateScanOut, strict=False)
