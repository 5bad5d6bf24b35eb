"""Exploratory QA of the serving surfaces, as a buyer's bot and an operator use them over real HTTP: each test
is a bug found that way, with the input that showed it.

Every test that opens a negotiation on the shared server cancels it, so the stock it held goes back for later
tests of the same server.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

A2A = {"A2A-Version": "1.0"}


def rpc(c: httpx.Client, method: str, params: dict[str, Any], rid: Any = 1) -> dict[str, Any]:
    r = c.post("/", json={"jsonrpc": "2.0", "id": rid, "method": method, "params": params}, headers=A2A)
    assert r.status_code == 200, r.text
    return r.json()


def send(c: httpx.Client, data: dict[str, Any] | None = None, text: str | None = None,
         task_id: str | None = None) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if data is not None:
        parts.append({"data": data, "mediaType": "application/json"})
    if text is not None:
        parts.append({"text": text})
    message: dict[str, Any] = {"messageId": f"qa-{uuid.uuid4()}", "role": "ROLE_USER", "parts": parts}
    if task_id:
        message["taskId"] = task_id
    body = rpc(c, "SendMessage", {"message": message})
    assert "result" in body, body
    return body["result"]["task"]


def data_of(task: dict[str, Any]) -> dict[str, Any] | None:
    return next((p["data"] for p in task["status"]["message"]["parts"] if "data" in p), None)


def cancel(c: httpx.Client, task_id: str) -> None:
    body = rpc(c, "CancelTask", {"id": task_id})
    assert "result" in body or body["error"]["code"] == -32002, body  # canceled, or ended already


# --- A2A push notification configs --------------------------------------------------------------------------


def test_push_config_id_longer_than_the_store_holds_is_refused_naming_it(live_server):
    """CreateTaskPushNotificationConfig with a 300-character `id` was stored on SQLite and failed on PostgreSQL
    with -32603 (the SDK's push config table holds 255 characters: StringDataRightTruncation); a 100 kB `url`
    was stored and sent back in every list. Both are the buyer's input: -32602 naming the field."""
    with live_server.client("buyer_eu") as c:
        task = send(c, {"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "3"}]})
        try:
            too_long_id = rpc(c, "CreateTaskPushNotificationConfig",
                              {"taskId": task["id"], "id": "i" * 300, "url": "https://93.184.216.34/hook"})
            assert "error" in too_long_id, too_long_id
            assert too_long_id["error"]["code"] == -32602 and "id" in too_long_id["error"]["message"]
            assert "255" in too_long_id["error"]["message"]

            too_long_url = rpc(c, "CreateTaskPushNotificationConfig",
                               {"taskId": task["id"], "url": "https://93.184.216.34/" + "a" * 100_000})
            assert "error" in too_long_url, str(too_long_url)[:300]
            assert too_long_url["error"]["code"] == -32602 and "url" in too_long_url["error"]["message"]

            too_long_token = rpc(c, "CreateTaskPushNotificationConfig",
                                 {"taskId": task["id"], "url": "https://93.184.216.34/hook", "token": "t" * 10_000})
            assert "error" in too_long_token, str(too_long_token)[:300]
            assert too_long_token["error"]["code"] == -32602 and "token" in too_long_token["error"]["message"]

            listed = rpc(c, "ListTaskPushNotificationConfigs", {"taskId": task["id"]})
            assert listed["result"].get("configs", []) == []

            # within the limits, as before
            ok = rpc(c, "CreateTaskPushNotificationConfig",
                     {"taskId": task["id"], "id": "i" * 255, "url": "https://93.184.216.34/hook", "token": "tok"})
            assert ok["result"]["id"] == "i" * 255
        finally:
            cancel(c, task["id"])


# --- REST: a body that cannot be read ------------------------------------------------------------------------


def test_a_body_the_parser_cannot_read_is_malformed_json_not_http_400(live_server):
    """A JSON number of 5000 digits is valid JSON that Python's parser refuses (the int digits limit): FastAPI
    answered 400 with the code `http_400` and "There was an error parsing the body", a code the envelope never
    documents. It is `malformed_json`, saying why, and the server goes on serving."""
    with live_server.client("buyer_eu") as c:
        body = '{"items": [{"sku": "BRG-6204", "quantity": 1' + "0" * 5000 + "}]}"
        r = c.post("/v1/quotes", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["type"] == "invalid_request_error"
        assert err["code"] == "malformed_json", err
        assert "digits" in err["message"], err
        ok = c.post("/v1/quotes", json={"items": [{"sku": "BRG-6204", "quantity": "5"}]})
        assert ok.status_code == 200, ok.text


# --- A2A: a data part with an unknown or no `type` -----------------------------------------------------------


def test_a_data_part_with_an_unknown_or_missing_type_names_the_type_field(live_server):
    """`{"type": "bogus"}` and a data part with no `type` were answered malformed_message with `field` null and
    a message starting ": Input tag ..." (the discriminator's error has no location); every other malformed part
    names its field. Both name `type` now, and the message lists the types there are."""
    with live_server.client("buyer_eu") as c:
        for data in ({"type": "bogus"}, {"items": [{"sku": "BRG-6204", "quantity": "5"}]}):
            task = send(c, data)
            try:
                err = data_of(task)
                assert err is not None and err["type"] == "error", task
                assert err["code"] == "malformed_message"
                assert err["field"] == "type", err
                assert err["message"].startswith("type: "), err
                assert "rfq" in err["message"] and "counter_offer" in err["message"], err
            finally:
                cancel(c, task["id"])


# --- REST: the decision surface for terms the policy does not allow -------------------------------------------


def test_pricing_explain_warns_of_payment_terms_the_policy_does_not_allow(live_server):
    """`GET /v1/pricing/explain?...&terms=NET999` answered 200 with a surface for NET999 and nothing to say every
    offer on those terms is refused (`dealdesk policy explain --terms NET999` warns of it). The answer says so,
    naming the allowed terms; allowed terms get no warning."""
    with live_server.client("operator") as op:
        params = {"sku": "BRG-6204", "qty": 500, "region": "EU"}
        bad = op.get("/v1/pricing/explain", params={**params, "terms": "NET999"})
        assert bad.status_code == 200, bad.text
        warnings = bad.json()["warnings"]
        assert [w["code"] for w in warnings] == ["payment_terms_not_allowed"], warnings
        assert warnings[0]["field"] == "terms" and "NET30" in warnings[0]["message"], warnings
        good = op.get("/v1/pricing/explain", params={**params, "terms": "NET60"})
        assert good.status_code == 200 and good.json()["warnings"] == []
