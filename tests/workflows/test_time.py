"""Time-driven workflows against real PostgreSQL and NATS: objection SLA clocks (warnings, breaches,
escalation, re-planning, records' sla_state), task reminders and overdue alerts, follow-ups, the
daily digest, and isolation between tenants. Targets are fractions of an hour on an always-open
calendar, so the clocks run out within seconds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import msgspec

from services.workflows import timekeeping
from services.workflows.domain import people
from services.workflows.domain import sla as sla_domain
from services.workflows.domain.calendar import BusinessCalendar
from services.workflows.records_client import RecordsClient
from shared.tenancy import scope_for_system
from tests.conftest import SignUp, Tenant
from tests.workflows.conftest import eventually

ALWAYS = {day: [["00:00", "23:59"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
SHANGHAI = ZoneInfo("Asia/Shanghai")


class Events:
    """The workflows events of one tenant as they arrive on NATS."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    async def on(self, msg: Any) -> None:
        self.items.append({"subject": msg.subject, **msgspec.json.decode(msg.data)})

    def of(self, type_: str, **data: Any) -> list[dict[str, Any]]:
        return [e for e in self.items if e["type"] == type_ and all(e["data"].get(k) == v for k, v in data.items())]


async def listen(runtime: Any, tenant: Tenant) -> Events:
    events = Events()
    await runtime.bus.nc.subscribe(f"crm.workflows.{tenant.id}.>", cb=events.on)
    return events


async def always_open(client: httpx.AsyncClient, tenant: Tenant, **extra: Any) -> None:
    answer = await client.put("/api/v1/business-calendar", headers=tenant.headers, json={
        "time_zone": "Asia/Shanghai", "working_hours": ALWAYS, "china_holidays": False, **extra})
    assert answer.status_code == 200, answer.text


async def sla_policy(client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    answer = await client.put("/api/v1/sla-policy", headers=tenant.headers, json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def customer_of(client: httpx.AsyncClient, who: Any, **fields: Any) -> dict[str, Any]:
    answer = await client.post("/api/v1/customers", json={"name": f"客户 {uuid.uuid4().hex[:6]}", **fields},
                               headers=who.headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def objection_of(client: httpx.AsyncClient, who: Any, customer: dict[str, Any], **fields: Any) -> dict[str, Any]:
    answer = await client.post("/api/v1/objections", headers=who.headers, json={
        "customer_id": customer["id"], "category": "price", "description": "价格太高", **fields})
    assert answer.status_code == 201, answer.text
    return answer.json()


async def objection(client: httpx.AsyncClient, who: Any, objection_id: str) -> dict[str, Any]:
    return (await client.get(f"/api/v1/objections/{objection_id}", headers=who.headers)).json()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# --- the business calendar --------------------------------------------------------------------------


def test_a_high_objection_on_the_friday_before_national_day_breaches_after_the_holiday() -> None:
    policy = sla_domain.SlaPolicyIn()   # high: 4 / 24 business hours, warning at 80 %
    calendar = BusinessCalendar()       # 9-12, 13:30-18 on weekdays, China's holidays and 调休
    # Friday 27 September 2024, 17:00: 国庆 runs 1-7 October; Sunday 29 September is worked (调休).
    plan = sla_domain.plan(calendar, policy, "high", "price", datetime(2024, 9, 27, 17, tzinfo=SHANGHAI))
    # 1 h on Friday, 7.5 h on the make-up Sunday, 7.5 h on Monday 30th, then nothing until Tuesday 8th.
    assert plan.first_response_due_at == datetime(2024, 9, 29, 12, tzinfo=SHANGHAI)
    assert plan.resolution_due_at == datetime(2024, 10, 9, 9, 30, tzinfo=SHANGHAI)
    assert plan.resolution_warn_at == datetime(2024, 10, 8, 13, 42, tzinfo=SHANGHAI)  # 19.2 h in
    # Saturday 12 October 2024 is a make-up working day: a Friday-evening objection counts it.
    saturday = sla_domain.plan(calendar, policy, "high", None, datetime(2024, 10, 11, 17, tzinfo=SHANGHAI))
    assert saturday.first_response_due_at == datetime(2024, 10, 12, 12, tzinfo=SHANGHAI)
    # A category's own targets win over the severity's.
    custom = msgspec.convert({"categories": {"price": {"high": {"first_response_hours": 1, "resolution_hours": 2}}}},
                             sla_domain.SlaPolicyIn)
    quick = sla_domain.plan(calendar, custom, "high", "price", datetime(2024, 10, 11, 17, tzinfo=SHANGHAI))
    assert quick.first_response_due_at == datetime(2024, 10, 11, 18, tzinfo=SHANGHAI)



async def records_knows(runtime: Any, tenant: Any, user_id: str) -> bool:
    """Records' directory mirror has the user (an objection may then be assigned to them)."""
    async with runtime.db("records").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
        return bool(await unit.fetchval("SELECT count(*) FROM records.directory_users WHERE id = $1",
                                        uuid.UUID(user_id)))

async def test_the_sla_policy_has_defaults_and_refuses_bad_targets(client: httpx.AsyncClient, signup: SignUp) -> None:
    tenant = await signup()
    defaults = (await client.get("/api/v1/sla-policy", headers=tenant.headers)).json()
    assert defaults["version"] == 0 and defaults["warning_share"] == 0.8
    assert defaults["targets"]["high"] == {"first_response_hours": 4, "resolution_hours": 24}
    assert defaults["targets"]["low"] == {"first_response_hours": 16, "resolution_hours": 80}
    bad = await client.put("/api/v1/sla-policy", headers=tenant.headers, json={
        "warning_share": 1.5, "targets": {"high": {"first_response_hours": -1, "resolution_hours": 24}}})
    assert bad.status_code == 422, bad.text
    assert {e["field"] for e in bad.json()["errors"]} >= {"warning_share", "targets.high.first_response_hours"}
    assert (await client.get("/api/v1/sla-policy", headers=tenant.headers)).json()["version"] == 0
    saved = await sla_policy(client, tenant, {"warning_share": 0.5})
    assert saved["version"] == 1 and saved["targets"]["medium"]["resolution_hours"] == 40
    stale = await client.put("/api/v1/sla-policy", headers={**tenant.headers, "If-Match": '"0"'}, json={})
    assert stale.status_code == 412


# --- SLA clocks ---------------------------------------------------------------------------------------


async def test_warning_then_breach_escalates_to_the_department_head_and_shows_in_records(
    client: httpx.AsyncClient, signup: SignUp, invite: Any, runtime: Any
) -> None:
    tenant = await signup()
    root = (await client.get("/api/v1/departments", headers=tenant.headers)).json()["items"][0]
    member = await invite(tenant, department_id=root["id"])   # the admin heads the root department

    async def mirrored() -> bool:   # workflows knows the member's head, records the member
        async with runtime.db("workflows").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
            headed = await people.manager_of(unit, uuid.UUID(member.id)) == uuid.UUID(tenant.admin_id)
        return headed and await records_knows(runtime, tenant, member.id)

    await eventually(mirrored, timeout=5.0)
    await always_open(client, tenant)
    await sla_policy(client, tenant, {"warning_share": 0.5, "reassign_on_breach": True, "targets": {
        "high": {"first_response_hours": 0.0008, "resolution_hours": 100}}})   # 2.9 s to a first response
    events = await listen(runtime, tenant)
    customer = await customer_of(client, tenant)
    created = await objection_of(client, tenant, customer, severity="high", assignee_id=member.id)

    async def state_is(wanted: str) -> bool:
        return (await objection(client, tenant, created["id"]))["sla_state"] == wanted

    await eventually(lambda: state_is("breached"), timeout=8.0)
    [warning] = events.of("sla.warning", objection_id=created["id"])
    [breach] = events.of("sla.breached", objection_id=created["id"])
    assert warning["subject"] == f"crm.workflows.{tenant.id}.sla.warning"
    assert warning["data"]["phase"] == breach["data"]["phase"] == "first_response"
    assert warning["data"]["state"] == "at_risk" and warning["data"]["time_left_seconds"] > 0
    assert breach["data"]["assignee_id"] == member.id and breach["data"]["head_id"] == tenant.admin_id
    assert breach["data"]["time_left_seconds"] == 0 and breach["data"]["title"] == "价格太高"
    # The policy reassigns a breached objection to the head it escalated to.
    assert breach["data"]["reassigned_to"] == tenant.admin_id and warning["data"]["reassigned_to"] is None

    async def reassigned() -> bool:
        return (await objection(client, tenant, created["id"]))["assignee_id"] == tenant.admin_id

    await eventually(reassigned, timeout=3.0)
    # Records shows the clock: due times, the state as a list filter and in the report.
    shown = await objection(client, tenant, created["id"])
    started = at(shown["created_at"])
    assert timedelta(seconds=2) < at(shown["first_response_due_at"]) - started < timedelta(seconds=4)
    assert at(shown["sla_due_at"]) - started > timedelta(hours=99)
    breached = (await client.get("/api/v1/objections?sla_state=breached", headers=tenant.headers)).json()["items"]
    assert [o["id"] for o in breached] == [created["id"]]
    assert (await client.get("/api/v1/objections?sla_state=on_track", headers=tenant.headers)).json()["items"] == []
    bad = await client.get("/api/v1/objections?sla_state=late", headers=tenant.headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "sla_state"
    report = (await client.get("/api/v1/reports/objections", headers=tenant.headers)).json()
    assert report["by_sla_state"]["breached"] == 1 and report["by_sla_state"]["on_track"] == 0
    history = (await client.get(f"/api/v1/customers/{customer['id']}/history", headers=tenant.headers)).json()
    # History keeps the reassignment by the system, not the clock's bookkeeping.
    assert [(h["field"], h["new"], h["actor"]["kind"]) for h in history["items"] if h["actor"]["kind"] == "system"] \
        == [("assignee_id", tenant.admin_id, "system")]


async def test_a_severity_change_replans_and_a_resolution_stops_the_clock(
    client: httpx.AsyncClient, signup: SignUp, runtime: Any
) -> None:
    tenant = await signup()
    await always_open(client, tenant)
    await sla_policy(client, tenant, {"targets": {
        "low": {"first_response_hours": 1000, "resolution_hours": 2000},
        "high": {"first_response_hours": 0.0006, "resolution_hours": 0.0012}}})   # 2.2 s / 4.3 s
    events = await listen(runtime, tenant)
    customer = await customer_of(client, tenant)
    low = await objection_of(client, tenant, customer, severity="low")

    async def on_track_and_planned(objection_id: str) -> bool:
        shown = await objection(client, tenant, objection_id)
        return shown["sla_state"] == "on_track" and shown["sla_due_at"] is not None

    await eventually(lambda: on_track_and_planned(low["id"]), timeout=3.0)
    planned = await objection(client, tenant, low["id"])
    assert at(planned["sla_due_at"]) - at(planned["created_at"]) > timedelta(hours=1999)
    # Becoming high re-plans both phases from the objection's start: now only seconds away.
    raised = await client.patch(f"/api/v1/objections/{low['id']}", json={"severity": "high"}, headers=tenant.headers)
    assert raised.status_code == 200, raised.text
    # A high objection answered and resolved at once never warns nor breaches; another left alone does.
    answered = await objection_of(client, tenant, customer, severity="high")
    for move in ({"status": "in_progress"}, {"status": "resolved", "resolution": "已让价 5%"}):
        moved = await client.patch(f"/api/v1/objections/{answered['id']}", json=move, headers=tenant.headers)
        assert moved.status_code == 200, moved.text
    ignored = await objection_of(client, tenant, customer, severity="high")

    async def breached(objection_id: str) -> bool:
        return bool(events.of("sla.breached", objection_id=objection_id, phase="resolution"))

    await eventually(lambda: breached(ignored["id"]), timeout=10.0)
    await eventually(lambda: breached(low["id"]), timeout=3.0)
    replanned = await objection(client, tenant, low["id"])
    assert at(replanned["sla_due_at"]) - at(replanned["created_at"]) < timedelta(seconds=5)
    assert [e for e in events.items if e["data"].get("objection_id") == answered["id"]] == []

    async def met() -> bool:
        return (await objection(client, tenant, answered["id"]))["sla_state"] == "met"

    await eventually(met, timeout=3.0)
    # The clock's writes are no edit: a client's If-Match on the objection stays good.
    assert (await objection(client, tenant, ignored["id"]))["version"] == ignored["version"]
    # One warning and one breach per phase, however often the clock was looked at.
    assert len(events.of("sla.breached", objection_id=ignored["id"], phase="first_response")) == 1
    assert len(events.of("sla.warning", objection_id=ignored["id"], phase="resolution")) == 1


def test_a_resume_moves_what_is_still_ahead_by_the_business_time_paused() -> None:
    calendar = BusinessCalendar()   # 9-12, 13:30-18 on weekdays, China's holidays and 调休
    paused_at = datetime(2024, 10, 11, 17, tzinfo=SHANGHAI)   # a Friday; Saturday 12th is a 调休 working day
    resumed_at = datetime(2024, 10, 14, 10, tzinfo=SHANGHAI)  # Monday
    paused = calendar.working_time_between(paused_at, resumed_at)
    assert paused == timedelta(hours=1 + 7.5 + 1)
    clock = {"first_response_warn_at": datetime(2024, 10, 11, 16, tzinfo=SHANGHAI),   # passed: stays
             "first_response_due_at": datetime(2024, 10, 14, 11, tzinfo=SHANGHAI),
             "resolution_warn_at": datetime(2024, 10, 15, 9, tzinfo=SHANGHAI),
             "resolution_due_at": datetime(2024, 10, 16, 9, tzinfo=SHANGHAI),
             "escalations": [{"phase": "first_response", "index": 0, "due_at": "2024-10-14T11:00:00+08:00",
                              "fired_at": None},
                             {"phase": "first_response", "index": 1, "due_at": "2024-10-11T16:00:00+08:00",
                              "fired_at": "2024-10-11T16:00:00+08:00"}]}
    moved = sla_domain.shifted(calendar, clock, paused_at, paused)
    assert "first_response_warn_at" not in moved
    # Monday 11-12 and 13:30-18 (5.5 h), Tuesday 9-12 (3 h), then one more hour: Tuesday 14:30.
    assert moved["first_response_due_at"] == datetime(2024, 10, 15, 14, 30, tzinfo=SHANGHAI)
    # Wednesday 9-12 and 13:30-18 (7.5 h), then two hours of Thursday.
    assert moved["resolution_due_at"] == datetime(2024, 10, 17, 11, tzinfo=SHANGHAI)
    assert datetime.fromisoformat(moved["escalations"][0]["due_at"]) == moved["first_response_due_at"]
    assert moved["escalations"][1] == clock["escalations"][1]   # a fired level stays as it was


async def test_escalation_levels_fire_once_each_notify_and_reassign(
    client: httpx.AsyncClient, signup: SignUp, invite: Any, runtime: Any
) -> None:
    tenant = await signup()
    root = (await client.get("/api/v1/departments", headers=tenant.headers)).json()["items"][0]
    member = await invite(tenant, department_id=root["id"])   # the admin heads the root department
    watcher = await invite(tenant, department_id=root["id"], name="Wu Watcher")

    async def mirrored() -> bool:   # and records knows the member it is assigned to
        async with runtime.db("workflows").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
            return (await people.manager_of(unit, uuid.UUID(member.id)) == uuid.UUID(tenant.admin_id)
                    and await people.is_active(unit, uuid.UUID(watcher.id))
                    and await records_knows(runtime, tenant, member.id))

    await eventually(mirrored, timeout=5.0)
    await always_open(client, tenant)
    bad = await client.put("/api/v1/sla-policy", headers=tenant.headers, json={"escalations": [
        {"at": 1, "notify": [{"type": "users", "user_ids": [str(uuid.uuid4())]}]},
        {"at": 0.5, "notify": [{"type": "nobody"}]}]})
    assert bad.status_code == 422, bad.text
    assert {e["field"] for e in bad.json()["errors"]} == {"escalations[1].notify[0].type"}
    bad = await client.put("/api/v1/sla-policy", headers=tenant.headers, json={"escalations": [
        {"at": 1, "notify": [{"type": "users", "user_ids": [str(uuid.uuid4())]}]},
        {"at": 0.5, "notify": [{"type": "assignee"}]}]})
    assert bad.status_code == 422, bad.text
    assert {e["field"] for e in bad.json()["errors"]} == {"escalations[0].notify[0].user_ids[0]", "escalations[1].at"}
    assert (await client.get("/api/v1/sla-policy", headers=tenant.headers)).json()["escalations"] == []
    await sla_policy(client, tenant, {"targets": {"high": {"first_response_hours": 1000,
                                                           "resolution_hours": 0.0012}},   # 4.3 s
                                      "escalations": [
                                          {"at": 0.25, "notify": [{"type": "assignee"}]},
                                          {"at": 1, "notify": [{"type": "department_head"}], "reassign": True},
                                          {"at": 1.25, "notify": [{"type": "users", "user_ids": [watcher.id]}]}]})
    events = await listen(runtime, tenant)
    customer = await customer_of(client, tenant)
    created = await objection_of(client, tenant, customer, severity="high", assignee_id=member.id)

    async def three_levels() -> bool:
        return len(events.of("sla.escalated", objection_id=created["id"])) >= 3

    await eventually(three_levels, timeout=10.0)
    levels = sorted(events.of("sla.escalated", objection_id=created["id"]), key=lambda e: e["data"]["level"])
    assert [(e["data"]["level"], e["data"]["phase"], e["data"]["user_ids"], e["data"]["reassigned_to"])
            for e in levels] == [(1, "resolution", [member.id], None),
                                 (2, "resolution", [tenant.admin_id], tenant.admin_id),
                                 (3, "resolution", [watcher.id], None)]
    assert levels[0]["data"]["breached"] is False and levels[2]["data"]["breached"] is True

    async def reassigned() -> bool:
        return (await objection(client, tenant, created["id"]))["assignee_id"] == tenant.admin_id

    await eventually(reassigned, timeout=3.0)
    clock = (await client.get(f"/api/v1/sla-clocks/{created['id']}", headers=tenant.headers)).json()
    fired = [(lv["phase"], lv["level"]) for lv in clock["escalations"] if lv["fired_at"]]
    assert fired == [("resolution", 1), ("resolution", 2), ("resolution", 3)]   # first response: 1000 h away
    assert clock["state"] == "breached" and clock["paused"] is False
    # The clock's later looks (the reassignment coming back) fired nothing again.
    assert len(events.of("sla.escalated", objection_id=created["id"])) == 3


async def test_a_paused_clock_neither_warns_nor_breaches_and_its_resume_moves_the_due_time(
    client: httpx.AsyncClient, signup: SignUp, runtime: Any
) -> None:
    tenant, other = await signup(), await signup()
    await always_open(client, tenant)
    await sla_policy(client, tenant, {"targets": {"high": {"first_response_hours": 1000,
                                                           "resolution_hours": 0.0012}}})   # 4.3 s
    events = await listen(runtime, tenant)
    customer = await customer_of(client, tenant)
    created = await objection_of(client, tenant, customer, severity="high")
    path = f"/api/v1/sla-clocks/{created['id']}"

    async def clocked() -> bool:
        return (await client.get(path, headers=tenant.headers)).status_code == 200

    await eventually(clocked, timeout=3.0)
    # Another tenant cannot see, pause or resume it: the same 404 as an unknown id.
    for answer in (await client.get(path, headers=other.headers),
                   await client.post(f"{path}/pause", headers=other.headers, json={"reason": "x"}),
                   await client.post(f"{path}/resume", headers=other.headers)):
        assert answer.status_code == 404, answer.text
    assert (await client.post(f"{path}/pause", headers=tenant.headers, json={})).status_code == 422
    paused = await client.post(f"{path}/pause", headers=tenant.headers, json={"reason": "等待客户回复"})
    assert paused.status_code == 200, paused.text
    before = paused.json()
    assert before["paused"] is True and before["pause_reason"] == "等待客户回复" and before["state"] == "on_track"
    again = (await client.post(f"{path}/pause", headers=tenant.headers, json={"reason": "again"})).json()
    assert again["paused_at"] == before["paused_at"] and again["pause_reason"] == "等待客户回复"

    async def past_the_old_due_time() -> bool:
        return datetime.now(UTC) > at(before["resolution_due_at"]) + timedelta(seconds=1)

    await eventually(past_the_old_due_time, timeout=10.0)
    assert (await client.get(path, headers=tenant.headers)).json()["state"] == "on_track"
    assert [e for e in events.items if e["data"].get("objection_id") == created["id"]
            and e["type"] in ("sla.warning", "sla.breached")] == []
    resumed = await client.post(f"{path}/resume", headers=tenant.headers)
    assert resumed.status_code == 200, resumed.text
    after = resumed.json()
    assert after["paused"] is False and after["paused_seconds"] >= 3
    moved = at(after["resolution_due_at"]) - at(before["resolution_due_at"])
    # Moved by the time paused (the always-open calendar closes a minute a day, so allow a little).
    assert abs(moved.total_seconds() - after["paused_seconds"]) <= 61
    assert at(after["resolution_due_at"]) > datetime.now(UTC)

    async def records_shows_the_new_due_time() -> bool:
        return (await objection(client, tenant, created["id"]))["sla_due_at"] == after["resolution_due_at"].replace(
            "+00:00", "Z") or at((await objection(client, tenant, created["id"]))["sla_due_at"]) == at(
            after["resolution_due_at"])

    await eventually(records_shows_the_new_due_time, timeout=3.0)

    async def breached() -> bool:
        return bool(events.of("sla.breached", objection_id=created["id"], phase="resolution"))

    await eventually(breached, timeout=10.0)
    # A resolved objection's clock cannot be paused any more.
    for move in ({"status": "in_progress"}, {"status": "resolved", "resolution": "已补发合同"}):
        moved_answer = await client.patch(f"/api/v1/objections/{created['id']}", json=move, headers=tenant.headers)
        assert moved_answer.status_code == 200, moved_answer.text

    async def resolved() -> bool:
        return (await client.get(path, headers=tenant.headers)).json()["state"] == "breached" and (
            await client.post(f"{path}/pause", headers=tenant.headers, json={"reason": "late"})).status_code == 409

    await eventually(resolved, timeout=3.0)


# --- reminders ----------------------------------------------------------------------------------------


async def test_reminders_fire_once_move_with_their_date_and_stop_when_done(
    client: httpx.AsyncClient, signup: SignUp, runtime: Any
) -> None:
    tenant, other = await signup(), await signup()
    events, others = await listen(runtime, tenant), await listen(runtime, other)
    customer = await customer_of(client, tenant)
    now = datetime.now(UTC)

    async def task(who: Any, customer_id: str, **fields: Any) -> dict[str, Any]:
        answer = await client.post("/api/v1/tasks", headers=who.headers, json={
            "customer_id": customer_id, "title": f"回访 {uuid.uuid4().hex[:4]}", **fields})
        assert answer.status_code == 201, answer.text
        return answer.json()

    later = (now + timedelta(hours=1)).isoformat()
    moved = await task(tenant, customer["id"], remind_at=later, due_at=(now + timedelta(hours=2)).isoformat())
    done = await task(tenant, customer["id"], remind_at=(now + timedelta(seconds=1.5)).isoformat(), due_at=later)
    overdue = await task(tenant, customer["id"], due_at=(now + timedelta(seconds=1.5)).isoformat())
    new_remind = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()
    answer = await client.patch(f"/api/v1/tasks/{moved['id']}", json={"remind_at": new_remind}, headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    answer = await client.patch(f"/api/v1/tasks/{done['id']}", json={"status": "done"}, headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    follow = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    answer = await client.patch(f"/api/v1/customers/{customer['id']}", json={"next_follow_up_at": follow},
                                headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    # The other tenant's task, due at the same moments, never shows in this tenant's events.
    foreign_customer = await customer_of(client, other)
    foreign = await task(other, foreign_customer["id"], remind_at=new_remind)
    # A control due after all the others: once it fired, anything that was going to fire has.
    control = await task(tenant, customer["id"], remind_at=(datetime.now(UTC) + timedelta(seconds=3)).isoformat())

    async def fired(events_: Events, task_id: str) -> bool:
        return bool(events_.of("reminder.due", task_id=task_id))

    await eventually(lambda: fired(events, control["id"]), timeout=8.0)
    # Due timers are fired concurrently: those due before the control may land just after it.
    await eventually(lambda: fired(others, foreign["id"]), timeout=10.0)
    await eventually(lambda: fired(events, moved["id"]), timeout=10.0)

    async def overdue_and_follow_up() -> bool:
        return bool(events.of("task.overdue", task_id=overdue["id"])
                    and events.of("follow_up.due", customer_id=customer["id"]))

    await eventually(overdue_and_follow_up, timeout=10.0)
    [reminder] = events.of("reminder.due", task_id=moved["id"])
    assert reminder["subject"] == f"crm.workflows.{tenant.id}.reminder.due"
    assert at(reminder["data"]["remind_at"]) == at(new_remind)
    assert reminder["data"]["assignee_id"] == tenant.admin_id and reminder["data"]["title"] == moved["title"]
    assert events.of("reminder.due", task_id=done["id"]) == []
    [late] = events.of("task.overdue", task_id=overdue["id"])
    assert late["data"]["assignee_id"] == tenant.admin_id
    [follow_up] = events.of("follow_up.due", customer_id=customer["id"])
    assert follow_up["data"]["owner_id"] == tenant.admin_id and follow_up["data"]["title"] == customer["name"]
    mine = {e["data"].get("task_id") or e["data"].get("customer_id") for e in events.items}
    assert foreign["id"] not in mine and foreign_customer["id"] not in mine
    assert {e["data"].get("task_id") for e in others.items} == {foreign["id"]}


# --- the daily digest ---------------------------------------------------------------------------------


async def test_the_daily_digest_lists_a_users_day_and_skips_days_off(
    client: httpx.AsyncClient, signup: SignUp, runtime: Any
) -> None:
    tenant, other = await signup(), await signup()
    await always_open(client, tenant)
    await sla_policy(client, tenant, {"targets": {"high": {"first_response_hours": 0.0003, "resolution_hours": 500}}})
    events = await listen(runtime, tenant)
    now = datetime.now(UTC)
    local_end = datetime.combine(now.astimezone(SHANGHAI).date() + timedelta(days=1), datetime.min.time(), SHANGHAI)
    today_later = now + (local_end - now) / 2
    follow = await customer_of(client, tenant, next_follow_up_at=today_later.isoformat())
    tomorrow = await customer_of(client, tenant, next_follow_up_at=(local_end + timedelta(hours=2)).isoformat())
    task = (await client.post("/api/v1/tasks", headers=tenant.headers, json={
        "customer_id": follow["id"], "title": "寄合同", "due_at": (now - timedelta(hours=3)).isoformat()})).json()
    risky = await objection_of(client, tenant, follow, severity="high")
    # The other tenant's records, due today as well, are in nobody's digest here.
    foreign = await customer_of(client, other, next_follow_up_at=today_later.isoformat())
    foreign_task = (await client.post("/api/v1/tasks", headers=other.headers, json={
        "customer_id": foreign["id"], "title": "别家的任务", "due_at": (now - timedelta(hours=3)).isoformat()})).json()
    db = runtime.db("workflows")

    async def digest_of_admin() -> dict[str, Any] | None:
        async with db.tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
            return (await timekeeping.build_digests(unit, datetime.now(UTC))).get(uuid.UUID(tenant.admin_id))

    async def complete() -> bool:
        digest = await digest_of_admin()
        return digest is not None and digest["follow_ups"]["count"] == 1 and digest["overdue_tasks"]["count"] == 1 \
            and digest["objections_at_risk"]["items"][:1] != [] \
            and digest["objections_at_risk"]["items"][0]["state"] == "breached"

    await eventually(complete, timeout=8.0)

    async def fire_digest_now() -> None:
        async with db.tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
            # As if the digest's hour had come: the timer and its queue entry due now.
            timer_id = await unit.fetchval("""UPDATE workflows.timers SET due_at = now()
                                              WHERE tenant_id = $1 AND key = 'digest' RETURNING id""", unit.tenant_id)
            await unit.execute("UPDATE workflows.queue SET due_at = now() WHERE id = $1", timer_id)

    await fire_digest_now()
    await eventually(lambda: _has(events, "digest.daily"), timeout=5.0)
    [digest] = events.of("digest.daily")
    assert digest["subject"] == f"crm.workflows.{tenant.id}.digest.daily"
    data = digest["data"]
    assert data["user_id"] == tenant.admin_id
    assert data["date"] == datetime.now(UTC).astimezone(SHANGHAI).date().isoformat()
    assert [i["customer_id"] for i in data["follow_ups"]["items"]] == [follow["id"]]
    assert tomorrow["id"] not in str(data)
    assert [(i["task_id"], i["title"]) for i in data["overdue_tasks"]["items"]] == [(task["id"], "寄合同")]
    [at_risk] = data["objections_at_risk"]["items"]
    assert at_risk["objection_id"] == risky["id"] and at_risk["state"] == "breached"
    assert foreign["id"] not in str(data) and foreign_task["id"] not in str(data)
    # The next digest is planned for the next working day; a day off (the tenant closed today) sends none.
    async with db.tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
        next_due = await unit.fetchval("SELECT due_at FROM workflows.timers WHERE tenant_id = $1 AND key = 'digest'",
                                       unit.tenant_id)
    assert next_due > datetime.now(UTC) and next_due.astimezone(SHANGHAI).strftime("%H:%M") == "08:30"
    today = datetime.now(UTC).astimezone(SHANGHAI).date()
    await always_open(client, tenant, closed_days=[today.isoformat(), (today + timedelta(days=1)).isoformat()])
    async with db.tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
        moved_due = await unit.fetchval("SELECT due_at FROM workflows.timers WHERE tenant_id = $1 AND key = 'digest'",
                                        unit.tenant_id)
    assert moved_due.astimezone(SHANGHAI).date() == today + timedelta(days=2)
    await fire_digest_now()
    async def fired_again() -> bool:
        async with db.tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
            due = await unit.fetchval("SELECT due_at FROM workflows.timers WHERE tenant_id = $1 AND key = 'digest'",
                                      unit.tenant_id)
        return due != moved_due

    await eventually(fired_again, timeout=5.0)
    assert len(events.of("digest.daily")) == 1


def _has(events: Events, type_: str) -> Any:
    async def check() -> bool:
        return bool(events.of(type_))
    return check()


async def test_records_sla_command_only_reaches_the_named_tenants_objections(
    client: httpx.AsyncClient, signup: SignUp, runtime: Any
) -> None:
    tenant, other = await signup(), await signup()
    customer = await customer_of(client, other)
    theirs = await objection_of(client, other, customer, severity="low")

    async def planned() -> bool:
        return (await objection(client, other, theirs["id"]))["sla_state"] == "on_track"

    await eventually(planned, timeout=3.0)
    records = RecordsClient(runtime.bus.nc)
    # Naming tenant A with tenant B's objection finds nothing (records' row-level security).
    assert await records.set_sla(uuid.UUID(tenant.id), uuid.UUID(theirs["id"]), "breached", None, None) is False
    assert (await objection(client, other, theirs["id"]))["sla_state"] == "on_track"
    # Tenant A's clocks and digests know nothing of B's objection.
    async with runtime.db("workflows").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
        assert await unit.fetchval("SELECT count(*) FROM workflows.sla_clocks") == 0
        assert await unit.fetchval("SELECT count(*) FROM workflows.tracked_records") == 0


async def test_records_workflows_never_heard_of_get_their_clocks_and_reminders_from_the_backfill(
    client: httpx.AsyncClient, signup: SignUp, runtime: Any
) -> None:
    tenant = await signup()
    customer = await customer_of(client, tenant, next_follow_up_at=(datetime.now(UTC) + timedelta(days=2)).isoformat())
    waiting = await objection_of(client, tenant, customer, severity="medium")
    answer = await client.post("/api/v1/tasks", headers=tenant.headers, json={
        "customer_id": customer["id"], "title": "报价", "remind_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()})
    task = answer.json()
    db = runtime.db("workflows")
    scope = scope_for_system(uuid.UUID(tenant.id))

    async def planned() -> dict[str, int]:
        async with db.tenant_unit(scope) as unit:
            return {row["kind"]: row["n"] for row in await unit.fetch(
                "SELECT kind, count(*) AS n FROM workflows.timers WHERE tenant_id = $1 GROUP BY kind", unit.tenant_id)}

    async def all_planned() -> bool:
        # two SLA warnings and two due times, a reminder, a follow-up, the digest
        return await planned() == {"sla": 4, "reminder": 2, "digest": 1}

    await eventually(all_planned, timeout=5.0)
    # As if workflows had never seen these records: its copies and timers gone.
    async with db.tenant_unit(scope) as unit:
        for table in ("sla_clocks", "tracked_records", "customer_health", "timers"):
            await unit.execute(f"DELETE FROM workflows.{table} WHERE tenant_id = $1", unit.tenant_id)
    from services.workflows.backfill import Backfill

    assert await Backfill(runtime).tenant(uuid.UUID(tenant.id)) == 3
    await eventually(all_planned, timeout=10.0)   # and records' copy of the clock written again
    async with db.tenant_unit(scope) as unit:
        clock = await unit.fetchrow("SELECT * FROM workflows.sla_clocks WHERE objection_id = $1",
                                    uuid.UUID(waiting["id"]))
        reminder = await unit.fetchval("SELECT due_at FROM workflows.timers WHERE key = $1", f"reminder:{task['id']}")
    shown = await objection(client, tenant, waiting["id"])
    assert clock["state"] == "on_track" and clock["resolution_due_at"] == at(shown["sla_due_at"])
    assert reminder == at(task["remind_at"])
    # A second pass finds everything known and plans nothing twice.
    assert await Backfill(runtime).tenant(uuid.UUID(tenant.id)) == 0



# --- health ---------------------------------------------------------------------------------------------


def test_the_health_score_takes_points_off_for_each_sign_of_churn_risk() -> None:
    from services.workflows.domain.health import Facts, norm, score

    healthy = Facts(days_inactive=10, norm_days=30, open_objections=0, breached_objections=0,
                    follow_up_overdue_days=None, renewal_in_days=90)
    assert score(healthy) == (100, [])
    risky = Facts(days_inactive=75, norm_days=30, open_objections=1, breached_objections=2,
                  follow_up_overdue_days=3.5, renewal_in_days=5)
    value, reasons = score(risky)
    assert [(r["code"], r["points"]) for r in reasons] == [
        ("breached_objections", 30), ("inactive", 30), ("renewal_soon", 15), ("overdue_follow_up", 13),
        ("open_objections", 8)]
    assert value == 4
    assert reasons[1]["detail"] == {"days": 75, "norm_days": 30}
    assert norm(2.0, 50) == 7.0 and norm(12.5, 50) == 12.5 and norm(90.0, 3) == 30.0


async def test_a_breached_objection_lowers_the_customers_health_in_records_and_starts_a_health_workflow(
    client: httpx.AsyncClient, signup: SignUp, runtime: Any
) -> None:
    tenant = await signup()
    await always_open(client, tenant)
    await sla_policy(client, tenant, {"targets": {"high": {"first_response_hours": 0.0004, "resolution_hours": 500}}})
    bad = await client.post("/api/v1/workflows", headers=tenant.headers, json={
        "name": "健康度下降", "triggers": [{"type": "health.crossed", "threshold": 101}], "steps": []})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "triggers[0].threshold"
    workflow = await client.post("/api/v1/workflows", headers=tenant.headers, json={
        "name": "健康度下降", "triggers": [{"type": "health.crossed", "threshold": 90, "direction": "below"}],
        "steps": [{"type": "branch", "condition": "record.health_score < 90",
                   "then": [{"type": "add_tags", "tags": ["流失风险"]}]}]})
    assert workflow.status_code == 201, workflow.text
    risky, fine = await customer_of(client, tenant, tier="A"), await customer_of(client, tenant, tier="A")
    await objection_of(client, tenant, risky, severity="high")

    async def scored(customer_id: str, wanted: int) -> bool:
        shown = (await client.get(f"/api/v1/customers/{customer_id}", headers=tenant.headers)).json()
        return shown.get("health_score") == wanted

    # An open objection takes 8 points off; once it breaches its SLA, 15 (still open, not both).
    await eventually(lambda: scored(risky["id"], 85), timeout=8.0)
    shown = (await client.get(f"/api/v1/customers/{risky['id']}", headers=tenant.headers)).json()
    assert shown["health_reasons"] == [{"code": "breached_objections", "points": 15, "detail": {"count": 1}}]
    # Healthy from the start: nothing written, records' null says nothing is wrong.
    healthy = (await client.get(f"/api/v1/customers/{fine['id']}", headers=tenant.headers)).json()
    assert healthy["health_score"] is None and healthy["health_reasons"] == []

    async def tagged() -> bool:
        current = (await client.get(f"/api/v1/customers/{risky['id']}", headers=tenant.headers)).json()
        return "流失风险" in current["tags"]

    await eventually(tagged, timeout=5.0)
    runs = (await client.get(f"/api/v1/workflows/{workflow.json()['id']}/runs", headers=tenant.headers)).json()
    assert [(r["trigger"]["type"], r["record"]["id"]) for r in runs["items"]] == [("health.crossed", risky["id"])]
    listed = (await client.get("/api/v1/customers?health_score_max=90", headers=tenant.headers)).json()["items"]
    assert [c["id"] for c in listed] == [risky["id"]]
    ordered = (await client.get("/api/v1/customers?sort=health_score", headers=tenant.headers)).json()["items"]
    assert [c["id"] for c in ordered] == [risky["id"], fine["id"]]
    out_of_range = await client.get("/api/v1/customers?health_score_max=101", headers=tenant.headers)
    assert out_of_range.status_code == 422 and out_of_range.json()["errors"][0]["field"] == "health_score_max"


async def test_imported_customers_get_the_health_and_follow_ups_of_customers_created_one_by_one(
    client: httpx.AsyncClient, signup: SignUp, runtime: Any
) -> None:
    """An import's created customers are applied a batch at a time (workflows-time-bulk): the same
    scores, follow-up timers and health workflows as the same customers created through the API,
    and each tenant's own only."""
    from services.records import jobs_bulk
    from tests.records.test_imports import csv_bytes, finished, upload

    tenant, other = await signup(), await signup()
    workflow = await client.post("/api/v1/workflows", headers=tenant.headers, json={
        "name": "跟进逾期", "triggers": [{"type": "health.crossed", "threshold": 90, "direction": "below"}],
        "steps": [{"type": "add_tags", "tags": ["跟进逾期"]}]})
    assert workflow.status_code == 201, workflow.text
    soon = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    by_hand = {"plain": await customer_of(client, tenant),
               "overdue": await customer_of(client, tenant, next_follow_up_at="2020-01-01T00:00:00+08:00"),
               "planned": await customer_of(client, tenant, next_follow_up_at=soon.isoformat())}
    rows = [["客户名称", "下次跟进"], ["导入 普通", ""], ["导入 逾期", "2020-01-01"],
            ["导入 已约", soon.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")]]
    rows += [[f"导入 批量 {i}", ""] for i in range(40)]   # more than one fetch of the consumer
    jobs = await jobs_bulk.BulkJobs(runtime, poll_seconds=0.1).start()
    try:
        started = [await upload(client, who, csv_bytes(rows)) for who in (tenant, other)]
        states = [await finished(client, who, answer.json()["id"]) for who, answer in zip((tenant, other), started,
                                                                                           strict=True)]
    finally:
        await jobs.stop()
    assert [s["rows_created"] for s in states] == [43, 43]
    listed = (await client.get("/api/v1/customers?limit=200", headers=tenant.headers)).json()["items"]
    imported = {c["name"]: c for c in listed if c["name"].startswith("导入")}
    by_import = {"plain": imported["导入 普通"], "overdue": imported["导入 逾期"], "planned": imported["导入 已约"]}

    async def shown(customer: dict[str, Any]) -> dict[str, Any]:
        return (await client.get(f"/api/v1/customers/{customer['id']}", headers=tenant.headers)).json()

    async def scored() -> bool:
        scores = [(await shown(c)).get("health_score") for c in (by_hand["overdue"], by_import["overdue"])]
        return None not in scores

    await eventually(scored, timeout=15.0)
    for kind in ("plain", "overdue", "planned"):
        hand, imp = await shown(by_hand[kind]), await shown(by_import[kind])
        assert (imp["health_score"], imp["health_reasons"]) == (hand["health_score"], hand["health_reasons"]), kind
    assert (await shown(by_import["overdue"]))["health_score"] == 80   # 20 points off: long overdue

    async def run_records() -> set[str]:
        answer = await client.get(f"/api/v1/workflows/{workflow.json()['id']}/runs", headers=tenant.headers)
        return {r["record"]["id"] for r in answer.json()["items"]}

    async def both_ran() -> bool:
        return await run_records() == {by_hand["overdue"]["id"], by_import["overdue"]["id"]}

    await eventually(both_ran, timeout=10.0)
    db = runtime.db("workflows")

    async def workflows_view(who: Tenant) -> tuple[set[uuid.UUID], set[str]]:
        async with db.tenant_unit(scope_for_system(uuid.UUID(who.id))) as unit:
            known = {r["customer_id"] for r in await unit.fetch("SELECT customer_id FROM workflows.customer_health")}
            keys = {r["key"] for r in await unit.fetch("SELECT key FROM workflows.timers WHERE key LIKE 'follow_up:%'")}
        return known, keys

    async def all_known() -> bool:
        return [len((await workflows_view(who))[0]) for who in (tenant, other)] == [46, 43]

    await eventually(all_known, timeout=15.0)
    mine, my_timers = await workflows_view(tenant)
    theirs, their_timers = await workflows_view(other)
    assert my_timers == {f"follow_up:{by_hand['planned']['id']}", f"follow_up:{by_import['planned']['id']}"}
    assert len(their_timers) == 1 and not their_timers & my_timers
    assert {uuid.UUID(c["id"]) for c in listed} == mine and len(theirs) == 43 and not mine & theirs
