"""The console's notifications, approvals, import/export and admin pages in real Chromium against
the real stack: what a person sees after each step, in Chinese."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.shared.test_events import eventually
from tests.web.conftest import PASSWORD, Account, Page, login

pytestmark = pytest.mark.slow


async def unread(web: Page) -> str:
    badge = web.page.get_by_test_id("unread-count").locator(".ant-scroll-number")
    return (await badge.get_attribute("title")) or "0" if await badge.count() else "0"


async def test_bell_counts_up_live_and_the_inbox_reads_archives_and_filters(
    web: Page, account: Any, api: httpx.AsyncClient
) -> None:
    who: Account = await account()
    await login(web, who)
    assert await unread(web) == "0"
    # Something happens elsewhere (a key made over the API): the bell counts it without a reload.
    made = await api.post("/api/v1/api-keys", headers=who.headers, json={"name": "ERP 同步", "scopes": ["customer:read"]})
    assert made.status_code == 201, made.text
    await eventually(lambda: _is(unread(web), "1"), timeout=15, what="the bell to show 1 unread")
    await api.post("/api/v1/api-keys", headers=who.headers, json={"name": "报表", "scopes": ["customer:read"]})
    await eventually(lambda: _is(unread(web), "2"), timeout=15, what="the bell to show 2 unread")

    await web.page.get_by_test_id("notification-bell").click()
    await web.page.get_by_role("heading", name="通知").wait_for()
    rows = web.page.get_by_test_id("notification")
    await eventually(lambda: _count(rows, 2), what="two notifications listed")
    assert await rows.first.get_attribute("data-read") == "no"
    assert "新建了 API 密钥" in await rows.first.inner_text()
    await web.screenshot("notifications")
    # Read one: the bell goes down; archive it: it leaves the list.
    await rows.first.get_by_role("button", name="标为已读").click()
    await eventually(lambda: _is(unread(web), "1"), what="one unread left")
    assert await rows.first.get_attribute("data-read") == "yes"
    await rows.first.get_by_role("button", name="归档").click()
    await eventually(lambda: _count(rows, 1), what="the archived one gone")
    # Filter by another type: nothing; unread only keeps the unread key notice.
    await web.page.get_by_test_id("type-filter").click()
    await web.page.get_by_title("任务逾期").click()
    await eventually(lambda: _count(rows, 0), what="no overdue-task notifications")
    await web.page.get_by_text("没有通知").wait_for()


async def _is(value: Any, expected: str) -> bool:
    return (await value) == expected


async def _count(locator: Any, n: int) -> bool:
    return await locator.count() == n


async def colleague(api: httpx.AsyncClient, who: Account, name: str, roles: list[str]) -> dict[str, str]:
    """A second user of ``who``'s workspace (invited and accepted over the API): their headers."""
    invited = await api.post("/api/v1/invitations", headers=who.headers, json={
        "email": f"u-{uuid.uuid4().hex[:8]}@example.com", "name": name, "roles": roles})
    assert invited.status_code == 201, invited.text
    accepted = await api.post("/api/v1/invitations/accept", json={"token": invited.json()["token"], "password": PASSWORD})
    assert accepted.status_code == 201, accepted.text
    return {"Authorization": f"Bearer {accepted.json()['access_token']}"}


async def _approval(api: httpx.AsyncClient, who: Account, rep: dict[str, str]) -> tuple[str, str]:
    """A customer of ``rep`` and an approval of it, asked by ``rep``, waiting for ``who``."""
    template = await api.post("/api/v1/approval-templates", headers=who.headers, json={
        "name": f"大客户定级审批 {uuid.uuid4().hex[:4]}", "entity": "customer", "guarded_fields": ["tier"],
        "steps": [{"name": "主管", "approvers": [{"type": "users", "user_ids": [who.user_id]}]}]})
    assert template.status_code == 201, template.text
    customer = await api.post("/api/v1/customers", headers=rep, json={"name": f"华东机电 {uuid.uuid4().hex[:4]}"})
    assert customer.status_code == 201, customer.text

    async def requested() -> Any:
        answer = await api.post("/api/v1/approvals", headers=rep, json={
            "template_id": template.json()["id"], "record": {"type": "customer", "id": customer.json()["id"]}})
        return answer.json() if answer.status_code == 201 else None

    # The workflows service learns of the new user from identity's events: asked until it has.
    approval = await eventually(requested, timeout=15, what="the approval request")
    return approval["id"], approval["name"]


async def test_approvals_inbox_rejects_only_with_a_comment_and_approves(
    web: Page, account: Any, api: httpx.AsyncClient
) -> None:
    who: Account = await account()
    rep = await colleague(api, who, "张销售", ["sales"])
    first, name = await _approval(api, who, rep)
    second, _ = await _approval(api, who, rep)
    await login(web, who)
    await web.page.get_by_role("menuitem", name="审批").click()
    await web.page.get_by_role("heading", name="审批").wait_for()
    rows = web.page.get_by_test_id("approval")
    await eventually(lambda: _count(rows, 2), what="two approvals waiting")
    await web.screenshot("approvals")
    target = rows.filter(has_text=name)
    await target.get_by_role("button", name="拒绝").click()
    dialog = web.page.get_by_role("dialog")
    await dialog.get_by_role("button", name="确定").click()
    # The API refuses a rejection without a comment; its message stands on the comment field.
    await dialog.locator(".ant-form-item-explain-error").filter(has_text="必填").wait_for()
    await dialog.get_by_label("审批意见").fill("预算不足，下季度再议")
    await dialog.get_by_role("button", name="确定").click()
    await eventually(lambda: _count(rows, 1), what="the rejected one to leave the inbox")
    await rows.first.get_by_role("button", name="同意").click()
    await web.page.get_by_role("dialog").get_by_role("button", name="确定").click()
    await eventually(lambda: _count(rows, 0), what="the approved one to leave the inbox")
    await web.page.get_by_text("没有审批").wait_for()
    states = {i: (await api.get(f"/api/v1/approvals/{i}", headers=who.headers)).json() for i in (first, second)}
    assert {i: s["status"] for i, s in states.items()} == {first: "rejected", second: "approved"}
    assert any(a["comment"] == "预算不足，下季度再议" for a in states[first]["approvers"])
    # The requester sees both under what they asked for, with the outcome and the comment.
    asked = (await api.get("/api/v1/approvals?submitted_by=me", headers=rep)).json()["items"]
    assert sorted(a["status"] for a in asked) == ["approved", "rejected"]


async def names(api: httpx.AsyncClient, who: Account) -> set[str]:
    answer = await api.get("/api/v1/customers", headers=who.headers)
    assert answer.status_code == 200, answer.text
    return {c["name"] for c in answer.json()["items"]}


async def test_import_wizard_gbk_file_mapping_dry_run_progress_error_report_and_skipped_rows(
    web: Page, account: Any, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    who: Account = await account()
    existing = await api.post("/api/v1/customers", headers=who.headers, json={"name": "老客户", "phone": "13800138000"})
    assert existing.status_code == 201, existing.text
    # What an office PC's Excel saves: GBK. 来源渠道 is no name the API knows; the person maps it.
    csv = "客户名称,电话,邮箱,来源渠道\r\n杭州新客,13900139000,xin@example.com,展会\r\n" \
          "重复的客户,13800138000,,转介绍\r\n坏邮箱公司,13700137000,不是邮箱,官网\r\n"
    upload = tmp_path / "客户名单.csv"
    upload.write_bytes(csv.encode("gbk"))
    await login(web, who)
    await web.page.get_by_role("menuitem", name="导入导出").click()
    await web.page.get_by_role("heading", name="导入导出").wait_for()
    await web.page.locator("input[type=file]").set_input_files(str(upload))
    await web.page.get_by_test_id("dry-run").click()
    # The automatic match is shown; the unknown column is left out until mapped.
    mapping = web.page.get_by_test_id("mapping")
    await mapping.wait_for()
    assert await web.page.get_by_test_id("map-客户名称").inner_text() == "name"
    assert await web.page.get_by_test_id("map-电话").inner_text() == "phone"
    assert await web.page.get_by_test_id("map-来源渠道").inner_text() == "不导入"
    result = web.page.get_by_test_id("dry-run-result")
    await result.get_by_test_id("rows-failed").filter(has_text="1").wait_for()
    assert await result.get_by_test_id("rows-skipped").inner_text() == "1"
    assert "gb" in (await result.get_by_test_id("job-figures").inner_text()).lower()
    assert await names(api, who) == {"老客户"}  # a dry run writes nothing
    await web.page.get_by_test_id("map-来源渠道").click()
    await web.page.get_by_title("source", exact=True).click()
    await web.screenshot("import-wizard")
    await web.page.get_by_test_id("start-import").click()
    run = web.page.get_by_test_id("import-run")
    await run.locator(".ant-progress-status-success").wait_for()  # the bar reaches 100 %
    assert await run.get_by_test_id("rows-failed").inner_text() == "1"
    skipped = run.get_by_test_id("skipped-rows")
    assert "phone" in await skipped.inner_text()
    assert await skipped.get_by_role("link", name="已有记录").get_attribute("href") == f"/customers/{existing.json()['id']}"
    async with web.page.expect_download() as waiting:
        await run.get_by_test_id("error-report").click()
    report = Path(await (await waiting.value).path()).read_text(encoding="utf-8-sig")
    assert "坏邮箱公司" in report and "重复的客户" not in report
    assert await names(api, who) == {"老客户", "杭州新客"}
    created = (await api.get("/api/v1/customers", headers=who.headers)).json()["items"]
    assert [c["source"] for c in created if c["name"] == "杭州新客"] == ["展会"]


async def test_export_shows_progress_then_downloads_the_file(web: Page, account: Any, api: httpx.AsyncClient) -> None:
    who: Account = await account()
    await api.post("/api/v1/customers", headers=who.headers, json={"name": "导出测试客户"})
    await login(web, who)
    await web.goto("/imports")
    await web.page.get_by_test_id("start-export").click()
    button = web.page.get_by_test_id("export-download")
    await button.wait_for()
    async with web.page.expect_download() as waiting:
        await button.click()
    exported = Path(await (await waiting.value).path()).read_text(encoding="utf-8-sig")
    assert "导出测试客户" in exported


async def test_admin_invites_builds_departments_roles_and_fields(web: Page, account: Any, api: httpx.AsyncClient) -> None:
    who: Account = await account()
    await login(web, who)
    await web.page.get_by_role("menuitem", name="系统管理").click()
    users = web.page.get_by_test_id("users")
    await users.get_by_text(who.email).wait_for()
    assert "管理员" in await users.inner_text() or "admin" in (await users.inner_text()).lower()
    # Invite: the link with its one-time token is shown; the invitation is pending.
    await web.page.get_by_test_id("invite").click()
    dialog = web.page.get_by_role("dialog")
    email = f"new-{uuid.uuid4().hex[:6]}@example.com"
    await dialog.get_by_label("邮箱").fill(email)
    await dialog.get_by_label("名称").fill("赵新人")
    await dialog.get_by_role("button", name="发送邀请").click()
    await web.page.get_by_test_id("invite-link").filter(has_text="/invitation?token=").wait_for()
    await web.page.get_by_test_id("invitations").get_by_text(email).wait_for()
    assert "待接受" in await web.page.get_by_test_id("invitations").inner_text()

    # Departments: a child under the root shows nested in the tree.
    await web.page.get_by_role("tab", name="部门").click()
    tree = web.page.get_by_test_id("department-tree")
    root = (await api.get("/api/v1/departments", headers=who.headers)).json()["items"][0]
    await tree.get_by_text(root["name"]).click()  # the parent of the next one
    await web.page.get_by_label("部门名称").fill("华东销售部")
    await web.page.get_by_test_id("add-department").click()
    await tree.get_by_text("华东销售部").wait_for()
    listed = (await api.get("/api/v1/departments", headers=who.headers)).json()["items"]
    assert [d["parent_id"] for d in listed if d["name"] == "华东销售部"] == [root["id"]]

    # Roles: actions, data scope and a field rule, saved as the API keeps them.
    await web.page.get_by_role("tab", name="角色权限").click()
    await web.page.get_by_test_id("new-role").click()
    dialog = web.page.get_by_role("dialog")
    await dialog.get_by_label("名称").fill("区域经理")
    await dialog.get_by_test_id("add-grant").click()
    await dialog.get_by_label("对象").first.click()
    await web.page.get_by_title("客户", exact=True).click()
    await dialog.get_by_label("编辑").check()
    await dialog.get_by_label("数据范围").first.click()
    await web.page.get_by_title("本部门", exact=True).click()
    await dialog.get_by_test_id("add-rule").click()
    await dialog.get_by_label("字段").fill("customer.phone")
    await dialog.get_by_role("button", name="保 存").or_(dialog.get_by_role("button", name="保存")).click()
    roles = web.page.get_by_test_id("roles")
    row = roles.get_by_role("row").filter(has_text="区域经理")
    await row.wait_for()
    assert "customer.phone: 隐藏" in await row.inner_text() and "本部门" in await row.inner_text()
    saved = [r for r in (await api.get("/api/v1/roles", headers=who.headers)).json()["items"] if r["name"] == "区域经理"]
    assert saved[0]["permissions"]["customer"] == {"actions": ["read", "update"], "scope": "department"}
    assert saved[0]["field_rules"] == {"customer": {"phone": "hidden"}}
    await web.screenshot("admin-roles")

    # Custom fields: a single select with its options.
    await web.page.get_by_role("tab", name="自定义字段").click()
    await web.page.get_by_label("显示名称").fill("所属区域")
    await web.page.get_by_label("字段标识").fill("region")
    await web.page.get_by_label("字段类型").first.click()
    await web.page.get_by_title("单选", exact=True).click()
    await web.page.get_by_label("选项").fill("华东、华南")
    await web.page.get_by_test_id("add-field").click()
    fields = web.page.get_by_test_id("custom-fields")
    await fields.get_by_text("custom_fields.region").wait_for()
    assert "华南" in await fields.inner_text()


async def test_api_key_is_shown_once_and_the_audit_log_lists_it(web: Page, account: Any) -> None:
    who: Account = await account()
    await login(web, who)
    await web.goto("/admin/api-keys")
    await web.page.get_by_test_id("new-api-key").click()
    dialog = web.page.get_by_role("dialog")
    await dialog.get_by_label("名称").fill("ERP 同步")
    await dialog.get_by_label("权限范围").first.click()
    await web.page.get_by_title("customer:read", exact=True).click()
    await dialog.get_by_label("名称").click()  # close the scope list
    await dialog.get_by_role("button", name="保 存").or_(dialog.get_by_role("button", name="保存")).click()
    secret = await web.page.get_by_test_id("api-key-secret").locator("code").inner_text()
    assert secret.startswith("huike_") and len(secret) > 30
    keys = web.page.get_by_test_id("api-keys")
    await keys.get_by_text("ERP 同步").wait_for()
    assert secret not in await keys.inner_text()
    await web.page.reload()  # the key is never shown again
    await keys.get_by_text("ERP 同步").wait_for()
    assert secret not in await web.page.content()
    await web.page.get_by_role("tab", name="审计日志").click()
    await web.page.get_by_test_id("audit-log").get_by_text("api_key.created").wait_for()


async def test_home_shows_approvals_waiting_and_the_department_charts(
    web: Page, account: Any, api: httpx.AsyncClient
) -> None:
    who: Account = await account()
    rep = await colleague(api, who, "张销售", ["sales"])
    _, name = await _approval(api, who, rep)
    customer = (await api.post("/api/v1/customers", headers=who.headers, json={"name": "图表客户"})).json()
    for channel in ("phone", "phone", "wechat"):
        made = await api.post("/api/v1/interactions", headers=who.headers, json={
            "customer_id": customer["id"], "channel": channel, "summary": "沟通"})
        assert made.status_code == 201, made.text
    objection = await api.post("/api/v1/objections", headers=who.headers, json={
        "customer_id": customer["id"], "category": "price", "severity": "low", "description": "价格太高"})
    assert objection.status_code == 201, objection.text
    await login(web, who)
    await web.page.get_by_test_id("home-approvals").get_by_role("link", name=name).wait_for()
    charts = web.page.get_by_test_id("manager-charts")
    await charts.get_by_text("客户异议：按类别和状态").wait_for()
    # ECharts describes each chart's data in its aria-label: what a screen reader (and this test) reads.
    objections = charts.get_by_test_id("chart-objections")
    await objections.locator("canvas").wait_for()
    described = await objections.get_attribute("aria-label") or ""
    assert "price" in described and "待处理" in described, described
    interactions = await charts.get_by_test_id("chart-interactions").get_attribute("aria-label") or ""
    assert "电话" in interactions and "2" in interactions and "微信" in interactions, interactions
    assert await charts.get_by_test_id("chart-pipeline").locator("canvas").count() == 1
    await web.screenshot("home-manager")


async def test_workflows_switch_off_and_show_a_run_with_its_steps(web: Page, account: Any, api: httpx.AsyncClient) -> None:
    who: Account = await account()
    made = await api.post("/api/v1/workflows", headers=who.headers, json={
        "name": "新客户打标签", "triggers": [{"type": "record.created", "entity": "customer"}],
        "steps": [{"type": "add_tags", "tags": ["新客"]}]})
    assert made.status_code == 201, made.text
    workflow = made.json()

    async def ran() -> bool:
        await api.post("/api/v1/customers", headers=who.headers, json={"name": f"流程客户 {uuid.uuid4().hex[:4]}"})
        runs = (await api.get(f"/api/v1/workflows/{workflow['id']}/runs", headers=who.headers)).json()["items"]
        return any(r["status"] == "succeeded" for r in runs)

    # The workflows service learns of the new workspace's user from events: a customer per try.
    await eventually(ran, timeout=20, what="a succeeded run")
    await login(web, who)
    await web.goto("/admin/workflows")
    row = web.page.get_by_test_id("workflows").get_by_role("row").filter(has_text="新客户打标签")
    await row.get_by_role("button", name="运行记录").click()
    runs = web.page.get_by_test_id("runs")
    await runs.get_by_text("成功").first.click()
    steps = web.page.get_by_test_id("run-steps")
    await steps.get_by_text("add_tags").wait_for()
    assert "成功" in await steps.inner_text()
    await web.page.keyboard.press("Escape")
    switch = row.get_by_role("switch")
    assert await switch.get_attribute("aria-checked") == "true"
    await switch.click()
    await eventually(lambda: _is(switch.get_attribute("aria-checked"), "false"), what="the switch off")
    now = (await api.get(f"/api/v1/workflows/{workflow['id']}", headers=who.headers)).json()
    assert now["enabled"] is False
