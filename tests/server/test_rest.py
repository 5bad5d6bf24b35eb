"""The REST API over real HTTP (httpx against uvicorn): catalog, quotes, proposals, deals, idempotent
acceptance, the operator's approval path, explain, records, health and schemas."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from .conftest import US_BUYER


def test_health_and_readiness(live_server):
    with live_server.client() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        r = c.get("/readyz")
        assert r.status_code == 200
        from agent.store.schema import SCHEMA_VERSION

        assert r.json()["schema_version"] == SCHEMA_VERSION and r.json()["status"] == "ready"


def test_schemas_are_served(live_server):
    with live_server.client() as c:
        r = c.get("/schemas/buyer-message.schema.json")
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/schema+json")
        assert r.json()["title"] == "dealdesk buyer message"
        assert c.get("/schemas/seller-message.schema.json").status_code == 200
        missing = c.get("/schemas/nope.json")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        assert c.get("/schemas/..%2Fpyproject.json").status_code == 404


def test_openapi_is_published(live_server):
    with live_server.client() as c:
        spec = c.get("/openapi.json").json()
    for path in ("/v1/catalog", "/v1/products/{sku}", "/v1/quotes", "/v1/proposals", "/v1/proposals/{proposal_id}",
                 "/v1/proposals/{proposal_id}/accept", "/v1/deals", "/v1/deals/{deal_id}", "/v1/pricing/explain",
                 "/v1/approvals", "/v1/approvals/{approval_id}/approve", "/v1/approvals/{approval_id}/reject",
                 "/v1/negotiations/{negotiation_id}/records"):
        assert path in spec["paths"], path
    assert spec["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"


def test_catalog_json_and_jsonld(live_server):
    with live_server.client("buyer_eu") as c:
        r = c.get("/v1/catalog")
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        products = {p["sku"]: p for p in r.json()["products"]}
        brg = products["BRG-6204"]
        assert "cost" not in brg and isinstance(brg["available"], str)
        assert brg["prices"]["EU-EUR"]["list"] == "3.50"
        assert all(isinstance(t["price"], str) and isinstance(t["min"], str) for t in brg["prices"]["EU-EUR"]["tiers"])
        ld = c.get("/v1/catalog", headers={"Accept": "application/ld+json"})
        assert ld.headers["content-type"].startswith("application/ld+json")
        assert ld.json()["@context"] == "https://schema.org" and len(ld.json()["@graph"]) == len(products)
        assert c.get("/v1/catalog.jsonld").json()["@graph"] == ld.json()["@graph"]
        found = c.get("/v1/catalog", params={"q": "bearing", "limit": 2}).json()["products"]
        assert 1 <= len(found) <= 2
        one = c.get("/v1/products/BRG-6204")
        assert one.json()["sku"] == "BRG-6204"
        one_ld = c.get("/v1/products/BRG-6204", params={"format": "jsonld"})
        assert one_ld.json()["@type"] == "Product" and one_ld.json()["offers"][0]["price"]
        one_ld2 = c.get("/v1/products/BRG-6204", headers={"Accept": "application/ld+json"})
        assert one_ld2.json()["@id"] == "urn:dealdesk:sku:BRG-6204"
        missing = c.get("/v1/products/NOPE-1")
        assert missing.status_code == 404 and missing.json()["error"] == {
            "type": "not_found_error", "code": "unknown_sku", "message": "unknown SKU 'NOPE-1'", "field": "sku"}
        typo = c.get("/v1/products/brg-6204")
        assert typo.status_code == 404
        assert typo.json()["error"]["message"] == "unknown SKU 'brg-6204'; did you mean BRG-6204?"
        quote = c.post("/v1/quotes", json={"items": [{"sku": "BRG 6205", "quantity": "5"}]})
        assert quote.status_code == 404 and quote.json()["error"]["field"] == "items.0.sku"
        assert quote.json()["error"]["message"].endswith("did you mean BRG-6205?")


def test_quotes_follow_the_key_region_and_segment(live_server):
    body = {"items": [{"sku": "BRG-6204", "quantity": "500"}, {"sku": "BRG-6204", "quantity": 20}]}
    with live_server.client("buyer_eu") as eu, live_server.client("buyer_us") as us:
        q_eu = eu.post("/v1/quotes", json=body)
        q_us = us.post("/v1/quotes", json=body)
        assert q_eu.status_code == 200 and q_us.status_code == 200, (q_eu.text, q_us.text)
        assert (q_eu.json()["currency"], q_eu.json()["segment"]) == ("EUR", "standard")
        assert (q_us.json()["currency"], q_us.json()["segment"]) == ("USD", "strategic")
        line = q_eu.json()["items"][0]
        assert line["quantity"] == "500" and all(isinstance(line[k], str) for k in
                                                 ("unit_price", "book_price", "line_total",
                                                  "discount_from_book_percent"))
        assert q_eu.json()["total"] == str(sum(__import__("decimal").Decimal(i["line_total"])
                                               for i in q_eu.json()["items"]))
        refused = eu.post("/v1/quotes", json={**body, "region": "US"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_authorized_for_region"
        cur = eu.post("/v1/quotes", json={**body, "currency": "USD"})
        assert cur.status_code == 422 and cur.json()["error"]["code"] == "unsupported_currency"
        sku = eu.post("/v1/quotes", json={"items": [{"sku": "NOPE", "quantity": 1}]})
        assert sku.status_code == 404 and sku.json()["error"]["field"] == "items.0.sku"
        terms = eu.post("/v1/quotes", json={**body, "payment_terms": "NET999"})
        assert terms.status_code == 422 and terms.json()["error"]["code"] == "payment_terms_not_allowed"
        too_many = eu.post("/v1/quotes", json={"items": [{"sku": "BRG-6204", "quantity": 30000}]})
        assert too_many.status_code == 422 and too_many.json()["error"]["code"] == "quantity_out_of_policy"
    with live_server.client("operator") as op:
        r = op.post("/v1/quotes", json={**body, "region": "EU", "segment": "distributor"})
        assert r.status_code == 200 and r.json()["segment"] == "distributor"
        assert op.post("/v1/quotes", json=body).json()["error"]["field"] == "region"


def test_quote_holds_nothing(live_server):
    store = live_server.ctx.seller.store
    before = store.stock("BRG-6205")
    with live_server.client("buyer_us") as c:
        assert c.post("/v1/quotes", json={"items": [{"sku": "BRG-6205", "quantity": 100}]}).status_code == 200
    assert store.stock("BRG-6205") == before


def test_proposals_and_versions(live_server, flow):
    nid, first = flow.rfq()
    second = flow.counter(nid, first, "3.00").data
    pid = first["proposal_id"]
    with live_server.client("buyer_eu") as c:
        listed = c.get("/v1/proposals").json()["data"]
        mine = [p for p in listed if p["proposal_id"] == pid]
        assert len(mine) == 1 and mine[0]["version"] == second["version"]
        assert all(p["buyer_org"] == "acme-eu" for p in listed)
        cur = c.get(f"/v1/proposals/{pid}").json()
        assert cur["version"] == second["version"] and cur["proposal"]["total"] == second["total"]
        assert cur["versions"] == list(range(1, second["version"] + 1))  # integers, as "version" is
        old = c.get(f"/v1/proposals/{pid}", params={"version": 1}).json()
        assert old["version"] == 1 and old["status"] == "superseded"
        assert c.get(f"/v1/proposals/{pid}", params={"version": 99}).status_code == 404
        assert c.get("/v1/proposals", params={"status": "superseded"}).status_code == 200
        neg = c.get(f"/v1/negotiations/{nid}").json()
        assert neg["status"] == "open" and neg["proposals"][0]["proposal_id"] == pid
        assert neg["turn"] == 2  # the rfq and the counter: an integer, as "version" and a decision's reply.turn are
    with live_server.client("operator") as op:  # operators see every organisation
        assert op.get(f"/v1/proposals/{pid}").status_code == 200


def _accept(c, pid, version, key=None):
    headers = {"Idempotency-Key": key} if key else {}
    return c.post(f"/v1/proposals/{pid}/accept", json={"version": version}, headers=headers)


def test_accept_is_idempotent_in_stripes_manner(live_server, flow):
    seen = []

    async def listener(nid, reply):
        seen.append((nid, reply.type))

    live_server.ctx.on_seller_turn(listener)
    try:
        nid, proposal = flow.rfq(quantity=40)
        pid, version = proposal["proposal_id"], proposal["version"]
        key = f"idem-{uuid.uuid4()}"
        with live_server.client("buyer_eu") as c:
            first = _accept(c, pid, version, key)
            assert first.status_code == 200, first.text
            deal = first.json()["deal"]
            assert deal["type"] == "deal" and deal["proposal_id"] == pid and deal["total"] == proposal["total"]
            again = _accept(c, pid, version, key)
            assert again.status_code == 200 and again.json() == first.json()
            assert again.headers.get("Idempotent-Replayed") == "true"
            other = _accept(c, pid, version + 1, key)
            assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
            # Without a key, accepting the same version again gives the same deal (the store's own idempotency).
            plain = _accept(c, pid, version)
            assert plain.status_code == 200 and plain.json()["deal"]["deal_id"] == deal["deal_id"]
            deals = c.get("/v1/deals").json()["data"]
            assert [d for d in deals if d["deal_id"] == deal["deal_id"]]
            got = c.get(f"/v1/deals/{deal['deal_id']}").json()
            assert got["deal"] == deal and got["total"] == deal["total"]
        # Keys are scoped per organisation: the same key text from another buyer is a fresh key.
        nid_us, prop_us = flow.rfq(US_BUYER, quantity=30)
        with live_server.client("buyer_us") as us:
            theirs = _accept(us, prop_us["proposal_id"], prop_us["version"], key)
            assert theirs.status_code == 200 and theirs.json()["deal"]["proposal_id"] == prop_us["proposal_id"]
        assert (nid, "deal") in seen and (nid_us, "deal") in seen  # published to the A2A layer
    finally:
        live_server.ctx.listeners.remove(listener)


def test_accept_in_flight_is_409(live_server, flow, monkeypatch):
    nid, proposal = flow.rfq(quantity=20)
    seller = live_server.ctx.seller
    real_send = seller.send
    entered = threading.Event()

    def slow_send(*a, **kw):
        entered.set()
        time.sleep(1.0)
        return real_send(*a, **kw)

    monkeypatch.setattr(seller, "send", slow_send)
    key = f"idem-{uuid.uuid4()}"
    results = {}

    def first():
        with live_server.client("buyer_eu") as c:
            results["first"] = _accept(c, proposal["proposal_id"], proposal["version"], key)

    t = threading.Thread(target=first)
    t.start()
    assert entered.wait(10)
    with live_server.client("buyer_eu") as c:
        second = _accept(c, proposal["proposal_id"], proposal["version"], key)
    t.join(15)
    assert second.status_code == 409, second.text
    assert second.json()["error"]["code"] == "idempotency_key_in_flight"
    assert results["first"].status_code == 200
    with live_server.client("buyer_eu") as c:  # once done, the retry is the replay
        third = _accept(c, proposal["proposal_id"], proposal["version"], key)
    assert third.status_code == 200 and third.json() == results["first"].json()


def test_accept_errors_are_enveloped_and_replayed(live_server, flow):
    who, buyer_key = flow.new_buyer()
    nid, first = flow.rfq(who, quantity=10)
    second = flow.counter(nid, first, "3.00").data
    assert second["type"] == "proposal", second
    key = f"idem-{uuid.uuid4()}"
    with live_server.client(buyer_key) as c:
        stale = _accept(c, first["proposal_id"], first["version"], key)
        assert stale.status_code == 409 and stale.json()["error"]["code"] == "proposal_superseded"
        assert stale.json()["error"]["field"] == "version"
        replay = _accept(c, first["proposal_id"], first["version"], key)
        assert replay.json() == stale.json() and replay.headers.get("Idempotent-Replayed") == "true"
        unknown = _accept(c, "P-NOPE", 1)
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_proposal"
        ok = _accept(c, second["proposal_id"], second["version"])
        assert ok.status_code == 200
        closed = _accept(c, second["proposal_id"], second["version"] + 1)
        assert closed.status_code == 404 and closed.json()["error"]["field"] == "version"
        long_key = _accept(c, second["proposal_id"], second["version"], "k" * 300)
        assert long_key.status_code in (400, 422) and long_key.json()["error"]["field"]


def test_approval_path_through_the_operator_endpoints(live_server, flow):
    who, key = flow.new_buyer()
    nid, proposal, approval = flow.pending_approval(who)
    assert proposal["status"] == "offered" and proposal["pending"]["items"][0]["unit_price"] == "2.70"
    with live_server.client("operator") as op, live_server.client(key) as buyer:
        pending = op.get("/v1/approvals", params={"status": "pending"}).json()["data"]
        row = next(a for a in pending if a["approval_id"] == approval.id)
        assert row["level"] == "manager" and row["negotiation_id"] == nid
        assert row["requested"]["moves"][0]["quantity"] == "500"
        assert op.get(f"/v1/approvals/{approval.id}").json()["status"] == "pending"
        # status=all, as the CLI and the console take it: every status, the same as no status
        every = op.get("/v1/approvals", params={"status": "all"})
        assert every.status_code == 200, every.text
        assert [a["approval_id"] for a in every.json()["data"]] == \
            [a["approval_id"] for a in op.get("/v1/approvals").json()["data"]]
        # The buyer sees the pending proposal but never the approval queue.
        assert buyer.get("/v1/approvals").status_code == 403
        decided = op.post(f"/v1/approvals/{approval.id}/approve", json={"note": "key account"})
        assert decided.status_code == 200, decided.text
        body = decided.json()
        assert body["approval"]["status"] == "approved" and body["approval"]["note"] == "key account"
        reply = body["reply"]["data"]
        assert reply["type"] == "proposal" and reply["status"] == "offered"
        assert reply["items"][0]["unit_price"] == "2.70" and reply["version"] == proposal["version"] + 1
        twice = op.post(f"/v1/approvals/{approval.id}/reject", json={})
        assert twice.status_code == 409 and twice.json()["error"]["code"] == "approval_not_pending"
        assert op.post("/v1/approvals/A-NOPE/approve").status_code == 404
        # The buyer accepts the approved figures over REST.
        accepted = _accept(buyer, reply["proposal_id"], reply["version"], f"idem-{uuid.uuid4()}")
        assert accepted.status_code == 200 and accepted.json()["deal"]["total"] == "1350.00"
        records = op.get(f"/v1/negotiations/{nid}/records").json()["data"]
        nodes = {r["node"] for r in records}
        assert {"understand", "prepare", "commit"} <= nodes
        assert any(r.get("dealdesk.approval.outcome") == "approved" for r in records)
        assert buyer.get(f"/v1/negotiations/{nid}/records").status_code == 403
        assert op.get("/v1/negotiations/neg-nope/records").status_code == 404
        # Every status the store writes can be listed, `canceled` (moot after a deal) included.
        for status in ("approved", "rejected", "edited", "canceled"):
            assert op.get("/v1/approvals", params={"status": status}).status_code == 200, status


def test_approval_reject_and_edit(live_server, flow):
    nid, proposal, approval = flow.pending_approval()
    with live_server.client("admin") as op:  # admin keys may do what operators do
        r = op.post(f"/v1/approvals/{approval.id}/reject", json={"note": "too deep"})
        assert r.status_code == 200, r.text
        assert r.json()["approval"]["status"] == "rejected"
        assert r.json()["reply"]["data"]["status"] == "offered"
        assert r.json()["reply"]["data"]["items"][0]["unit_price"] == proposal["items"][0]["unit_price"]
    nid, proposal, approval = flow.pending_approval()
    with live_server.client("operator") as op:
        other = op.post(f"/v1/approvals/{approval.id}/edit", json={"prices": {"BRG-9999": "2.80"}})
        assert other.status_code == 422 and other.json()["error"]["field"] == "prices.BRG-9999", other.text
        bad = op.post(f"/v1/approvals/{approval.id}/edit", json={"prices": {"BRG-6204": "0.10"}})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "prices.BRG-6204"
        for price, code in (("2.801", "malformed_message"), ("9999.00", "policy_refused")):  # not cents; above list
            worse = op.post(f"/v1/approvals/{approval.id}/edit", json={"prices": {"BRG-6204": price}})
            assert worse.status_code == 422 and worse.json()["error"]["code"] == code, worse.text
        edited = op.post(f"/v1/approvals/{approval.id}/edit", json={"prices": {"BRG-6204": "2.80"}})
        assert edited.status_code == 200, edited.text
        assert edited.json()["approval"]["status"] == "edited"
        assert edited.json()["reply"]["data"]["items"][0]["unit_price"] == "2.80"


def test_pricing_explain_is_the_decision_surface(live_server):
    with live_server.client("operator") as op:
        r = op.get("/v1/pricing/explain", params={"sku": "BRG-6204", "qty": 500, "region": "EU",
                                                  "segment": "standard"})
        assert r.status_code == 200, r.text
        s = r.json()
        assert s["currency"] == "EUR" and s["list_price"] == "3.25"
        assert (s["quantity"], s["max_hold_units"], s["pricing"]["stock"]) == ("500", "2400", "4800")  # units
        assert all(isinstance(b["min"], str) for b in s["pricing"]["brackets"]) and isinstance(s["max_rounds"], int)
        assert [lv["name"] for lv in s["levels"]] == ["auto", "manager", "director"]
        assert s["rule_ids"]["floor_price"] and s["explanation"]
        assert op.get("/v1/pricing/explain", params={"sku": "NOPE", "qty": 1}).status_code == 404
        bad_region = op.get("/v1/pricing/explain", params={"sku": "BRG-6204", "qty": 1, "region": "MARS"})
        assert bad_region.status_code in (403, 422) and bad_region.json()["error"]["code"]
        bad_segment = op.get("/v1/pricing/explain", params={"sku": "BRG-6204", "qty": 1, "segment": "vip"})
        assert bad_segment.status_code == 422 and bad_segment.json()["error"]["code"] == "unknown_segment"
        no_qty = op.get("/v1/pricing/explain", params={"sku": "BRG-6204"})
        assert no_qty.status_code == 422 and no_qty.json()["error"]["field"] == "qty"


@pytest.mark.parametrize("path", ["/v1/nope", "/v2/catalog"])
def test_unknown_paths_are_enveloped(live_server, path):
    with live_server.client("buyer_eu") as c:
        r = c.get(path)
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"


def test_wrong_method_is_enveloped(live_server):
    with live_server.client("buyer_eu") as c:
        r = c.delete("/v1/catalog")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_readiness_reports_unreachable_database_and_pending_migrations(tmp_path):
    from types import SimpleNamespace

    from sqlalchemy import create_engine, delete

    from agent.server.app import readiness
    from agent.store import Store
    from agent.store.schema import SCHEMA_VERSION, schema_version

    down = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/nope", connect_args={"connect_timeout": 1})
    ok, body = readiness(SimpleNamespace(seller=SimpleNamespace(store=SimpleNamespace(engine=down))))
    assert not ok and body["database"] == "unreachable"
    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    with store.engine.begin() as conn:
        conn.execute(delete(schema_version).where(schema_version.c.version == SCHEMA_VERSION))
    ok, body = readiness(SimpleNamespace(seller=SimpleNamespace(store=store)))
    assert not ok and body["status"] == "migrations_pending" and body["schema_version"] == SCHEMA_VERSION - 1
    store.dispose()


def test_rest_and_the_seller_name_accept_errors_alike(live_server, flow):
    """The same mistakes get the same codes over REST and in a message (the wire contract's error codes): a version
    the proposal never had is unknown_proposal; one awaiting the seller's approval is approval_pending."""
    who, buyer_key = flow.new_buyer()
    nid, first = flow.rfq(who, sku="MTR-IE3-1K1", quantity=5)  # motors: every offer awaits an operator
    assert first["status"] == "pending_approval"
    with live_server.client(buyer_key) as c:
        waiting = _accept(c, first["proposal_id"], first["version"])
        future = _accept(c, first["proposal_id"], first["version"] + 5)
    in_message = flow.seller.send(nid, data={"type": "accept", "proposal_id": first["proposal_id"],
                                             "version": first["version"]})
    future_message = flow.seller.send(nid, data={"type": "accept", "proposal_id": first["proposal_id"],
                                                 "version": first["version"] + 5})
    assert waiting.status_code == 409 and waiting.json()["error"]["code"] == in_message.data["code"] == \
        "approval_pending"
    assert future.status_code == 404 and future.json()["error"]["code"] == future_message.data["code"] == \
        "unknown_proposal"
    assert future_message.data["field"] == "version"


def test_accepting_an_expired_proposal_is_409(live_server, flow):
    import datetime as dt

    from sqlalchemy import update

    from agent.store import schema as t

    who, key = flow.new_buyer()
    _, proposal = flow.rfq(who, quantity=3)
    store = live_server.ctx.seller.store
    with store.engine.begin() as conn:
        conn.execute(update(t.proposals).where(t.proposals.c.id == proposal["proposal_id"])
                     .values(valid_until=dt.datetime(2000, 1, 1)))
    with live_server.client(key) as c:
        r = _accept(c, proposal["proposal_id"], proposal["version"], f"idem-{uuid.uuid4()}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "proposal_expired"


def test_a_quote_never_goes_under_the_price_the_seller_opens_at(live_server):
    """QA (pricing): segment and payment-term rules brought a distributor's BRG-6204 under its floor: the quote said
    2.87 while the bot's proposal opened at 2.90 (and showed a negative discount). The quote is the opening price."""
    import httpx

    _, text = live_server.ctx.keys.create("buyer", org="distco-quote", region="US", segment="distributor",
                                          currency="USD")
    body = {"items": [{"sku": "BRG-6204", "quantity": "2000"}], "payment_terms": "PREPAY"}
    q = httpx.post(f"{live_server.url}/v1/quotes", json=body, headers={"Authorization": f"Bearer {text}"}).json()
    line = q["items"][0]
    assert line["unit_price"] == "2.90" and line["line_total"] == "5800.00" and q["total"] == "5800.00", q
    assert line["book_price"] == "3.85" and line["discount_from_book_percent"] == "24.68"
    assert "list_price" not in line and "discount_percent" not in line  # one meaning per name: the proposal's


def test_a_buyer_quote_is_priced_today(live_server):
    """QA (pricing, security): a buyer key backdated `on` and got an expired promotion; operators still may."""
    import datetime as dt

    body = {"items": [{"sku": "SNS-PRX-M12", "quantity": "100"}]}
    with live_server.client("buyer_us") as us, live_server.client("operator") as op:
        refused = us.post("/v1/quotes", json={**body, "on": "2026-10-15"})
        assert refused.status_code == 422 and refused.json()["error"]["field"] == "on"
        today = dt.datetime.now(dt.UTC).date().isoformat()
        assert us.post("/v1/quotes", json={**body, "on": today}).status_code == 200
        assert op.post("/v1/quotes", json={**body, "on": "2026-10-15", "region": "US"}).status_code == 200


def test_every_response_says_nosniff(live_server):
    """QA (security): REST and A2A responses carried no X-Content-Type-Options (the console's pages did)."""
    import httpx

    with live_server.client("buyer_eu") as c:
        for r in (c.get("/v1/catalog", params={"limit": 1}), c.post("/v1/quotes", json={"items": []}),
                  c.get("/.well-known/agent-card.json"), httpx.get(f"{live_server.url}/v1/catalog")):
            assert r.headers.get("x-content-type-options") == "nosniff", (r.status_code, r.headers)


def test_an_operator_key_decides_up_to_its_approval_level(live_server, flow):
    """QA (operators): any operator key decided any level (a director-level request was approved by anyone). A key
    created with a level decides up to it in the product's chain (auto < manager < director); without one, any."""
    import httpx

    nid, proposal, approval = flow.pending_approval()
    assert approval.level == "manager"
    _, auto_only = live_server.ctx.keys.create("operator", label="junior", approval_level="auto")
    _, manager = live_server.ctx.keys.create("operator", label="mgr", approval_level="manager")
    refused = httpx.post(f"{live_server.url}/v1/approvals/{approval.id}/approve", json={},
                         headers={"Authorization": f"Bearer {auto_only}"})
    assert refused.status_code == 403, refused.text
    err = refused.json()["error"]
    assert err["code"] == "not_authorized_for_level" and err["field"] == "approval_id" and "manager" in err["message"]
    assert live_server.ctx.seller.store.get_approval(approval.id).status == "pending"  # nothing was decided
    ok = httpx.post(f"{live_server.url}/v1/approvals/{approval.id}/approve", json={},
                    headers={"Authorization": f"Bearer {manager}"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["approval"]["decided_by"].startswith("mgr (")
    live_server.ctx.seller.store.cancel_negotiation(nid)  # its stock back for later tests


def test_only_operator_keys_have_a_level(live_server):
    from agent.store.keys import ApiKeyError

    with pytest.raises(ApiKeyError) as refused:
        live_server.ctx.keys.create("buyer", org="x-level", region="EU", approval_level="manager")
    assert refused.value.field == "level"


def test_pricing_explain_says_when_the_price_is_lifted_to_the_floor(live_server):
    """The operator's explanation over REST says what `dealdesk price` says: the engine's 2.87 is lifted to 2.90."""
    with live_server.client("operator") as op:
        s = op.get("/v1/pricing/explain", params={"sku": "BRG-6204", "qty": 2000, "region": "US",
                                                  "segment": "distributor", "terms": "PREPAY"}).json()
    assert s["list_price"] == "2.90" and s["pricing"]["unit_price"] == "2.87"
    assert any(line.startswith("lifted to the vendor's minimum") for line in s["explanation"]), s["explanation"]


def test_a_request_filed_while_autonomy_is_paused_still_needs_its_discounts_level(live_server, flow):
    """QA re-test: with autonomy paused a request is filed at level "operator" (no chain has it); a key of level auto
    approved a 22% discount on it (a manager's) and a 33% one (a director's)."""
    import httpx

    from agent.store.autonomy import AutonomyStore

    switches = AutonomyStore(live_server.ctx.seller.store.engine)
    switches.set("product:BRG-6204", "approval_only", by="qa")
    try:
        from .conftest import APPROVAL_COUNTERS

        buyer, _ = flow.new_buyer()
        nid, proposal = flow.rfq(buyer)
        for price in APPROVAL_COUNTERS:  # the strategy's moves go down to a manager's discount
            reply = flow.counter(nid, proposal, price)
            proposal = reply.data if reply.data and reply.data.get("type") == "proposal" else proposal
        approval = live_server.ctx.seller.store.pending_approval(nid)
        assert approval is not None and approval.level == "operator"
        assert approval.requested["moves"][0]["approval_level"] in ("manager", "director")
        _, auto_only = live_server.ctx.keys.create("operator", label="junior-paused", approval_level="auto")
        refused = httpx.post(f"{live_server.url}/v1/approvals/{approval.id}/approve", json={},
                             headers={"Authorization": f"Bearer {auto_only}"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_authorized_for_level", \
            refused.text
        assert "for BRG-6204" in refused.json()["error"]["message"]
        live_server.ctx.seller.store.cancel_negotiation(nid)  # its stock back for later tests
    finally:
        switches.set("product:BRG-6204", "auto", by="qa")


def test_a_negotiation_of_a_buyer_with_no_currency_of_its_own_names_its_regions(live_server, flow):
    buyer, key = flow.new_buyer(currency=None)
    nid, proposal = flow.rfq(buyer, quantity=10)
    try:
        with live_server.client(key) as c:
            neg = c.get(f"/v1/negotiations/{nid}").json()
        assert neg["currency"] == proposal["currency"] == "EUR"
    finally:
        flow.seller.store.cancel_negotiation(nid)


def test_a_request_past_its_offers_validity_is_expired_on_rest_too(live_server, flow):
    """As `approvals list` and the console say it: a request pending past the validity of the offers it is about
    can no longer be decided (approving it is refused, approval_expired)."""
    import datetime as dt

    from sqlalchemy import update

    from agent.store import schema as t

    nid, _, approval = flow.pending_approval()
    try:
        with live_server.client("operator") as op:
            shown = op.get(f"/v1/approvals/{approval.id}").json()
            assert shown["status"] == "pending" and shown["expires_at"] > shown["requested_at"]
            assert approval.id in {a["approval_id"] for a in op.get("/v1/approvals?status=pending").json()["data"]}
            with flow.seller.store.engine.begin() as conn:
                conn.execute(update(t.approvals).where(t.approvals.c.id == approval.id).values(
                    requested_at=approval.requested_at - dt.timedelta(days=60)))
            shown = op.get(f"/v1/approvals/{approval.id}").json()
            now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            assert shown["status"] == "expired" and shown["expires_at"] < now, shown
            assert approval.id in {a["approval_id"] for a in op.get("/v1/approvals?status=expired").json()["data"]}
            pending = {a["approval_id"]: a for a in op.get("/v1/approvals?status=pending").json()["data"]}
            assert pending[approval.id]["status"] == "expired"  # not decided yet, and saying it can no longer be
            refused = op.post(f"/v1/approvals/{approval.id}/approve")
            assert refused.status_code == 409 and refused.json()["error"]["code"] == "approval_expired"
    finally:
        flow.seller.store.cancel_negotiation(nid)
