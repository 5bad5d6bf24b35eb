"""The console end to end in a real headless Chromium (Debian's, under Playwright).

The main test negotiates over A2A as a buyer (official a2a-sdk client) until an approval is pending,
approves it in the browser as an operator, and checks over A2A (GetTask) that the buyer's task moved
on to the approved offer.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from a2a.client import ClientConfig, create_client
from a2a.types.a2a_pb2 import (
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    Task,
    TaskState,
)
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.struct_pb2 import Value

from .conftest import run_async, seed_block

COUNTERS = ("2.40", "2.50", "2.60", "2.68", "2.70")  # 500 x BRG-6204 in EU: pending at level manager


# --- A2A, as a buyer agent would -----------------------------------------------------------------


def _message(data: dict[str, Any], task: Task | None = None) -> Message:
    value = Value()
    ParseDict(data, value)
    return Message(message_id=uuid.uuid4().hex, role=Role.ROLE_USER, parts=[Part(data=value)],
                   task_id=task.id if task is not None else "", context_id=task.context_id if task is not None else "")


def _data(task: Task) -> dict[str, Any]:
    parts = [p for p in task.status.message.parts if p.WhichOneof("content") == "data"]
    assert parts, task
    return MessageToDict(parts[0].data)


def _artifact(task: Task, name: str) -> dict[str, Any] | None:
    for a in task.artifacts:
        if a.name == name:
            return MessageToDict(a.parts[0].data)
    return None


async def _client(url: str, key: str) -> Any:
    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
    return await create_client(url, ClientConfig(httpx_client=http, streaming=False))


async def _send(client: Any, msg: Message) -> Task:
    events = [ev async for ev in client.send_message(SendMessageRequest(message=msg))]
    assert len(events) == 1 and events[0].HasField("task"), events
    return events[0].task


async def negotiate_to_approval(url: str, key: str) -> tuple[Task, dict[str, Any]]:
    """RFQ 500 x BRG-6204, then the counter-offers: the last proposal awaits approval."""
    client = await _client(url, key)
    try:
        task = await _send(client, _message({"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "500"}]}))
        proposal = _data(task)
        for price in COUNTERS:
            counter = {"type": "counter_offer", "proposal_id": proposal["proposal_id"], "version": proposal["version"],
                       "items": [{"sku": i["sku"], "quantity": i["quantity"], "unit_price": price}
                                 for i in proposal["items"]]}
            task = await _send(client, _message(counter, task))
            proposal = _data(task)
            assert proposal["type"] == "proposal", proposal
        return task, proposal
    finally:
        await client.close()


async def get_task(url: str, key: str, task_id: str) -> Task:
    client = await _client(url, key)
    try:
        return await client.get_task(GetTaskRequest(id=task_id))
    finally:
        await client.close()


def sign_in(page: Any, key: str) -> None:
    page.goto("/console/approvals")
    assert "/console/login" in page.url  # not signed in: sent to the login page
    page.fill("#api_key", key)
    page.click("#login-form button[type=submit]")


# --- tests -----------------------------------------------------------------------------------------


def test_approve_in_the_browser_moves_the_buyers_a2a_task(page: Any, console_server: Any, flow: Any) -> None:
    server = console_server
    buyer, key = flow.new_buyer()  # a fresh EU organisation: no memory bends the strategy
    task, proposal = run_async(negotiate_to_approval(server.url, key))
    # the standing offer may be accepted (offered) while the better one awaits approval (pending)
    assert proposal["status"] == "offered" and proposal["pending"]
    assert task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    approval = server.ctx.seller.store.pending_approval(task.id)  # the task id is the negotiation id
    assert approval is not None and approval.buyer_org == buyer["org"]

    sign_in(page, server.keys["operator"])
    page.wait_for_url(re.compile(r"/console/approvals$"))
    assert page.locator("#nav-approvals .badge").inner_text().strip() != ""
    row = page.locator(f"tr[data-approval='{approval.id}']")
    assert "2.70" in row.inner_text() and buyer["org"] in row.inner_text()
    row.locator("a.approval-link").click()
    page.wait_for_url(re.compile(rf"/console/approvals/{approval.id}$"))
    assert "pending" in page.locator("h1").inner_text()
    page.fill("#approve-note", "good customer <ok>")
    page.click("#approve")

    page.wait_for_url(re.compile(rf"/console/approvals/{approval.id}\?done=approve$"))
    assert "Approved" in page.locator("#flash").inner_text()
    assert "approved" in page.locator("h1").inner_text()
    decided = page.locator("#decided").inner_text()
    assert "demo operator" in decided
    assert "good customer <ok>" in page.locator(".note").inner_text()  # shown as text, escaped
    assert page.locator("#approve").count() == 0  # decided: no more buttons

    got = run_async(get_task(server.url, key, task.id))
    after = _data(got)
    assert after["type"] == "proposal" and after["status"] == "offered"
    assert after["proposal_id"] == proposal["proposal_id"] and after["version"] > proposal["version"]
    assert [i["unit_price"] for i in after["items"]] == ["2.70"]
    assert got.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    assert _artifact(got, "proposal")["version"] == after["version"]
    assert page.locator("#current-version").inner_text() == str(int(after["version"]))  # the page saw it too
    stored = server.ctx.seller.store.get_approval(approval.id)
    assert stored.status == "approved" and stored.note == "good customer <ok>" and "demo operator" in stored.decided_by


def test_a_buyer_key_gets_no_access(page: Any, console_server: Any) -> None:
    sign_in(page, console_server.keys["buyer_eu"])
    assert page.locator("#forbidden").inner_text() == "No access"
    assert "buyer key" in page.content()
    assert not [c for c in page.context.cookies() if c["name"] == "dd_console"]
    page.goto("/console/deals")
    assert "/console/login" in page.url  # still signed out
    page.fill("#api_key", "dd_operator_not_a_real_key_000000000000")
    page.click("#login-form button[type=submit]")
    assert "not valid" in page.locator("#login-error").inner_text()


def test_deals_timeline_chart_blocks_and_sign_out(page: Any, console_server: Any, flow: Any) -> None:
    server = console_server
    nid, _, approval = flow.pending_approval()
    org = server.ctx.seller.store.get_negotiation(nid).buyer_org
    seed_block(server, nid, message="<script>alert('m')</script> named the floor",
               draft="Our floor is 2.65 <img src=x onerror=alert('d')>")

    sign_in(page, server.keys["operator"])
    page.wait_for_url(re.compile(r"/console/approvals$"))
    page.click("header nav >> text=Deals")
    page.wait_for_url(re.compile(r"/console/deals$"))
    page.fill("#f-buyer", org)
    page.select_option("#f-blocked", "yes")
    page.click("#deal-filters button[type=submit]")
    page.wait_for_url(re.compile(r"/console/deals\?"))
    rows = page.locator("#deals tbody tr")
    assert rows.count() == 1 and rows.first.get_attribute("data-negotiation") == nid
    assert "1 pending" in rows.first.inner_text()
    rows.first.locator("a.deal-link").click()

    page.wait_for_url(re.compile(rf"/console/deals/{nid}$"))
    chart = page.locator("svg.concession-chart")
    assert chart.count() == 1 and chart.is_visible()
    assert chart.get_attribute("data-rounds") == "6"
    for series in ("offer", "list_price", "target", "floor", "buyer_bid"):
        assert chart.locator(f"g[data-series='{series}'] polyline").count() == 1, series
    assert chart.locator("g[data-series='offer'] circle").count() == 6
    offer_points = chart.locator("g[data-series='offer'] polyline").get_attribute("points").split()
    assert len(offer_points) == 6
    box = chart.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 150  # drawn, not collapsed
    assert "list 3.25" in chart.text_content() and "floor 2.65" in chart.text_content()
    assert page.locator("#timeline section.turn").count() >= 6
    assert page.locator("#timeline section.turn.blocked").count() == 1
    assert approval.id in page.locator("#deal-approvals").inner_text()

    page.click("header nav >> text=Guardrail blocks")
    page.wait_for_url(re.compile(r"/console/blocks$"))
    table = page.locator("#blocks").inner_text()
    assert "<script>alert('m')</script> named the floor" in table  # the text, not a script
    assert "<img src=x onerror=alert('d')>" in table
    assert page.locator("#blocks img, #blocks script").count() == 0

    page.click("header nav >> text=Autonomy")
    assert "motors" in page.locator("#autonomy").inner_text()

    page.click("#logout")
    page.wait_for_url(re.compile(r"/console/login$"))
    page.goto("/console/deals")
    assert "/console/login" in page.url
