"""/api/v1/workflow-templates: ready workflows, listed and enabled in one call (domain/templates.py)."""

from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.params import FromPath, JSONBody

from services.workflows.domain import templates as domain
from services.workflows.domain.workflows import WorkflowOut
from shared.http import PrincipalDep, RuntimeDep
from shared.http.conditional import with_etag

SERVICE = "workflows"


class WorkflowTemplatesController(Controller):
    path = "/workflow-templates"
    tags = ["workflows"]

    @get()
    async def list_workflow_templates(self, principal: PrincipalDep) -> domain.TemplateList:
        """The ready workflows: key, name and description (zh-CN and en), and the parameters each
        needs (``needs``: required ones have no default)."""
        principal.require("workflow", "read")
        return domain.listed()

    @post("/{key:str}/enable", status_code=201)
    async def enable_workflow_template(self, key: FromPath[str], data: JSONBody[domain.TemplateEnable],
                                       principal: PrincipalDep, runtime: RuntimeDep) -> Response[WorkflowOut]:
        """Create a normal, editable workflow from the template with ``params``; the caller is its
        author. A missing or wrong parameter answers 422 naming ``params.<name>``."""
        principal.require("workflow", "create")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            out = await domain.enable(unit, principal, key, data)
        return with_etag(out, out.version, status_code=201)
