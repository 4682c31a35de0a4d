"""Saved views on the server and bulk actions through the API in the customers list (issue 16), in
real Chromium against the real stack: a saved view follows the user into a fresh browser, views this
browser kept move to the server once, a shared view is marked, bulk tag is one request
for the selection, and "export selected" downloads an export job of exactly those rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.conftest import Account, Page, login
from tests.web.test_console_work import customer

pytestmark = pytest.mark.slow


async def views_of(api: httpx.AsyncClient, who: Account) -> list[dict[str, Any]]:
    listed = await api.get("/api/v1/saved-views", params={"entity": "customer"}, headers=who.headers)
    assert listed.status_code == 200, listed.text
    return listed.json()["items"]


async def test_saved_view_lives_on_the_server_and_old_browser_views_move_there_once(
    web: Page, browser: Any, account: Any, api: httpx.AsyncClient,
) -> None:
    who: Account = await account()
    for name, tier in (("视图客户 甲", "A"), ("视图客户 乙", "A"), ("视图客户 丙", "B")):
        await customer(api, who, name, tier=tier)
    # A view this browser kept before views moved to the server (the former localStorage form).
    key = f"huike.views.customers.{who.tenant_id}.{who.user_id}"
    old = {"columns": ["lifecycle_stage", "owner", "tags"], "views": [{"name": "旧的 B 级", "query": "tier=B",
                                                                        "columns": ["tags"]}]}
    await login(web, who)
    await web.page.evaluate("([k, v]) => localStorage.setItem(k, v)", [key, json.dumps(old)])
    await web.goto("/customers?sort=name&tier=A")
    table = web.page.get_by_test_id("customer-table")
    await table.get_by_text("视图客户 乙").wait_for()
    assert await table.get_by_text("视图客户 丙").count() == 0
    await web.page.get_by_test_id("save-view").click()
    await web.page.get_by_test_id("bulk-input").fill("A 级客户")
    await web.page.get_by_role("button", name="确定", exact=True).click()
    await web.page.get_by_text("已保存").first.wait_for()

    saved = {v["name"]: v for v in await views_of(api, who)}
    assert set(saved) == {"A 级客户", "旧的 B 级"}
    assert (saved["A 级客户"]["filters"], saved["A 级客户"]["sort"]) == ({"tier": "A"}, "name")
    assert (saved["旧的 B 级"]["filters"], saved["旧的 B 级"]["columns"]) == ({"tier": "B"}, ["tags"])
    left = json.loads(await web.page.evaluate("(k) => localStorage.getItem(k)", key))
    assert left["views"] == [] and left["columns"] == old["columns"]  # the columns stay in this browser

    # A view shared with everyone is listed marked as shared; a private one is not.
    shared = await api.post("/api/v1/saved-views", headers=who.headers, json={
        "name": "全公司 B 级", "entity": "customer", "filters": {"tier": "B"}, "shared": "tenant"})
    assert shared.status_code == 201, shared.text

    # A fresh browser (no storage at all): the views come from the server.
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    fresh = Page(await context.new_page(), context, web.base, [], [])
    fresh.page.set_default_timeout(15_000)
    try:
        await login(fresh, who)
        await fresh.goto("/customers")
        other_table = fresh.page.get_by_test_id("customer-table")
        await other_table.get_by_text("视图客户 丙").wait_for()
        await fresh.page.get_by_test_id("saved-views").click()
        option = fresh.page.get_by_test_id(f"view-{shared.json()['id']}")
        await option.get_by_test_id("view-shared").wait_for()
        assert await fresh.page.get_by_test_id(f"view-{saved['A 级客户']['id']}").get_by_test_id("view-shared").count() == 0
        await fresh.page.get_by_title("A 级客户").click()
        await other_table.get_by_text("视图客户 丙").wait_for(state="detached")
        await other_table.get_by_text("视图客户 甲").wait_for()
        assert "tier=A" in fresh.page.url and "sort=name" in fresh.page.url
        await fresh.screenshot("customers-saved-views")
    finally:
        await context.close()


async def test_bulk_tag_is_one_request_and_export_selected_downloads_those_rows(
    web: Page, account: Any, api: httpx.AsyncClient,
) -> None:
    who: Account = await account()
    made = [await customer(api, who, f"批量标签 {i}") for i in range(4)]
    await login(web, who)
    await web.goto("/customers?sort=name")
    table = web.page.get_by_test_id("customer-table")
    await table.get_by_text("批量标签 3").wait_for()
    calls: list[str] = []
    web.page.on("request", lambda r: calls.append(f"{r.method} {r.url}") if "/api/v1/customers" in r.url
                and r.method != "GET" else None)
    rows = table.locator("tbody tr.ant-table-row")
    for i in range(3):
        await rows.nth(i).locator("input[type=checkbox]").check()
    await web.page.get_by_test_id("bulk-tag").click()
    await web.page.get_by_test_id("bulk-input").fill("季度重点")
    await web.page.get_by_role("button", name="确定", exact=True).click()
    progress = web.page.get_by_test_id("bulk-progress")
    await progress.get_by_text("成功 3 / 3").wait_for()
    await web.page.get_by_test_id("bulk-close").click()
    assert [c.split(" ")[0] + " " + c.split("/api/v1")[1] for c in calls] == ["POST /customers/bulk-tags"]
    await table.get_by_text("季度重点").nth(2).wait_for()
    assert await table.get_by_text("季度重点").count() == 3
    for c in made[:3]:
        assert "季度重点" in (await api.get(f"/api/v1/customers/{c['id']}", headers=who.headers)).json()["tags"]
    assert (await api.get(f"/api/v1/customers/{made[3]['id']}", headers=who.headers)).json()["tags"] == []

    # Export selected: an export job of the two chosen rows, downloaded when ready.
    await rows.nth(0).locator("input[type=checkbox]").check()
    await rows.nth(3).locator("input[type=checkbox]").check()
    async with web.page.expect_download(timeout=30_000) as waiting:
        await web.page.get_by_test_id("bulk-export").click()
    exported = Path(await (await waiting.value).path()).read_text(encoding="utf-8-sig")
    assert "批量标签 0" in exported and "批量标签 3" in exported
    assert "批量标签 1" not in exported and "批量标签 2" not in exported
    await progress.get_by_text("成功 2 / 2").wait_for()
