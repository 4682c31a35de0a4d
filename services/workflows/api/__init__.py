"""The workflows HTTP API: one router."""

from __future__ import annotations

from litestar import Router

from services.workflows.api.approvals import ApprovalsController, ApprovalTemplatesController
from services.workflows.api.calendar import BusinessCalendarController
from services.workflows.api.runs import RunsController, WorkflowRunsController, workflow_webhook
from services.workflows.api.settings import WorkflowSettingsController
from services.workflows.api.sla import SlaClockController, SlaPolicyController
from services.workflows.api.templates import WorkflowTemplatesController
from services.workflows.api.workflows import WorkflowsController
from shared.http.app import API_PREFIX


def router() -> Router:
    return Router(path=API_PREFIX, route_handlers=[WorkflowsController, WorkflowRunsController, RunsController,
                                                     BusinessCalendarController, SlaPolicyController, SlaClockController,
                                                     workflow_webhook,
                                                     ApprovalTemplatesController, ApprovalsController,
                                                     WorkflowTemplatesController, WorkflowSettingsController])
