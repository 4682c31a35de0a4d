"""``/api/v1/reports/...``: JSON reports over the records the caller may read (``report:read``).

See domain/reports.py for the figures and the scope each report applies.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from litestar import Controller, get
from litestar.params import FromQuery, QueryParameter

from services.records.api.common import AccessDep, RuntimeDep, records_unit
from services.records.api.schemas import (
    InteractionsReport,
    ObjectionResolutionReport,
    ObjectionsReport,
    PipelineValueReport,
    QuietCustomersReport,
    SatisfactionReport,
    answers,
)
from services.records.domain import reports as domain
from shared.pagination import check_limit

From = Annotated[date | None, QueryParameter(name="from", description="first day (YYYY-MM-DD), inclusive")]
To = Annotated[date | None, QueryParameter(name="to", description="last day (YYYY-MM-DD), inclusive")]


class ReportsController(Controller):
    path = "/reports"
    tags = ["reports"]

    @get("/objections", responses=answers(200, ObjectionsReport))
    async def objections(self, access: AccessDep, runtime: RuntimeDep, start: From = None,
                         end: To = None) -> dict[str, Any]:
        """Objections created between ``from`` and ``to`` (optional) per category and status, per
        category and overall: count, resolved, median and 90th percentile hours to resolve, and
        the share of resolved ones (with a due time) resolved within their SLA; ``by_sla_state``
        counts them per SLA state (workflows' clock: on_track, at_risk, breached, met; none yet)."""
        access.require("report", "read")
        domain.date_range(start, end, default_weeks=None)
        async with records_unit(runtime, access) as unit:
            return await domain.objections(unit, access, start=start, end=end)

    @get("/objection-resolution", responses=answers(200, ObjectionResolutionReport))
    async def objection_resolution(self, access: AccessDep, runtime: RuntimeDep, start: From = None,
                                   end: To = None) -> dict[str, Any]:
        """Objections resolved (or closed) per ISO week of their resolution, between ``from`` and
        ``to`` (default: the last 12 weeks; at most about two years): how many, the median hours
        from creation to resolution, and the share of those with a due time resolved within it.
        Weeks are the workspace's (records settings' ``time_zone``). A role that hides
        ``resolved_at`` gets 403; one that hides ``due_at`` gets no SLA figures."""
        access.require("report", "read")
        domain.date_range(start, end, default_weeks=domain.DEFAULT_WEEKS)  # a bad range is refused before any read
        async with records_unit(runtime, access) as unit:
            return await domain.objection_resolution(unit, access, start=start, end=end)

    @get("/interactions", responses=answers(200, InteractionsReport))
    async def interactions(self, access: AccessDep, runtime: RuntimeDep, start: From = None,
                           end: To = None) -> dict[str, Any]:
        """Interactions per ISO week (Monday first) per channel and per owner, between ``from``
        and ``to`` (default: the last 12 weeks; at most about two years). Days and weeks are the
        workspace's, in its records settings' ``time_zone`` (default Asia/Shanghai)."""
        access.require("report", "read")
        domain.date_range(start, end, default_weeks=domain.DEFAULT_WEEKS)  # a bad range is refused before any read
        async with records_unit(runtime, access) as unit:
            return await domain.interactions(unit, access, start=start, end=end)

    @get("/customers-without-interaction", responses=answers(200, QuietCustomersReport))
    async def customers_without_interaction(
        self, access: AccessDep, runtime: RuntimeDep,
        days: Annotated[int, QueryParameter(ge=1, le=3650, description="days without an interaction")] = 30,
        limit: FromQuery[int | None] = None,
    ) -> dict[str, Any]:
        """How many customers had no interaction in the last ``days`` days (customers never
        contacted count from their creation), and the first ``limit`` of them, longest
        unattended first."""
        access.require("report", "read")
        size = check_limit(limit)
        async with records_unit(runtime, access) as unit:
            return await domain.customers_without_interaction(unit, access, days=days, limit=size)

    @get("/pipeline-value", responses=answers(200, PipelineValueReport))
    async def pipeline_value(self, access: AccessDep, runtime: RuntimeDep,
                             pipeline_id: FromQuery[uuid.UUID | None] = None) -> dict[str, Any]:
        """Per stage of a pipeline (default: the default one), per currency: opportunities, the
        sum of their amounts and the probability-weighted sum; totals per currency."""
        access.require("report", "read")
        async with records_unit(runtime, access) as unit:
            return await domain.pipeline_value(unit, access, pipeline_id=pipeline_id)

    @get("/satisfaction", responses=answers(200, SatisfactionReport))
    async def satisfaction(self, access: AccessDep, runtime: RuntimeDep) -> dict[str, Any]:
        """Average satisfaction (1–5) of rated objections, overall and per category."""
        access.require("report", "read")
        async with records_unit(runtime, access) as unit:
            return await domain.satisfaction(unit, access)
