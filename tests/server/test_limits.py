"""Limits over real HTTP: body cap counted on the stream, JSON depth, huge documents, over-long text,
thousands of items, malformed JSON, wrong types, the per-key rate limit and the turn timeout.
Every refusal is the error envelope, and the server keeps serving afterwards."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from urllib.parse import urlparse

import pytest

from agent.server.limits import LimitsMiddleware, TokenBucket, json_depth_exceeds

MB = 1_000_000


def _envelope(r, status, code=None, field=None):
    assert r.status_code == status, r.text[:500]
    if r.request.url.path in ("/", "/a2a"):  # the JSON-RPC endpoint: a JSON-RPC error, the envelope in its data
        body = r.json()
        assert body["jsonrpc"] == "2.0" and body["id"] is None and isinstance(body["error"]["code"], int), body
        assert body["error"]["code"] == {400: -32600, 413: -32600}.get(status, -32000), body
        assert body["error"]["data"]["status"] == status
        err = {**{k: v for k, v in body["error"]["data"].items() if k != "status"}, "message": body["error"]["message"]}
    else:
        err = r.json()["error"]
    assert set(err) == {"type", "code", "message", "field"}
    if code is not None:
        assert err["code"] == code, err
    if field is not None:
        assert err["field"] == field, err
    return err


def _alive(live_server):
    with live_server.client("buyer_eu") as c:
        assert c.get("/healthz").status_code == 200
        assert c.post("/v1/quotes", json={"items": [{"sku": "BRG-6204", "quantity": 1}]}).status_code == 200


@pytest.fixture()
def buyer(live_server):
    with live_server.client("buyer_eu") as c:
        yield c
    _alive(live_server)


# --- body size ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/quotes", "/", "/v1/proposals/P-X/accept"])
def test_oversized_body_with_content_length_is_413(live_server, buyer, path):
    body = b'{"items": [' + b'{"sku": "BRG-6204", "quantity": 1},' * 40_000 + b'{}]}'
    assert len(body) > MB
    r = buyer.post(path, content=body, headers={"Content-Type": "application/json"})
    _envelope(r, 413, "request_too_large")


def test_oversized_streamed_body_without_content_length_is_413(live_server, buyer):
    def chunks():
        yield b'{"items": ['
        for _ in range(300):
            yield b'{"sku": "BRG-6204", "quantity": 1},' * 200  # ~7 kB a chunk, ~2 MB in all

    r = buyer.post("/v1/quotes", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in r.request.headers and r.request.headers["transfer-encoding"] == "chunked"
    _envelope(r, 413, "request_too_large")


def test_lying_content_length_over_the_wire(live_server):
    """Content-Length says 40 bytes, 2 MB follow: the server reads only what it was told, so the body
    never exceeds the cap; the bytes after it are an invalid next request, which uvicorn's HTTP parser
    refuses (400, before the application sees them), and the server goes on serving. (That a lying
    length cannot sneak a larger body into the app is `test_body_is_counted_on_the_stream_not_the_header`.)"""
    u = urlparse(live_server.url)
    junk = b'{"items": [{"sku": "BRG-6204", "quantity": 1}' + b"x" * (2 * MB)
    head = (f"POST /v1/quotes HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {live_server.keys['buyer_eu']}\r\nContent-Length: 40\r\n\r\n").encode()
    with socket.create_connection((u.hostname, u.port), timeout=10) as s:
        s.sendall(head)
        try:
            s.sendall(junk)
        except OSError:
            pass  # the server may close before reading it all
        data = b""
        try:
            while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 60:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
    status_line, _, rest = data.partition(b"\r\n")
    assert status_line.split()[1] in (b"400", b"413", b"422"), data[:300]
    body = rest.split(b"\r\n\r\n", 1)[1]
    assert b'"error"' in body[:200] or body.startswith(b"Invalid HTTP request"), body[:200]
    _alive(live_server)


def test_body_is_counted_on_the_stream_not_the_header():
    """ASGI level: a Content-Length that understates the body does not get it past the cap."""
    called = []

    async def app(scope, receive, send):  # pragma: no cover - must not be reached
        called.append(True)

    mw = LimitsMiddleware(app, max_body_bytes=1000, max_json_depth=32, rate_per_second=0, rate_burst=1)
    chunks = [{"type": "http.request", "body": b"x" * 600, "more_body": True},
              {"type": "http.request", "body": b"x" * 600, "more_body": True},
              {"type": "http.request", "body": b"x" * 600, "more_body": False}]
    sent = []

    async def receive():
        return chunks.pop(0)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/quotes",
             "headers": [(b"content-length", b"10"), (b"content-type", b"application/json")]}
    asyncio.run(mw(scope, receive, send))
    assert not called and sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"]["code"] == "request_too_large"
    assert len(chunks) == 1  # it stopped reading at the cap


# --- JSON shape -----------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [40, 5000, 200_000])
def test_deep_json_is_refused(live_server, buyer, depth):
    body = "[" * depth + "]" * depth
    _envelope(buyer.post("/v1/quotes", content=body, headers={"Content-Type": "application/json"}),
              400, "json_too_deep")


def test_deep_json_inside_a_field_and_on_a2a(live_server, buyer):
    nested = '{"a":' * 50 + "1" + "}" * 50
    body = '{"items": [{"sku": ' + nested + ', "quantity": 1}]}'
    _envelope(buyer.post("/v1/quotes", content=body, headers={"Content-Type": "application/json"}),
              400, "json_too_deep")
    _envelope(buyer.post("/", content=body, headers={"Content-Type": "application/json"}), 400, "json_too_deep")


def test_json_depth_scanner_ignores_brackets_in_strings():
    assert not json_depth_exceeds(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', 5)
    assert json_depth_exceeds(b'[[[[[[]]]]]]', 5)
    assert not json_depth_exceeds(b'{"a": "\\"[[[[[[[[["}', 3)


def test_thousands_of_items_are_refused(live_server, buyer):
    items = [{"sku": "BRG-6204", "quantity": 1}] * 5000
    _envelope(buyer.post("/v1/quotes", json={"items": items}), 422, "malformed_message", "items")


def test_huge_document_under_the_cap_is_refused_cleanly(live_server, buyer):
    # ~900 kB of unknown fields: read (under the cap), then refused naming a field.
    body = {"items": [{"sku": "BRG-6204", "quantity": 1}], **{f"k{i}": "v" * 80 for i in range(9000)}}
    raw = json.dumps(body)
    assert 800_000 < len(raw) < MB
    err = _envelope(buyer.post("/v1/quotes", content=raw, headers={"Content-Type": "application/json"}), 422)
    assert err["field"].startswith("k")


def test_over_long_text_is_refused(live_server, buyer):
    _envelope(buyer.post("/v1/quotes", json={"items": [{"sku": "S" * 5000, "quantity": 1}]}), 422,
              field="items.0.sku")
    _envelope(buyer.get("/v1/catalog", params={"q": "bearing " * 1000}), 422, field="q")
    with live_server.client("operator") as op:
        _envelope(op.post("/v1/approvals/A-X/approve", json={"note": "n" * 5000}), 422, field="note")


@pytest.mark.parametrize("raw,status,code", [
    (b'{"items": [', 400, "malformed_json"),
    (b'{"items": [{"sku": "BRG-6204", "quantity": 1}],}', 400, "malformed_json"),
    (b"\xff\xfe\x00garbage", 400, None),
    (b"", 422, None),
    (b"null", 422, None),
    (b'"items"', 422, None),
    (b"[]", 422, None),
])
def test_malformed_json_is_enveloped(live_server, buyer, raw, status, code):
    r = buyer.post("/v1/quotes", content=raw, headers={"Content-Type": "application/json"})
    _envelope(r, status, code)


@pytest.mark.parametrize("item,field,code", [
    ({"sku": "BRG-6204", "quantity": "abc"}, "items.0.quantity", "invalid_quantity"),
    ({"sku": "BRG-6204", "quantity": True}, "items.0.quantity", "invalid_quantity"),
    ({"sku": "BRG-6204", "quantity": -5}, "items.0.quantity", "invalid_quantity"),
    ({"sku": "BRG-6204", "quantity": 1.5}, "items.0.quantity", "invalid_quantity"),
    ({"sku": "BRG-6204", "quantity": "1e400"}, "items.0.quantity", "invalid_quantity"),
    ({"sku": 42, "quantity": 1}, "items.0.sku", "malformed_message"),
    ({"sku": ["BRG-6204"], "quantity": 1}, "items.0.sku", "malformed_message"),
    ({"sku": "BRG-6204", "quantity": 1, "price": "1.00"}, "items.0.price", "malformed_message"),
])
def test_wrong_types_name_the_field(live_server, buyer, item, field, code):
    _envelope(buyer.post("/v1/quotes", json={"items": [item]}), 422, code, field)


def test_wrong_types_elsewhere(live_server, buyer):
    _envelope(buyer.post("/v1/quotes", json={"items": "BRG-6204"}), 422, field="items")
    _envelope(buyer.post("/v1/quotes", json={"items": [{"sku": "BRG-6204", "quantity": 1}], "currency": "euro"}),
              422, "unsupported_currency", "currency")
    _envelope(buyer.post("/v1/proposals/P-X/accept", json={"version": "one"}), 422, field="version")
    _envelope(buyer.post("/v1/proposals/P-X/accept", json={}), 422, field="version")
    _envelope(buyer.get("/v1/proposals/P-X", params={"version": "x"}), 422, field="version")
    _envelope(buyer.get("/v1/proposals", params={"limit": 0}), 422, field="limit")
    r = buyer.post("/v1/quotes", content=b"NaN", headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422) and r.json()["error"]
    r = buyer.post("/v1/quotes", json={"items": [{"sku": "BRG-6204", "quantity": 1}]},
                   headers={"Content-Type": "text/plain"})
    assert r.status_code in (415, 422) and r.json()["error"]


# --- rate limit -----------------------------------------------------------------------------


def test_rate_limit_is_per_key_with_retry_after(live_server_factory):
    # A token every two seconds: the three requests of the burst leave the bucket empty even on a loaded machine
    # (at 2 per second, three requests slower than half a second got a token back and the fourth went through).
    server = live_server_factory(rate_per_second=0.5, rate_burst=3)
    with server.client("buyer_eu") as eu, server.client("buyer_us") as us:
        codes = [eu.get("/v1/catalog", params={"limit": 1}).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        limited = eu.get("/v1/catalog", params={"limit": 1})
        err = _envelope(limited, 429, "rate_limited")
        assert err["type"] == "rate_limit_error"
        retry = int(limited.headers["Retry-After"])
        assert 1 <= retry <= 2
        assert us.get("/v1/catalog", params={"limit": 1}).status_code == 200  # another key, another bucket
        assert eu.get("/healthz").status_code == 200  # health checks are not limited
        time.sleep(retry)
        assert eu.get("/v1/catalog", params={"limit": 1}).status_code == 200


def test_one_bucket_for_every_spelling_of_a_key(live_server_factory):
    """The bucket was keyed on the raw header: 'bearer KEY', 'BEARER KEY', 'Bearer  KEY' each got a fresh one."""
    import httpx

    server = live_server_factory(rate_per_second=0.5, rate_burst=3)
    key = server.keys["buyer_eu"]
    spellings = [f"Bearer {key}", f"bearer {key}", f"BEARER  {key}", f"bEaReR {key}"]
    codes = [httpx.get(f"{server.url}/v1/catalog", params={"limit": 1}, headers={"Authorization": h}).status_code
             for h in spellings]
    assert codes == [200, 200, 200, 429]


def test_refused_keys_are_limited_per_address(live_server_factory):
    """A made-up key per request got a fresh bucket each time: guessing keys was never throttled."""
    import httpx

    server = live_server_factory(rate_per_second=0.5, rate_burst=3)
    codes = [httpx.get(f"{server.url}/v1/catalog", headers={"Authorization": f"Bearer dd_guess_{i}"}).status_code
             for i in range(5)]
    assert codes == [401, 401, 401, 429, 429]
    refused = httpx.get(f"{server.url}/v1/catalog", headers={"Authorization": f"Bearer {server.keys['buyer_us']}"})
    _envelope(refused, 429, "rate_limited")  # the address is throttled for keys new to it until its bucket refills
    assert int(refused.headers["Retry-After"]) >= 1
    assert httpx.get(f"{server.url}/.well-known/agent-card.json").status_code == 200  # no key: not this bucket


def test_a_key_the_server_took_is_not_held_back_by_others_refused_keys(live_server_factory):
    """QA re-test: made-up keys from one address locked out every valid key from it (buyers behind one NAT)."""
    import httpx

    server = live_server_factory(rate_per_second=0.5, rate_burst=3)
    eu = {"Authorization": f"Bearer {server.keys['buyer_eu']}"}
    assert httpx.get(f"{server.url}/v1/catalog", params={"limit": 1}, headers=eu).status_code == 200
    codes = [httpx.get(f"{server.url}/v1/catalog", headers={"Authorization": f"Bearer dd_guess_{i}"}).status_code
             for i in range(4)]
    assert codes == [401, 401, 401, 429]
    assert httpx.get(f"{server.url}/v1/catalog", params={"limit": 1}, headers=eu).status_code == 200


def test_token_bucket_refills():
    now = [0.0]
    b = TokenBucket(rate=1.0, burst=2, clock=lambda: now[0])
    assert b.take("k") == 0 and b.take("k") == 0
    assert b.take("k") == pytest.approx(1.0)
    now[0] = 0.5
    assert b.take("k") == pytest.approx(0.5)
    now[0] = 1.0
    assert b.take("k") == 0
    assert b.take("other") == 0


# --- turn timeout ---------------------------------------------------------------------------


def test_turn_timeout_is_504_and_a_retry_gets_the_deal(live_server_factory):
    from .conftest import Flow

    server = live_server_factory(turn_timeout_s=0.5, rate_per_second=100.0, rate_burst=100)
    flow = Flow(server.ctx)
    _, proposal = flow.rfq(quantity=5)
    seller = server.ctx.seller
    real_send = seller.send

    def slow_send(*a, **kw):
        time.sleep(1.5)
        return real_send(*a, **kw)

    seller.send = slow_send
    key = f"idem-{uuid.uuid4()}"
    try:
        with server.client("buyer_eu") as c:
            url = f"/v1/proposals/{proposal['proposal_id']}/accept"
            r = c.post(url, json={"version": proposal["version"]}, headers={"Idempotency-Key": key})
            err = _envelope(r, 504, "turn_timeout")
            assert err["type"] == "timeout_error"
            # the turn finishes in its thread, nothing half-written (waited for, not slept on: a loaded machine
            # takes longer); the timeout released the key, so the retry runs again and finds the deal made
            deadline = time.monotonic() + 20
            while seller.store.deal_for_proposal(proposal["proposal_id"]) is None and time.monotonic() < deadline:
                time.sleep(0.05)
            again = c.post(url, json={"version": proposal["version"]}, headers={"Idempotency-Key": key})
            assert again.status_code == 200, again.text
            assert again.json()["deal"]["proposal_id"] == proposal["proposal_id"]
            assert c.get("/healthz").status_code == 200
    finally:
        seller.send = real_send
