"""The console's test setup: one live server (in-process uvicorn, fresh SQLite, demo keys) for these
tests, a few helpers, and a headless Chromium from the system packages driven by Playwright.

The browser is Debian's `/usr/bin/chromium` (`make test` installs it with apt-get when missing),
launched through Playwright's `executable_path`; there is never a browser download. Under CI=true a
missing browser or Playwright fails the run; elsewhere the browser tests skip, saying why.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from server.conftest import (  # tests/server/conftest.py
    Flow,
    LiveServer,
    start_in_process,
)

CHROMIUM = os.environ.get("DEALDESK_CHROMIUM", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="package")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own (the tests approve and reject, so they do not share the A2A tests' one)."""
    db = tmp_path_factory.mktemp("console") / "dealdesk.db"
    live, running = start_in_process(f"sqlite:///{db}", rate_per_second=1000.0, rate_burst=2000)
    try:
        yield live
    finally:
        running.stop()


@pytest.fixture()
def flow(console_server: LiveServer) -> Iterator[Flow]:
    """The package's tests share one server and its stock (the browser tests too, in CI): every negotiation a test
    opened through the flow is canceled after it, so its holds go back (a deal keeps its allocation)."""
    f = Flow(console_server.ctx)
    yield f
    store = console_server.ctx.seller.store
    for nid in f.opened:
        neg = store.get_negotiation(nid)
        if neg is not None and neg.status == "open":
            store.cancel_negotiation(nid)


def new_operator(server: LiveServer, label: str = "test operator") -> tuple[Any, str]:
    return server.ctx.keys.create("operator", label=label)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, html[:2000]
    return m.group(1)


def login(server: LiveServer, key: str | None = None) -> httpx.Client:
    """An httpx client signed in to the console (the operator demo key by default)."""
    c = httpx.Client(base_url=server.url, follow_redirects=False, timeout=30)
    page = c.get("/console/login")
    r = c.post("/console/login", data={"csrf": csrf_of(page.text), "api_key": key or server.keys["operator"],
                                       "next": "/console/approvals"})
    assert r.status_code == 303, r.text
    return c


def run_async(coro: Any) -> Any:
    """Run a coroutine to the end on a fresh event loop in another thread (Playwright's sync API owns this one)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=120)


def seed_block(server: LiveServer, negotiation_id: str, *, message: str, draft: str, turn: int = 1) -> None:
    """A guardrail block as the graph records it (a tripwire with its violations and the stopped draft)."""
    server.ctx.seller.store.add_records([{
        "event": "decision", "node": "guardrail", "turn": turn, "gen_ai.conversation.id": negotiation_id,
        "gen_ai.operation.name": "guardrail", "gen_ai.guardrail.name": "dealdesk.guardrail",
        "gen_ai.guardrail.tripwire": True, "dealdesk.rule_ids": ["guardrail.no_floor_disclosure"],
        "gen_ai.guardrail.violations": [{"rule_id": "guardrail.no_floor_disclosure", "code": "leak",
                                         "message": message, "field": "text"}],
        "dealdesk.draft": {"text": draft, "data": {"type": "proposal"}},
    }])


# --- the browser -------------------------------------------------------------------------------


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (pip install -e '.[dev]')"
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} is missing (apt-get install -y chromium; `make test` does it as root)"
    return None


@pytest.fixture(scope="package")  # stopped after these tests: Playwright's loop must not outlive them
def chromium() -> Iterator[Any]:
    """Headless Chromium (the system's) under Playwright; skips outside CI when it is not there."""
    why = _browser_missing()
    if why is not None:
        if IN_CI:
            pytest.fail(f"browser tests must run under CI: {why}", pytrace=False)
        print(f"\nconsole browser tests skipped: {why}")
        pytest.skip(f"browser tests skipped: {why}")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
    except Exception:
        pw.stop()
        raise
    try:
        yield browser
    finally:
        browser.close()
        pw.stop()


@pytest.fixture()
def page(chromium: Any, console_server: LiveServer) -> Iterator[Any]:
    """A fresh browser context (no cookies) and page; fails the test on any JavaScript dialog."""
    context = chromium.new_context(base_url=console_server.url)
    context.set_default_timeout(15_000)
    pg = context.new_page()
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        yield pg
    finally:
        context.close()
    assert not dialogs, f"a script ran in the console: {dialogs}"


def fresh_org() -> str:
    return f"org-{secrets.token_hex(4)}"
