"""/api/v1/workflow-settings: the tenant's own bounds on its workflows."""

from __future__ import annotations

from litestar import Controller, Response, get, put
from litestar.params import JSONBody

from services.workflows.domain import settings as domain
from shared.http import AnyRequest, PrincipalDep, RuntimeDep
from shared.http.conditional import expected_version, with_etag

SERVICE = "workflows"


class WorkflowSettingsController(Controller):
    path = "/workflow-settings"
    tags = ["workflows"]

    @get()
    async def get_workflow_settings(self, principal: PrincipalDep,
                                    runtime: RuntimeDep) -> Response[domain.WorkflowSettingsOut]:
        """The tenant's bounds: ``max_runs_per_minute`` (runs started per minute from every trigger;
        default 6,000, so 100 record changes a second each starting a run pass). Version 0 is the defaults."""
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            out = await domain.read(unit)
        return with_etag(out, out.version)

    @put()
    async def put_workflow_settings(self, data: JSONBody[domain.WorkflowSettingsIn], principal: PrincipalDep,
                                    request: AnyRequest, runtime: RuntimeDep) -> Response[domain.WorkflowSettingsOut]:
        """Replace the settings (``If-Match`` for 412 on a stale version). Beyond the bound a run is
        recorded as ``skipped`` with the reason, and an inbound webhook answers 429."""
        principal.require("workflow", "update")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            out = await domain.save(unit, principal, data, expected_version(request))
        return with_etag(out, out.version)
