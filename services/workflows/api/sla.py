"""/api/v1/sla-policy: the objection SLA targets per severity (and category), in business hours."""

from __future__ import annotations

import msgspec
from litestar import Controller, Response, get, put
from litestar.params import JSONBody

from services.workflows.db import sla as store
from services.workflows.domain import sla as domain
from shared.errors import PreconditionFailed
from shared.http import AnyRequest, PrincipalDep, RuntimeDep
from shared.http.conditional import expected_version, with_etag

SERVICE = "workflows"


class SlaPolicyController(Controller):
    path = "/sla-policy"
    tags = ["workflows"]

    @get()
    async def get_sla_policy(self, principal: PrincipalDep, runtime: RuntimeDep) -> Response[domain.SlaPolicyOut]:
        """The objection SLA: first-response and resolution targets per severity in business hours
        on the business calendar, overrides per category, and the share of a target at which an
        objection is at risk (a warning). Version 0 is the defaults (high 4 / 24 hours, medium
        8 / 40, low 16 / 80, critical 2 / 8; warning at 80 %; no reassignment on a breach)."""
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            out = domain.policy_out(await store.policy(unit))
        return with_etag(out, out.version)

    @put()
    async def put_sla_policy(self, data: JSONBody[domain.SlaPolicyIn], principal: PrincipalDep, request: AnyRequest,
                             runtime: RuntimeDep) -> Response[domain.SlaPolicyOut]:
        """Replace the policy (``If-Match`` for 412 on a stale version). It applies to objections
        created from now on and to those whose severity or category changes; other running clocks
        keep their plan."""
        principal.require("workflow", "update")
        expected = expected_version(request)
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            current = await store.policy(unit)
            if current is None and expected not in (None, 0):
                raise PreconditionFailed(f"The SLA policy is at version 0 (the defaults), not {expected}")
            row = await store.save_policy(
                unit, warning_share=data.warning_share, targets=msgspec.to_builtins(data.targets),
                categories=msgspec.to_builtins(data.categories), reassign_on_breach=data.reassign_on_breach,
                actor_id=principal.user_id,
                expected_version=expected)
            if row is None:
                raise PreconditionFailed(f"The SLA policy is at version {current['version'] if current else 0}, "
                                         f"not {expected}; read it again and retry")
            await unit.emit("sla_policy", "updated", unit.tenant_id, actor=principal.actor, version=row["version"])
            out = domain.policy_out(row)
        return with_etag(out, out.version)
