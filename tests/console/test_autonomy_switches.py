"""The autonomy page: the operators' runtime switches in force, set and cleared from the console."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agent.service import Buyer
from agent.store.autonomy import AUDIT_CONVERSATION, AutonomyStore

from .conftest import csrf_of, fresh_org, login

RFQ = {"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "500"}]}


@pytest.fixture()
def switches(console_server: Any) -> Iterator[AutonomyStore]:
    """The server's switches, all cleared again after the test (the package shares one server)."""
    store = AutonomyStore(console_server.ctx.seller.store.engine)
    try:
        yield store
    finally:
        for scope in store.switches():
            store.set(scope, "auto", by="test cleanup")


def token(c: httpx.Client) -> str:
    return csrf_of(c.get("/console/autonomy").text)


def test_the_page_lists_the_switches_in_force(console_server: Any, switches: AutonomyStore) -> None:
    """As `dealdesk autonomy pause --mode shadow --sku BRG-6204` leaves them: scope, mode, who, when, note."""
    c = login(console_server)
    page = c.get("/console/autonomy")
    assert page.status_code == 200 and 'id="no-switches"' in page.text
    assert "not available yet" not in page.text
    s = switches.set("product:BRG-6204", "shadow", by="cli lead", note="price <review>")
    switches.set("category:motors", "approval_only", by="night shift")
    page = c.get("/console/autonomy")
    assert page.status_code == 200 and "not available yet" not in page.text
    assert 'data-scope="product:BRG-6204" data-mode="shadow"' in page.text
    assert 'data-scope="category:motors" data-mode="approval_only"' in page.text and "approval-only" in page.text
    assert "cli lead" in page.text and "night shift" in page.text
    assert f"{s.set_at}Z" in page.text  # when, as the CLI says an instant (UTC, Z)
    assert "price &lt;review&gt;" in page.text and "price <review>" not in page.text
    assert 'id="autonomy"' in page.text and "motors" in page.text  # what the policy allows is still shown
    c.close()


def test_an_operator_sets_and_clears_a_switch_and_the_buyer_sees_it(console_server: Any, flow: Any,
                                                                    switches: AutonomyStore) -> None:
    store = console_server.ctx.seller.store
    seller = console_server.ctx.seller
    before = len(store.records(AUDIT_CONVERSATION))
    c = login(console_server)
    r = c.post("/console/autonomy", data={"csrf": token(c), "level": "product", "sku": "brg-6204", "category": "",
                                          "mode": "shadow", "note": "price review"})
    assert r.status_code == 303 and r.headers["location"] == "/console/autonomy?done=set", r.text
    assert switches.switches() == {"product:BRG-6204": "shadow"}
    (row,) = switches.list()
    assert "demo operator" in row.set_by and row.note == "price review"
    page = c.get(r.headers["location"])
    assert 'id="flash"' in page.text and 'data-scope="product:BRG-6204" data-mode="shadow"' in page.text
    records = store.records(AUDIT_CONVERSATION)[before:]
    assert [(x["dealdesk.autonomy.scope"], x["dealdesk.autonomy.mode"]) for x in records] == \
        [("product:BRG-6204", "shadow")]

    nid = seller.start(Buyer(org=fresh_org(), region="EU"))
    held = seller.send(nid, data=RFQ)
    assert held.data is None  # shadow: no figure reached the buyer, an operator sends

    r = c.post("/console/autonomy/clear", data={"csrf": token(c), "scope": "product:BRG-6204"})
    assert r.status_code == 303 and r.headers["location"] == "/console/autonomy?done=cleared"
    assert switches.switches() == {}
    assert 'id="no-switches"' in c.get(r.headers["location"]).text
    nid = seller.start(Buyer(org=fresh_org(), region="EU"))
    assert seller.send(nid, data=RFQ).data["status"] == "offered"
    r = c.post("/console/autonomy/clear", data={"csrf": token(c), "scope": "product:BRG-6204"})
    assert r.status_code == 409 and "No switch is in force" in r.text

    # a category and global; `auto` from the set form clears too
    r = c.post("/console/autonomy", data={"csrf": token(c), "level": "category", "category": "motors",
                                          "mode": "approval-only"})
    assert r.status_code == 303 and switches.switches() == {"category:motors": "approval_only"}
    r = c.post("/console/autonomy", data={"csrf": token(c), "level": "global", "mode": "approval_only"})
    assert r.status_code == 303 and switches.switches()["global"] == "approval_only"
    r = c.post("/console/autonomy", data={"csrf": token(c), "level": "global", "mode": "auto"})
    assert r.status_code == 303 and r.headers["location"].endswith("done=cleared")
    assert switches.switches() == {"category:motors": "approval_only"}
    c.close()

    admin = login(console_server, console_server.keys["admin"])  # admin > operator
    r = admin.post("/console/autonomy/clear", data={"csrf": token(admin), "scope": "category:motors"})
    assert r.status_code == 303 and switches.switches() == {}
    admin.close()


@pytest.mark.parametrize(("data", "status", "says"), [
    ({"level": "product", "sku": "NOPE-1"}, 422, "no product with SKU &#39;NOPE-1&#39;"),
    ({"level": "category", "category": "widgets<b>"}, 422, "no category &#39;widgets&lt;b&gt;&#39;"),
    ({"level": "category"}, 422, "Choose the category"),
    ({"level": "product"}, 422, "Give the SKU"),
    ({"level": "product", "sku": "BRG-6204", "category": "bearings"}, 422, "not both"),
    ({"level": "global", "sku": "BRG-6204"}, 422, "leave the category and the SKU empty"),
    ({"level": "everything"}, 422, "Choose what the switch applies to"),
    ({"level": "product", "sku": "BRG-6204", "mode": "off"}, 422, "the mode is one of"),
    ({"level": "product", "sku": "BRG-6204", "note": "x" * 2001}, 422, "longer than"),
])
def test_a_switch_the_catalog_does_not_know_is_refused(console_server: Any, switches: AutonomyStore,
                                                       data: dict[str, str], status: int, says: str) -> None:
    c = login(console_server)
    r = c.post("/console/autonomy", data={"csrf": token(c), "mode": "shadow", **data})
    assert r.status_code == status and says in r.text, r.text[-3000:]
    assert 'id="flash-error"' in r.text and "widgets<b>" not in r.text
    assert switches.switches() == {}  # nothing was set
    c.close()


def test_switches_need_a_session_and_the_token(console_server: Any, switches: AutonomyStore) -> None:
    with httpx.Client(base_url=console_server.url, follow_redirects=False, timeout=30) as anon:
        for path in ("/console/autonomy", "/console/autonomy/clear"):
            r = anon.post(path, data={"csrf": "x", "level": "global", "mode": "shadow", "scope": "global"})
            assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
    switches.set("global", "approval_only", by="lead")
    c = login(console_server)
    good = token(c)
    for path in ("/console/autonomy", "/console/autonomy/clear"):
        for data, headers in (({"csrf": "forged"}, {}), ({}, {}), ({"csrf": good}, {"Origin": "http://evil.example"})):
            r = c.post(path, data={**data, "level": "global", "mode": "shadow", "scope": "global"}, headers=headers)
            assert r.status_code == 403 and "CSRF" in r.text, (path, data, headers)
    assert switches.switches() == {"global": "approval_only"}  # nothing changed
    c.close()
