"""Approval templates that request themselves (``ApprovalTrigger``: 审批模板的触发条件).

In the trigger consumer's unit of work (``triggers.py``), a change of a record of the template's
entity, of its action (``created``, ``updated`` with one of the named ``fields`` changed, or
``transferred``: a transfer, a claim from the pool or a return to it) and meeting the template's
condition plans a timer of kind ``approval_start`` keyed by template and event: a redelivered event
plans nothing new. The engine fires it (``request``): the request is made as by hand, for the user
whose change it was (else the record's owner), with the template author's rights locking the
record's guarded fields. Records being down leaves the timer to be fired again; a request that
cannot be made (one already pending, no approver, the condition no longer met) is logged and dropped.

Changes made by workflows, approvals or the system itself never request approvals: a user's or a
program's (API key) change does.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from services.workflows.db import approvals as store
from services.workflows.db import timers
from services.workflows.domain.approval_templates import trigger_of
from services.workflows.domain.approvals import Submission, responsible_submitter, submit
from services.workflows.domain.conditions import Activation, ConditionError, compiled
from services.workflows.records_client import RecordsClient, RecordsUnavailable
from shared.db import ServiceDatabase, Unit
from shared.errors import Problem
from shared.events.envelope import Event
from shared.tenancy import scope_for_system

log = logging.getLogger(__name__)
TIMER_KIND = "approval_start"
AUTOMATED = frozenset({"workflow", "system"})


def may_request(event: Event, action: str | None) -> bool:
    """Whether a change of this kind may request an approval at all (a person's create, update or transfer)."""
    return event.actor.kind not in AUTOMATED and action in ("created", "updated", "transferred")


async def templates_of(unit: Unit, entity: str) -> list[Any]:
    """The enabled templates of ``entity`` a record change requests by itself."""
    return list(await store.triggered_templates(unit, entity))


async def on_record_event(unit: Unit, event: Event, action: str | None, context: dict[str, Any],
                          activation: Activation, *, templates: list[Any] | None = None) -> None:
    """Plan the requests this record change makes (see the module's note); ``templates``: the
    entity's (``templates_of``), when the caller read them already."""
    if not may_request(event, action):
        return
    if templates is None:
        templates = await templates_of(unit, event.entity)
    changes = (event.data or {}).get("changes") or {}
    for row in templates:
        trigger = trigger_of(row["trigger"])
        if trigger is None or trigger.action != action or event.occurred_at < row["updated_at"]:
            continue
        if trigger.fields and not any(f in changes or any(c.startswith(f + ".") for c in changes)
                                      for f in trigger.fields):
            continue
        if row["condition"]:
            try:
                if not compiled(row["condition"]).holds(activation):
                    continue
            except ConditionError as exc:
                log.info("workflows: approval template %s: its condition cannot be checked on %s %s: %s",
                         row["id"], event.entity, event.entity_id, exc)
                continue
        submitter = responsible_submitter(context["record"], context["actor"], event.entity, row["created_by"])
        await timers.plan(unit, key=f"{TIMER_KIND}:{row['id']}:{event.id}", timer_kind=TIMER_KIND,
                          due_at=datetime.now(UTC), record_type=event.entity, record_id=uuid.UUID(event.entity_id),
                          payload={"template_id": str(row["id"]), "record": context["record"],
                                   "submitted_by": str(submitter), "rights_of": str(row["created_by"])})


async def request(db: ServiceDatabase, client: RecordsClient, tenant_id: uuid.UUID, timer: Any) -> None:
    """Make the request a planned ``approval_start`` timer stands for, then drop the timer."""
    payload = timer["payload"] or {}
    scope = scope_for_system(tenant_id)
    submission = Submission(
        template_id=uuid.UUID(payload["template_id"]), entity=timer["record_type"], record_id=timer["record_id"],
        record=payload.get("record") or {}, submitted_by=uuid.UUID(payload["submitted_by"]),
        rights_of=uuid.UUID(payload["rights_of"]))
    try:
        await submit(db, scope, client, submission)
    except Problem as exc:
        if exc.status_code == 503:
            raise RecordsUnavailable(str(exc)) from None  # the engine fires the timer again later
        log.info("workflows: approval template %s not requested for %s %s: %s", payload["template_id"],
                 timer["record_type"], timer["record_id"], exc)
    async with db.tenant_unit(scope) as unit:
        await timers.remove(unit, timer["id"])
