"""Which events make which notifications, for whom: one function per source event type.

Each returns ``Intent``s: a type, a recipient (a user of the event's tenant, or for an invitation
an address), the template's params, which record field each param comes from (so a field the
recipient's role hides is dropped, ``domain/notify.py``), a link to the record, and a group key
(intents with the same key for the same user within ``COLLAPSE_SECONDS`` collapse into one row).

Workflows' events (``crm.workflows.<tenant>.<entity>.<action>``), consumed as they land; the data
members read (a producer may send more):

| subject tail | data |
| --- | --- |
| ``reminder.due`` | ``user_id`` (or ``assignee_id``), ``record {type, id}``, ``title``, ``due_at`` |
| ``task.overdue`` | ``assignee_id`` (or ``user_id``), ``record``, ``title``, ``due_at`` |
| ``follow_up.due`` | ``user_id`` (or ``owner_id``), ``record``, ``customer_name`` |
| ``sla.warning`` / ``sla.breached`` | ``assignee_id``, ``head_id`` (breach: told too), ``record``, ``title``, ``due_at`` |
| ``sla.escalated`` | ``user_ids`` (the level's people), ``breached``, ``record``, ``title``, ``due_at`` |
| ``approval.requested`` / ``step_advanced`` / ``reminder`` | ``approvers``, ``approval_id``, ``name``, ``record`` |
| ``approval.escalated`` | ``user_ids`` (the level's people), ``approval_id``, ``name``, ``record`` |
| ``approval.decided`` | ``submitted_by``, ``approval_id``, ``name``, ``status`` (told when it is no longer pending), ``decision`` |
| ``notification.requested`` | ``users``, ``message``, ``record`` (a workflow's ``notify`` step) |
| ``digest.daily`` | ``user_id`` (or ``user_ids``): their held mail goes out as one digest |
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.events.envelope import Event

COLLAPSE_SECONDS = 300
_EXCERPT = 140


@dataclass
class Intent:
    type: str
    user_id: uuid.UUID | None
    params: dict[str, Any]
    fields: dict[str, tuple[str, str]] = field(default_factory=dict)  # param -> (entity, field)
    link: tuple[str, str] | None = None
    group_key: str | None = None
    address: str | None = None  # mail-only recipients (an invitation), or the reset's address
    locale: str | None = None
    sealed: dict[str, str] | None = None  # {"token_sealed", "context", "path"}: a link to open when mailing
    channels: tuple[str, ...] | None = None  # asked for by the source (a workflow's notify step)


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _uuids(*values: Any) -> list[uuid.UUID]:
    out: list[uuid.UUID] = []
    for value in values:
        items = value if isinstance(value, list) else [value]
        for item in items:
            if (u := _uuid(item)) is not None and u not in out:
                out.append(u)
    return out


def _actor_user(event: Event) -> uuid.UUID | None:
    return _uuid(event.actor.id) if event.actor.kind == "user" else None


def _excerpt(text: Any) -> str:
    value = " ".join(str(text or "").split())
    return value if len(value) <= _EXCERPT else value[: _EXCERPT - 1] + "…"


def _link(record: Any) -> tuple[str, str] | None:
    if isinstance(record, dict) and record.get("type") and record.get("id"):
        return str(record["type"]), str(record["id"])
    return None


# --- records -------------------------------------------------------------------------------------


def objection_assigned(event: Event) -> list[Intent]:
    record = event.data.get("record") or {}
    if event.action == "updated":
        change = (event.data.get("changes") or {}).get("assignee_id")
        if not change or not change.get("new"):
            return []
        assignee = _uuid(change["new"])
    else:
        assignee = _uuid(record.get("assignee_id"))
    if assignee is None or assignee == _actor_user(event):
        return []  # nobody to tell, or they assigned it to themselves
    params = {"category": record.get("category"), "severity": record.get("severity"),
              "description": _excerpt(record.get("description"))}
    fields = {k: ("objection", k) for k in params}
    return [Intent("objection.assigned", assignee, params, fields, ("objection", event.entity_id))]


def customer_transferred(event: Event) -> list[Intent]:
    record = event.data.get("record") or {}
    owner = _uuid(record.get("owner_id")) or _uuid(event.data.get("to_user_id"))
    if owner is None or owner == _actor_user(event):
        return []
    return [Intent("customer.transferred", owner, {"name": record.get("name")}, {"name": ("customer", "name")},
                   ("customer", event.entity_id), group_key=f"transferred:{event.actor.kind}:{event.actor.id}")]


def customer_returned(event: Event) -> list[Intent]:
    record = event.data.get("record") or {}
    previous = _uuid(event.data.get("previous_owner_id")) or _uuid(
        ((event.data.get("changes") or {}).get("owner_id") or {}).get("old"))
    if previous is None:
        return []
    return [Intent("customer.returned_to_pool", previous, {"name": record.get("name")},
                   {"name": ("customer", "name")}, ("customer", event.entity_id), group_key="returned")]


def pool_warning(event: Event) -> list[Intent]:
    owner = _uuid(event.data.get("owner_id"))
    if owner is None:
        return []
    params = {"name": event.data.get("name"), "return_at": str(event.data.get("due_at") or "")[:10]}
    return [Intent("customer.pool_warning", owner, params, {"name": ("customer", "name")},
                   ("customer", event.entity_id), group_key="pool_warning")]


def handover_completed(event: Event) -> list[Intent]:
    report = event.data.get("report") or {}
    params = {k: report.get(k, 0) for k in ("customers", "tasks", "objections")}
    return [Intent("handover.report", user, params, {}, ("handover", event.entity_id))
            for user in _uuids(event.data.get("to_user_id"), _actor_user(event))]


def mentioned(event: Event) -> list[Intent]:
    data = event.data
    field_name = str(data.get("field") or "")
    params = {"actor_name": data.get("actor_name") or "", "excerpt": data.get("excerpt"),
              "entity": {"interaction": "interaction", "objection": "objection"}.get(event.entity, event.entity),
              "entity_zh": {"interaction": "沟通记录", "objection": "客户异议"}.get(event.entity, event.entity)}
    return [Intent("mention", user, dict(params), {"excerpt": (event.entity, field_name)},
                   (event.entity, event.entity_id)) for user in _uuids(data.get("user_ids"))]


def import_ended(event: Event) -> list[Intent]:
    data = event.data
    kind = "import.finished" if event.action == "finished" else "import.failed"
    params = {"rows_done": data.get("rows_done", 0), "rows_failed": data.get("rows_failed", 0),
              "reason": data.get("error") or "", "entity": data.get("entity")}
    return [Intent(kind, user, params, link=("import", event.entity_id)) for user in _uuids(data.get("user_id"))]


def export_ready(event: Event) -> list[Intent]:
    data = event.data
    params = {"entity": data.get("entity"), "rows": data.get("rows", 0)}
    return [Intent("export.ready", user, params, link=("export", event.entity_id)) for user in _uuids(data.get("user_id"))]


# --- identity ------------------------------------------------------------------------------------


def password_reset(event: Event) -> list[Intent]:
    data = event.data
    if not data.get("token_sealed") or not data.get("email"):
        return []
    return [Intent("password.reset", _uuid(event.entity_id), {"expires_at": _minute(data.get("expires_at"))},
                   address=str(data["email"]), locale=data.get("locale"),
                   sealed={"token_sealed": data["token_sealed"], "entity": "user", "path": "/reset-password"})]


def invitation_created(event: Event) -> list[Intent]:
    data = event.data
    if not data.get("token_sealed") or not data.get("email"):
        return []
    return [Intent("invitation", None, {"inviter_name": data.get("inviter_name") or "",
                                        "expires_at": _minute(data.get("expires_at"))},
                   address=str(data["email"]),
                   sealed={"token_sealed": data["token_sealed"], "entity": "invitation", "path": "/accept-invitation"})]


def login_new_place(event: Event) -> list[Intent]:
    return [Intent("login.new_place", _uuid(event.entity_id), {"source_ip": event.data.get("source_ip")},
                   link=("session", str(event.data.get("session_id") or "")))]


def api_key_created(event: Event) -> list[Intent]:
    user = _uuid(event.data.get("user_id"))
    if user is None:
        return []
    return [Intent("api_key.created", user, {"name": event.data.get("name"), "prefix": event.data.get("prefix")},
                   link=("api_key", event.entity_id))]


def _minute(value: Any) -> str:
    text = str(value or "")
    return text[:16].replace("T", " ") + (" UTC" if text else "")


# --- workflows -----------------------------------------------------------------------------------


def _simple(type_key: str, who: Callable[[dict[str, Any]], list[uuid.UUID]],
            params: tuple[str, ...], entity: str | None = None) -> Callable[[Event], list[Intent]]:
    def make(event: Event) -> list[Intent]:
        data = event.data
        values = {p: data.get(p) for p in params}
        if "due_at" in values:
            values["due_at"] = _minute(values["due_at"])
        fields = {p: (entity, p) for p in params if entity and p != "due_at"}
        link = _link(data.get("record"))
        return [Intent(type_key, user, dict(values), fields, link) for user in who(data)]
    return make


def _sla_breached(event: Event) -> list[Intent]:
    make = _simple("objection.sla_breached", lambda d: _uuids(d.get("assignee_id"), d.get("head_id")),
                   ("title", "due_at"))
    return make(event)


def _sla_escalated(event: Event) -> list[Intent]:
    """An escalation level: its people, told as of a breach once the due time passed, else a warning."""
    kind = "objection.sla_breached" if event.data.get("breached") else "objection.sla_warning"
    return _simple(kind, lambda d: _uuids(d.get("user_ids")), ("title", "due_at"))(event)


def _approval_decided(event: Event) -> list[Intent]:
    data = event.data
    status = str(data.get("status") or "")
    if status == "pending":
        return []  # one approval of a 会签 step, or a step passed: the request goes on
    outcome = status or str(data.get("decision") or "")
    zh = {"approved": "批准", "approve": "批准", "rejected": "拒绝", "reject": "拒绝", "returned": "退回",
          "return": "退回", "recalled": "撤回", "cancelled": "取消"}
    params = {"title": data.get("name") or data.get("title"), "decision": outcome, "decision_zh": zh.get(outcome, outcome)}
    link = _link(data.get("record")) or ("approval", str(data.get("approval_id") or event.entity_id))
    return [Intent("approval.decided", user, params, link=link)
            for user in _uuids(data.get("submitted_by") or data.get("requester_id"))]


def _approval_requested(event: Event) -> list[Intent]:
    """``approval.requested`` / ``step_advanced`` / ``reminder``: the approvers named (``approvers``)."""
    data = event.data
    params = {"title": data.get("name") or data.get("title")}
    link = _link(data.get("record")) or ("approval", str(data.get("approval_id") or event.entity_id))
    return [Intent("approval.requested", user, dict(params), link=link)
            for user in _uuids(data.get("approvers"), data.get("approver_ids"), data.get("user_ids"))]


def _workflow_message(event: Event) -> list[Intent]:
    """A workflow's ``notify`` step (``notification.requested``): its message to ``users``."""
    data = event.data
    params = {"message": _excerpt(data.get("message"))}
    asked = tuple(c for c in (data.get("channels") or []) if c in ("in_app", "email")) or None
    return [Intent("workflow.message", user, dict(params), link=_link(data.get("record")), channels=asked)
            for user in _uuids(data.get("users"))]


# (service, entity, action) -> intents; digest.daily is handled apart (it sends held mail).
HANDLERS: dict[tuple[str, str, str], Callable[[Event], list[Intent]]] = {
    ("records", "objection", "created"): objection_assigned,
    ("records", "objection", "updated"): objection_assigned,
    ("records", "customer", "transferred"): customer_transferred,
    ("records", "customer", "returned_to_pool"): customer_returned,
    ("records", "customer", "pool_warning"): pool_warning,
    ("records", "handover", "completed"): handover_completed,
    ("records", "interaction", "mentioned"): mentioned,
    ("records", "objection", "mentioned"): mentioned,
    ("records", "import", "finished"): import_ended,
    ("records", "import", "failed"): import_ended,
    ("records", "export", "ready"): export_ready,
    ("identity", "user", "password_reset_requested"): password_reset,
    ("identity", "invitation", "created"): invitation_created,
    ("identity", "user", "login_from_new_place"): login_new_place,
    ("identity", "api_key", "created"): api_key_created,
    ("workflows", "reminder", "due"): _simple("task.reminder_due", lambda d: _uuids(d.get("user_id") or d.get("assignee_id")),
                                             ("title", "due_at"), "task"),
    ("workflows", "task", "overdue"): _simple("task.overdue", lambda d: _uuids(d.get("assignee_id") or d.get("user_id")),
                                             ("title", "due_at"), "task"),
    ("workflows", "follow_up", "due"): _simple("follow_up.due", lambda d: _uuids(d.get("user_id") or d.get("owner_id")),
                                              ("customer_name",)),
    ("workflows", "sla", "warning"): _simple("objection.sla_warning", lambda d: _uuids(d.get("assignee_id")),
                                            ("title", "due_at")),
    ("workflows", "sla", "breached"): _sla_breached,
    ("workflows", "sla", "escalated"): _sla_escalated,
    ("workflows", "approval", "requested"): _approval_requested,
    ("workflows", "approval", "decided"): _approval_decided,
    ("workflows", "approval", "step_advanced"): _approval_requested,
    ("workflows", "approval", "reminder"): _approval_requested,
    ("workflows", "approval", "escalated"): _approval_requested,
    ("workflows", "notification", "requested"): _workflow_message,
}


def subjects(service: str) -> list[str]:
    """The subjects of ``service``'s stream a consumer reads."""
    wanted = [f"crm.{service}.*.{entity}.{action}" for (svc, entity, action) in HANDLERS if svc == service]
    if service == "workflows":
        wanted.append("crm.workflows.*.digest.daily")
    return wanted
