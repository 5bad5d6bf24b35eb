"""Session 20's buyer-side QA over real HTTP: each test is a bug found by integrating against the server as a
procurement agent's developer would, with the input that showed it.

Tests that open a negotiation on the shared server cancel it, so the stock it held goes back for later tests.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import uuid
from typing import Any

import httpx

A2A = {"A2A-Version": "1.0", "Content-Type": "application/json"}


def raw_rpc(c: httpx.Client, body: bytes | str) -> dict[str, Any]:
    r = c.post("/", content=body, headers=A2A)
    assert r.status_code == 200, r.text
    return r.json()


# --- JSON-RPC: a body that is no JSON text Python reads -----------------------------------------------------


def test_a_number_of_more_digits_than_python_reads_is_a_parse_error(live_server):
    """`{"jsonrpc": "2.0", "id": 1000...0 (5000 digits), ...}`, or such a number anywhere in the params, was
    answered -32603 (internal error) with Python's own advice ("use sys.set_int_max_str_digits() to increase the
    limit"): json.loads raises a ValueError there, not the JSONDecodeError the SDK's dispatcher answers -32700.
    The body is no JSON text the server can read: -32700, id null, and the server goes on serving."""
    huge = "9" * 5000
    with live_server.client("buyer_eu") as c:
        for body in ('{"jsonrpc":"2.0","id":1' + "0" * 5000 + ',"method":"GetTask","params":{"id":"x"}}',
                     '{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"s20-big",'
                     '"role":"ROLE_USER","parts":[{"data":{"type":"rfq","items":[{"sku":"BRG-6204","quantity":'
                     + huge + '}]}}]}}}'):
            out = raw_rpc(c, body)
            assert out["id"] is None and out["error"]["code"] == -32700, out
            assert "set_int_max_str_digits" not in out["error"]["message"], out
        # an ordinary parse error is still one, and the next request is served
        assert raw_rpc(c, "{")["error"]["code"] == -32700
        ok = raw_rpc(c, json.dumps({"jsonrpc": "2.0", "id": 2, "method": "GetTask", "params": {"id": "nope"}}))
        assert ok["id"] == 2 and ok["error"]["code"] == -32001, ok


# --- ListTasks: a page token naming an instant no timestamp holds -------------------------------------------


def _token(ts: int, task_id: str = "x") -> str:
    return base64.urlsafe_b64encode(json.dumps({"ts": ts, "id": task_id}).encode()).decode().rstrip("=")


def test_a_page_token_out_of_the_timestamp_range_is_invalid_params(live_server):
    """ListTasks with a page token whose cursor says `{"ts": 10**30, "id": "x"}` failed in the SDK's task store
    (protobuf's Timestamp raises ValueError; the store catches only OverflowError): -32603 over JSON-RPC, 500 over
    HTTP+JSON. A token the buyer tampered with is invalid params, as every other unreadable token is."""
    with live_server.client("buyer_eu") as c:
        for ts in (10**30, -(10**30)):
            out = raw_rpc(c, json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ListTasks",
                                         "params": {"pageToken": _token(ts)}}))
            assert out["error"]["code"] == -32602 and "page token" in out["error"]["message"], out
            r = c.get("/a2a/rest/tasks", params={"pageToken": _token(ts)}, headers={"A2A-Version": "1.0"})
            assert r.status_code == 400, r.text
        # a token within the range still pages
        out = raw_rpc(c, json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ListTasks",
                                     "params": {"pageToken": _token(0)}}))
        assert "result" in out, out


# --- REST: a JSON body sent without a JSON Content-Type -----------------------------------------------------


def test_a_body_sent_without_a_json_content_type_is_415_naming_the_header(live_server):
    """`curl -d '{"items": [...]}' /v1/quotes` (curl's default Content-Type is application/x-www-form-urlencoded),
    or a body sent as text/plain or with no Content-Type, was refused 422 malformed_message "body: Input should be
    a valid dictionary or object to extract fields from", field `body`: it blamed a body that was fine. FastAPI
    reads a body as JSON only when its Content-Type says so: 415 unsupported_media_type, naming the header."""
    body = json.dumps({"items": [{"sku": "BRG-6204", "quantity": "5"}]})
    with live_server.client("buyer_eu") as c:
        for headers in ({"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}, {}):
            r = c.post("/v1/quotes", content=body, headers=headers)
            assert r.status_code == 415, (headers, r.text)
            err = r.json()["error"]
            assert err["code"] == "unsupported_media_type" and err["field"] == "Content-Type", err
            assert "application/json" in err["message"], err
        r = c.post("/v1/proposals/P-S20X/accept", content='{"version": 1}', headers={"Content-Type": "text/plain"})
        assert r.status_code == 415, r.text
        # as JSON, the same body is quoted; an empty body is still the missing field it was
        assert c.post("/v1/quotes", content=body, headers={"Content-Type": "application/json"}).status_code == 200
        r = c.post("/v1/proposals/P-S20X/accept")
        assert r.status_code == 422 and r.json()["error"]["field"] == "body", r.text


def test_malformed_json_says_what_is_wrong_and_where(live_server):
    """A REST body that is not JSON was answered "the body is not valid JSON: JSON decode error" (FastAPI's own
    words): the decoder's reason and the character it stopped at are what a developer needs."""
    with live_server.client("buyer_eu") as c:
        r = c.post("/v1/quotes", content='{"items": [}', headers={"Content-Type": "application/json"})
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["code"] == "malformed_json" and "Expecting value" in err["message"] and "11" in err["message"], err


# --- CancelTask racing a message on the task ----------------------------------------------------------------


def _send(c: httpx.Client, data: dict[str, Any], task_id: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"messageId": f"s20-{uuid.uuid4()}", "role": "ROLE_USER",
                               "parts": [{"data": data, "mediaType": "application/json"}]}
    if task_id:
        message["taskId"] = task_id
    return raw_rpc(c, json.dumps({"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": message}}))


def test_an_accept_racing_a_cancel_is_never_an_internal_error(live_server, flow):
    """A buyer's bot sent an accept and, a moment later, CancelTask on the same task (two workers of its own). The
    accept passed its checks (the task was open), the cancel closed the task, and the accept then met the task's
    closed queue in the SDK (culsans.QueueShutDown): -32603 "internal error" for a plain race the buyer made (twice
    in four tries with httpx threads), or, held a little longer as here, was refused as sent to a finished task.
    The cancel now waits for the message in flight on the task in this process (as the negotiation's turn lock made
    it wait for the turn): the accept makes its deal, and the cancel is told the negotiation ended in a deal."""
    _, key = flow.new_buyer()
    registry = live_server.app.state.a2a.handler._active_task_registry
    checked = threading.Event()
    original = registry.get_or_create
    slowed: list[str] = []

    async def slow_get_or_create(task_id: str, *args: Any, **kwargs: Any) -> Any:
        active = await original(task_id, *args, **kwargs)
        if task_id in slowed and kwargs.get("initial_message") is not None:
            # the accept holds the task's active task: the cancel gets in before it enqueues its request
            slowed.remove(task_id)
            checked.set()
            await asyncio.sleep(0.5)
        return active

    with live_server.client(key) as c:
        task = _send(c, {"type": "rfq", "items": [{"sku": "BRG-6205", "quantity": "20"}]})["result"]["task"]
        offer = next(p["data"] for p in task["status"]["message"]["parts"] if "data" in p)
        assert offer["type"] == "proposal", offer
        answers: dict[str, Any] = {}
        slowed.append(task["id"])
        registry.get_or_create = slow_get_or_create
        try:
            accept = threading.Thread(target=lambda: answers.update(accept=_send(
                c, {"type": "accept", "proposal_id": offer["proposal_id"], "version": offer["version"]}, task["id"])))
            accept.start()
            assert checked.wait(10)
            answers["cancel"] = raw_rpc(c, json.dumps({"jsonrpc": "2.0", "id": 2, "method": "CancelTask",
                                                       "params": {"id": task["id"]}}))
            accept.join(30)
        finally:
            registry.get_or_create = original
        assert "result" in answers["accept"], answers["accept"]  # not -32603
        assert answers["accept"]["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED", answers["accept"]
        assert answers["cancel"]["error"]["code"] == -32002, answers["cancel"]
        got = raw_rpc(c, json.dumps({"jsonrpc": "2.0", "id": 3, "method": "GetTask", "params": {"id": task["id"]}}))
        assert got["result"]["status"]["state"] == "TASK_STATE_COMPLETED", got
