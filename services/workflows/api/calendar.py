"""/api/v1/business-calendar: working hours, time zone, China's holidays and the tenant's own days."""

from __future__ import annotations

from datetime import datetime, timezone

from litestar import Controller, Response, get, put
from litestar.params import JSONBody

from services.workflows import timekeeping
from services.workflows.domain import calendar_settings as domain
from shared.http import AnyRequest, PrincipalDep, RuntimeDep
from shared.http.conditional import expected_version, with_etag

SERVICE = "workflows"


class BusinessCalendarController(Controller):
    path = "/business-calendar"
    tags = ["workflows"]

    @get()
    async def get_business_calendar(self, principal: PrincipalDep, runtime: RuntimeDep) -> Response[domain.CalendarOut]:
        """The calendar business time is counted on (SLA, "due in N business hours"), and China's
        days off and make-up working days (调休) of this year and the next."""
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            out = await domain.read(unit, datetime.now(timezone.utc).date())
        return with_etag(out, out.version)

    @put()
    async def put_business_calendar(self, data: JSONBody[domain.CalendarIn], principal: PrincipalDep,
                                    request: AnyRequest, runtime: RuntimeDep) -> Response[domain.CalendarOut]:
        """Replace the calendar. ``closed_days`` and ``extra_working_days`` override China's
        calendar (a year the holidays package does not know yet, a company's own closures);
        ``digest_at`` (default 08:30) is when each user's daily digest goes out on working days."""
        principal.require("workflow", "update")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            now = datetime.now(timezone.utc)
            out = await domain.save(unit, principal, data, expected_version(request), now.date())
            await timekeeping.ensure_digest(unit, now, replan=True)   # the hour or the working days moved
        return with_etag(out, out.version)
