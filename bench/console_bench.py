"""The web console's figures: what the first page costs and how fast it becomes usable.

    python -m bench.console_bench            # builds web/dist if needed, starts the embedded default

Prints, from the built files: the JavaScript the first page loads (entry script and the chunks it
preloads; the login page and the home page each add one small lazy chunk) raw and gzipped, and
the largest lazy chunk. Then, in Debian's Chromium against ``huike run`` (cold cache: a new
browser context per run, so nothing is cached): for a returning user (refresh cookie present)
the time from navigation to the home page's heading being visible, and the browser's own
navigation timings; and the time for the customers list's 50 rows to render after their answer
arrived. Median of ``--runs`` (5).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import re
import statistics
import uuid
from pathlib import Path

import httpx

from bench.load import EmbeddedStack
from shared.http.console_build import DIST, build

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _gz(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), 9))


def first_page_js() -> tuple[int, int, list[str]]:
    index = (DIST / "index.html").read_text(encoding="utf-8")
    files = re.findall(r'(?:src|href)="/(assets/[^"]+\.js)"', index)
    raw = sum((DIST / f).stat().st_size for f in files)
    packed = sum(_gz(DIST / f) for f in files)
    return raw, packed, files


async def browser_figures(base: str, runs: int) -> dict[str, list[float]]:
    from playwright.async_api import async_playwright

    from tests.web.conftest import chromium_path

    suffix = uuid.uuid4().hex[:8]
    async with httpx.AsyncClient(base_url=base, timeout=30) as api:
        signup = await api.post("/api/v1/signup", json={
            "company_name": f"基准测试 {suffix}", "admin_email": f"b-{suffix}@example.com",
            "admin_password": "Correct-Horse-Battery-9", "admin_name": "基准", "slug": f"bench-{suffix}"})
        token = signup.json()["access_token"]
        for i in range(50):
            await api.post("/api/v1/customers", headers={"Authorization": f"Bearer {token}"},
                           json={"name": f"基准客户 {i:02d}", "phone": f"1380000{i:04d}"})
    figures: dict[str, list[float]] = {"home interactive (ms)": [], "DOMContentLoaded (ms)": [], "load (ms)": [],
                                       "50 rows rendered after their answer (ms)": []}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path(), args=FLAGS)
        for _ in range(runs):
            context = await browser.new_context()
            page = await context.new_page()
            await page.goto(f"{base}/login")
            await page.get_by_label("工作区标识").fill(f"bench-{suffix}")
            await page.get_by_label("邮箱").fill(f"b-{suffix}@example.com")
            await page.get_by_label("密码").fill("Correct-Horse-Battery-9")
            await page.get_by_role("button", name="登录").click()
            await page.get_by_role("heading", name="我的一天").wait_for()
            # A returning user: only the cookie survives; drop the HTTP cache and open the console.
            cdp = await context.new_cdp_session(page)
            await cdp.send("Network.clearBrowserCache")
            await page.goto(f"{base}/")
            await page.get_by_role("heading", name="我的一天").wait_for()
            seen = await page.evaluate("performance.now()")
            nav = await page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0])")
            timing = json.loads(nav)
            figures["home interactive (ms)"].append(seen)
            figures["DOMContentLoaded (ms)"].append(timing["domContentLoadedEventEnd"])
            figures["load (ms)"].append(timing["loadEventEnd"])
            # The list: from the end of the customers answer to the 50th row in the DOM, both read
            # in the page (no round trip to this script in between).
            await page.evaluate("""() => { window.__rows = new Promise((done) => {
                const seen = new MutationObserver(() => {
                    if (document.querySelectorAll('tbody tr.ant-table-row').length >= 50) {
                        seen.disconnect(); done(performance.now()); } });
                seen.observe(document.body, { childList: true, subtree: true }); }); }""")
            await page.get_by_text("客户", exact=True).first.click()
            rendered = await page.evaluate("window.__rows")
            answered = await page.evaluate("""performance.getEntriesByType('resource')
                .filter((e) => e.name.includes('/api/v1/customers?')).pop().responseEnd""")
            figures["50 rows rendered after their answer (ms)"].append(rendered - answered)
            await context.close()
        await browser.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    build()
    raw, packed, files = first_page_js()
    lazy = max((p for p in (DIST / "assets").glob("*.js") if f"assets/{p.name}" not in files), key=_gz)
    print("| figure | value |\n| --- | --- |")
    print(f"| first page JavaScript ({len(files)} files) | {raw / 1024:.0f} kB raw, {packed / 1024:.0f} kB gzipped |")
    print(f"| largest lazy chunk ({lazy.name}) | {_gz(lazy) / 1024:.0f} kB gzipped |")
    with EmbeddedStack() as stack:
        figures = asyncio.run(browser_figures(stack.base, args.runs))
    for name, values in figures.items():
        print(f"| {name}, median of {len(values)} | {statistics.median(values):.0f} |")


if __name__ == "__main__":
    main()
