"""The web console against the real stack: the built console served by the test app (the same
``create_app`` as ``huike run``) on a real port, driven by Debian's Chromium through Playwright.

Chromium comes from the system (``make test`` installs Debian's package where it may); Playwright's
own browser downloads are never used. Without Chromium the browser tests skip and say why.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
PASSWORD = "Correct-Horse-Battery-9"


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def console_dir() -> Path:
    """web/dist, built now if needed (``make test`` has built it already: this is then a no-op)."""
    from shared.http.console_build import DIST, BuildError, build

    try:
        build()
    except BuildError as exc:
        pytest.fail(f"the web console could not be built: {exc}")
    return DIST


@pytest.fixture(scope="session")
def console_app(runtime: Any, console_dir: Path) -> Any:
    from shared.http import create_app

    return create_app(runtime, manage_runtime=False)


@dataclass
class LiveServer:
    url: str


@pytest.fixture(scope="session")
async def live_server(console_app: Any) -> AsyncIterator[LiveServer]:
    """The app on a real loopback port, in the tests' own event loop (it shares their runtime)."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(console_app, host="127.0.0.1", port=port, log_config=None,
                                           lifespan="off", server_header=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    yield LiveServer(f"http://127.0.0.1:{port}")
    server.should_exit = True
    await task


@pytest.fixture(scope="session")
async def browser(live_server: LiveServer) -> AsyncIterator[Any]:
    executable = chromium_path()
    if executable is None:
        pytest.skip("no chromium on this machine (make test installs Debian's package when run as root with apt-get)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install -e '.[test]')")
    playwright = await async_playwright().start()
    launched = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
    yield launched
    await launched.close()
    await playwright.stop()


@dataclass
class Page:
    """A fresh browser context (no cookies, no storage) with one page, and what went wrong in it."""

    page: Any
    context: Any
    base: str
    csp_violations: list[str]
    page_errors: list[str]

    async def goto(self, path: str) -> None:
        await self.page.goto(self.base + path)

    async def screenshot(self, name: str) -> None:
        """The README's screenshots are refreshed with HUIKE_UPDATE_SCREENSHOTS=1; otherwise the
        page is still captured (the call must work) but into a temporary folder, so a test run
        leaves the checkout clean."""
        folder = SCREENS if os.environ.get("HUIKE_UPDATE_SCREENSHOTS") == "1" else FAILURES.parent / "huike-web-screens"
        folder.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(folder / f"{name}.png"))


class InFlight:
    """The page's requests still running, the live notifications stream left out: it stays open
    for good, so Playwright's "networkidle" never comes once the bell listens."""

    def __init__(self, page: Any) -> None:
        self.open: set[Any] = set()
        page.on("request", lambda r: self.open.add(r) if "/notifications/stream" not in r.url else None)
        page.on("requestfinished", lambda r: self.open.discard(r))
        page.on("requestfailed", lambda r: self.open.discard(r))

    async def settled(self, quiet: float = 0.5, timeout: float = 15.0) -> None:
        """Wait until no request has run for ``quiet`` seconds."""
        loop = asyncio.get_running_loop()
        deadline, calm_since = loop.time() + timeout, None
        while True:
            now = loop.time()
            if self.open:
                calm_since = None
            elif calm_since is None:
                calm_since = now
            elif now - calm_since >= quiet:
                return
            if now > deadline:
                raise AssertionError(f"requests still running after {timeout} s: {[r.url for r in self.open]}")
            await asyncio.sleep(0.05)


FAILURES = Path(tempfile.gettempdir()) / "huike-web-failures"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.failed_call = report.failed  # type: ignore[attr-defined]


@pytest.fixture
async def web(browser: Any, live_server: LiveServer, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = await context.new_page()
    page.set_default_timeout(15_000)
    found = Page(page, context, live_server.url, [], [])
    page.on("console", lambda msg: found.csp_violations.append(msg.text)
            if "Content Security Policy" in msg.text else None)
    page.on("pageerror", lambda exc: found.page_errors.append(str(exc)))
    yield found
    if getattr(request.node, "failed_call", False):  # what the page showed when the test failed
        FAILURES.mkdir(exist_ok=True)
        shot = FAILURES / f"{request.node.name}.png"
        await page.screenshot(path=str(shot))
        print(f"screenshot of the failure: {shot}; page errors: {found.page_errors}; CSP: {found.csp_violations}")
    await context.close()
    # Every journey runs under the strict CSP without a violation and without a script error.
    assert found.csp_violations == [], found.csp_violations
    assert found.page_errors == [], found.page_errors


@dataclass
class Account:
    slug: str
    email: str
    password: str
    access_token: str
    tenant_id: str
    user_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


@pytest.fixture
async def api(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as client:
        yield client


@pytest.fixture
def account(api: httpx.AsyncClient) -> Any:
    async def make(company: str | None = None) -> Account:
        suffix = uuid.uuid4().hex[:8]
        email = f"rep-{suffix}@example.com"
        answer = await api.post("/api/v1/signup", json={
            "company_name": company or f"浏览器测试 {suffix}", "admin_email": email, "admin_password": PASSWORD,
            "admin_name": "王销售", "slug": f"web-{suffix}",
        })
        assert answer.status_code == 201, answer.text
        body = answer.json()
        return Account(body["tenant"]["slug"], email, PASSWORD, body["access_token"], body["tenant"]["id"],
                       body["user"]["id"])

    return make


async def login(web: Page, who: Account) -> None:
    """Log in through the login page, as a person would."""
    await web.goto("/login")
    await web.page.get_by_label("工作区标识").fill(who.slug)
    await web.page.get_by_label("邮箱").fill(who.email)
    await web.page.get_by_label("密码").fill(who.password)
    await web.page.get_by_test_id("login-submit").click()
    await web.page.get_by_role("heading", name="我的一天").wait_for()
