"""The workflow editor in real Chromium against the real stack: a workflow built through forms only
(no JSON typed), saved with its version, read back through the API, tried on a record (dry run),
changed to a new version that a run records, and the API's 422 on the field it names."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.shared.test_events import eventually
from tests.web.conftest import Account, Page, login

pytestmark = pytest.mark.slow

async def choose(web: Page, field: Any, option: str, *, search: bool = False) -> None:
    """Open an Ant Design select and pick the option titled ``option`` (typed first to filter)."""
    await field.click(force=True)  # the selected value covers the input
    if search:
        await field.fill(option)
    # The select's own dropdown (the one its combobox controls), not another one still closing.
    listbox = await field.get_attribute("aria-controls")
    dropdown = web.page.locator(".ant-select-dropdown", has=web.page.locator(f"[id='{listbox}']"))
    await dropdown.get_by_title(option, exact=True).click()


async def _objection(api: httpx.AsyncClient, who: Account) -> dict[str, Any]:
    customer = await api.post("/api/v1/customers", headers=who.headers, json={"name": f"华南精工 {uuid.uuid4().hex[:4]}"})
    assert customer.status_code == 201, customer.text
    objection = await api.post("/api/v1/objections", headers=who.headers, json={
        "customer_id": customer.json()["id"], "category": "price", "severity": "medium",
        "description": "报价比去年高 15%，客户要求重新核价"})
    assert objection.status_code == 201, objection.text
    return objection.json()


async def test_build_an_objection_workflow_through_forms_save_dry_run_and_version_it(
    web: Page, account: Any, api: httpx.AsyncClient
) -> None:
    who: Account = await account()
    objection = await _objection(api, who)
    await login(web, who)
    await web.goto("/admin/workflows")
    await web.page.get_by_role("button", name="新建工作流").click()
    editor = web.page.get_by_test_id("workflow-editor")
    await editor.get_by_role("heading", name="新建工作流").wait_for()
    await editor.get_by_label("名称").fill("高严重度异议 → 负责人跟进")

    # Trigger: an objection is updated, only when severity changes, and it becomes high.
    trigger = editor.get_by_test_id("trigger")
    await choose(web, trigger.get_by_role("combobox", name="触发方式"), "记录更新时")
    await choose(web, trigger.get_by_role("combobox", name="记录类型"), "客户异议")
    await choose(web, trigger.get_by_role("combobox", name="仅当这些字段变化时"), "severity", search=True)
    await web.page.keyboard.press("Escape")
    await choose(web, trigger.get_by_role("combobox", name="字段值条件"), "severity", search=True)
    await trigger.get_by_label("新值").fill("high")

    # Step: a task for the objection's owner, due in 4 business hours.
    step = editor.get_by_test_id("step").first
    await step.get_by_label("任务标题").fill("4 小时内回访：高严重度异议")
    await step.get_by_label("截止时间：触发后").fill("4")
    await choose(web, step.get_by_role("combobox", name="单位"), "小时")
    assert await step.get_by_role("checkbox", name="按工作时间计算").is_checked()
    await choose(web, step.get_by_role("combobox", name="执行人"), "记录的负责人 (record.owner_id)")
    await web.screenshot("workflow-editor")
    await editor.get_by_test_id("wf-save").click()
    await editor.get_by_test_id("wf-version").filter(has_text="v1").wait_for()
    workflow_id = web.page.url.rsplit("/", 1)[-1]

    # What the forms built is what the API keeps.
    saved = (await api.get(f"/api/v1/workflows/{workflow_id}", headers=who.headers)).json()
    assert saved["name"] == "高严重度异议 → 负责人跟进"
    assert saved["version"] == 1
    assert saved["triggers"] == [{"type": "record.updated", "entity": "objection", "fields": ["severity"],
                                  "condition": 'record.severity == "high"', "settle_seconds": 0}]
    assert saved["steps"] == [{"type": "create_task", "title": "4 小时内回访：高严重度异议", "description": None,
                               "due_in": "PT4H", "business_time": True, "assignee": "record.owner_id"}]

    # Dry run on the objection: the step says what it would create, for whom.
    dry = editor.get_by_test_id("dry-run")
    await choose(web, dry.get_by_role("combobox", name="试运行的记录"), f"medium · price · {objection['description']}")
    await dry.get_by_test_id("dry-run-go").click()
    result = dry.get_by_test_id("dry-run-steps")
    await result.get_by_text("创建任务").wait_for()
    text = await result.inner_text()
    assert "4 小时内回访：高严重度异议" in text and who.user_id in text and "due_at" in text, text
    assert objection["customer_id"] in text, text
    await web.screenshot("workflow-dry-run")

    # A change is a new version; a run records the version it ran.
    await step.get_by_label("截止时间：触发后").fill("8")
    await editor.get_by_test_id("wf-save").click()
    await editor.get_by_test_id("wf-version").filter(has_text="v2").wait_for()
    assert (await api.get(f"/api/v1/workflows/{workflow_id}", headers=who.headers)).json()["steps"][0]["due_in"] == "PT8H"
    changed = await api.patch(f"/api/v1/objections/{objection['id']}", headers=who.headers, json={"severity": "high"})
    assert changed.status_code == 200, changed.text

    async def a_run() -> Any:
        items = (await api.get(f"/api/v1/workflows/{workflow_id}/runs", headers=who.headers)).json()["items"]
        return items or None

    runs = await eventually(a_run, timeout=20, what="a run of the workflow")
    assert runs[0]["workflow_version"] == 2
    await web.page.reload()
    await editor.get_by_test_id("wf-runs").get_by_text("v2", exact=True).wait_for()
    # The form reads the saved workflow back as it was built.
    assert await editor.get_by_label("新值").input_value() == "high"
    assert await editor.get_by_test_id("step").first.get_by_label("截止时间：触发后").input_value() == "8"


async def test_a_bad_condition_shows_the_api_reason_on_its_field_and_a_webhook_secret_once(
    web: Page, account: Any, api: httpx.AsyncClient
) -> None:
    who: Account = await account()
    await login(web, who)
    await web.goto("/workflows/new")
    editor = web.page.get_by_test_id("workflow-editor")
    await editor.get_by_label("名称").fill("坏条件")
    trigger = editor.get_by_test_id("trigger")
    await choose(web, trigger.get_by_role("combobox", name="记录类型"), "客户异议")
    await trigger.get_by_label("条件（CEL，可选）").fill("record.severity ==")
    await editor.get_by_test_id("step").first.get_by_label("任务标题").fill("跟进")
    await editor.get_by_test_id("wf-save").click()
    explained = trigger.locator(".ant-form-item-explain-error")
    await explained.first.wait_for()
    # The very reason the API gives for this condition, in Chinese, under the condition's field.
    probe = await api.post("/api/v1/workflows", headers={**who.headers, "Accept-Language": "zh-CN"}, json={
        "name": "坏条件", "triggers": [{"type": "record.updated", "entity": "objection", "condition": "record.severity =="}],
        "steps": [{"type": "create_task", "title": "跟进"}]})
    assert probe.status_code == 422, probe.text
    reasons = [e["message"] for e in probe.json()["errors"] if e["field"] == "triggers[0].condition"]
    assert reasons, probe.text
    assert reasons[0] in await explained.first.inner_text()
    assert (await api.get("/api/v1/workflows", headers=who.headers)).json()["items"] == []
    await web.screenshot("workflow-bad-condition")

    # Fixed, with an inbound webhook: its address and secret are shown once, then never again.
    await trigger.get_by_label("条件（CEL，可选）").fill('record.severity == "high"')
    await editor.get_by_test_id("add-trigger").click()
    await web.page.get_by_role("menuitem", name="外部 Webhook").click()
    await editor.get_by_test_id("wf-save").click()
    secret = editor.get_by_test_id("wf-webhook")
    await secret.wait_for()
    shown = await secret.inner_text()
    workflow_id = web.page.url.rsplit("/", 1)[-1]
    assert f"/api/v1/workflow-hooks/{workflow_id}" in shown and "whsec_" in shown, shown
    await web.page.reload()
    await editor.get_by_test_id("wf-version").wait_for()
    assert await editor.get_by_test_id("wf-webhook").count() == 0
    assert "whsec_" not in await editor.inner_text()
    assert f"/api/v1/workflow-hooks/{workflow_id}" in await editor.inner_text()
