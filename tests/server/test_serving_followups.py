"""Serving follow-ups, over real HTTP: the per-task cap on push notification configs, a timed-out turn's code on
A2A, counts as decimal strings in /v1/pricing/explain, made-to-order products in the REST product view, and an
operator's decision made outside the server (the CLI) reaching the buyer's task promptly.

Every test that opens a negotiation on the shared server cancels it, so the stock it held goes back.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from .conftest import APPROVAL_COUNTERS, Flow
from .test_a2a import Receiver

A2A = {"A2A-Version": "1.0"}
MAX_PUSH_CONFIGS_PER_TASK = 10  # agent.server.a2a.MAX_PUSH_CONFIGS_PER_TASK, as the README says
HOOK = "https://93.184.216.34/hook"  # a public address: accepted without --push-allow-local


def rpc(c: httpx.Client, method: str, params: dict[str, Any]) -> dict[str, Any]:
    r = c.post("/", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, headers=A2A)
    assert r.status_code == 200, r.text
    return r.json()


def send(c: httpx.Client, data: dict[str, Any], task_id: str | None = None,
         configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"messageId": f"fu-{uuid.uuid4()}", "role": "ROLE_USER",
                               "parts": [{"data": data, "mediaType": "application/json"}]}
    if task_id:
        message["taskId"] = task_id
    params: dict[str, Any] = {"message": message}
    if configuration is not None:
        params["configuration"] = configuration
    return rpc(c, "SendMessage", params)


def task_of(body: dict[str, Any]) -> dict[str, Any]:
    assert "result" in body, body
    return body["result"]["task"]


def data_of(task: dict[str, Any]) -> dict[str, Any] | None:
    return next((p["data"] for p in task["status"]["message"]["parts"] if "data" in p), None)


def text_of(task: dict[str, Any]) -> str:
    return " ".join(p["text"] for p in task["status"]["message"]["parts"] if "text" in p)


def cancel(c: httpx.Client, task_id: str) -> None:
    body = rpc(c, "CancelTask", {"id": task_id})
    assert "result" in body or body["error"]["code"] == -32002, body  # canceled, or ended already


def rfq(sku: str, quantity: int) -> dict[str, Any]:
    return {"type": "rfq", "items": [{"sku": sku, "quantity": str(quantity)}]}


# --- 1. push notification configs: at most MAX_PUSH_CONFIGS_PER_TASK a task ------------------------------------


def test_a_task_holds_at_most_ten_push_configs_and_replacing_one_still_works(live_server):
    """Every push config of a task gets a POST on every event of it: a buyer creating configs without end multiplied
    the server's outbound requests. One more than MAX_PUSH_CONFIGS_PER_TASK is refused, -32602 over JSON-RPC (400
    INVALID_ARGUMENT over HTTP+JSON), saying the limit; a config's id sent again replaces it, also at the cap."""
    with live_server.client("buyer_eu") as c:
        task = task_of(send(c, rfq("BRG-6204", 3)))
        tid = task["id"]
        try:
            for i in range(MAX_PUSH_CONFIGS_PER_TASK):
                made = rpc(c, "CreateTaskPushNotificationConfig", {"taskId": tid, "id": f"c{i}", "url": HOOK})
                assert made["result"]["id"] == f"c{i}", made

            one_more = rpc(c, "CreateTaskPushNotificationConfig", {"taskId": tid, "id": "c-extra", "url": HOOK})
            assert "error" in one_more, one_more
            assert one_more["error"]["code"] == -32602, one_more
            assert str(MAX_PUSH_CONFIGS_PER_TASK) in one_more["error"]["message"], one_more
            # no id: the SDK stores it under the task's id, a new one too
            no_id = rpc(c, "CreateTaskPushNotificationConfig", {"taskId": tid, "url": HOOK})
            assert "error" in no_id and no_id["error"]["code"] == -32602, no_id

            # the HTTP+JSON binding refuses it alike
            rest = c.post(f"/a2a/rest/tasks/{tid}/pushNotificationConfigs", headers=A2A,
                          json={"taskId": tid, "id": "c-extra", "url": HOOK})
            assert rest.status_code == 400, rest.text
            assert "INVALID_ARGUMENT" in rest.text and str(MAX_PUSH_CONFIGS_PER_TASK) in rest.text, rest.text

            # a config sent with a message on the task counts too (the message is refused before anything is done)
            with_config = send(c, {"type": "question", "topic": "lead_time", "skus": ["BRG-6204"]}, task_id=tid,
                               configuration={"taskPushNotificationConfig": {"id": "c-msg", "url": HOOK}})
            assert "error" in with_config and with_config["error"]["code"] == -32602, with_config

            # replacing an existing id at the cap works
            replaced = rpc(c, "CreateTaskPushNotificationConfig",
                           {"taskId": tid, "id": "c3", "url": HOOK + "-v2", "token": "tok"})
            assert replaced["result"]["id"] == "c3" and replaced["result"]["url"] == HOOK + "-v2", replaced
            listed = rpc(c, "ListTaskPushNotificationConfigs", {"taskId": tid})["result"]["configs"]
            assert sorted(cfg["id"] for cfg in listed) == sorted(f"c{i}" for i in range(MAX_PUSH_CONFIGS_PER_TASK))

            # one deleted makes room for one
            gone = rpc(c, "DeleteTaskPushNotificationConfig", {"taskId": tid, "id": "c0"})
            assert "error" not in gone, gone
            again = rpc(c, "CreateTaskPushNotificationConfig", {"taskId": tid, "id": "c-extra", "url": HOOK})
            assert again["result"]["id"] == "c-extra", again
        finally:
            # no config is left to be posted to when the cancel is published
            for cfg in rpc(c, "ListTaskPushNotificationConfigs", {"taskId": tid}).get("result", {}).get("configs", []):
                rpc(c, "DeleteTaskPushNotificationConfig", {"taskId": tid, "id": cfg["id"]})
            cancel(c, tid)
    from agent.server import a2a

    assert a2a.MAX_PUSH_CONFIGS_PER_TASK == MAX_PUSH_CONFIGS_PER_TASK


# --- 2. a turn that timed out, over A2A: the code REST gives it ------------------------------------------------


@contextmanager
def slowed(seller: Any, wait: Callable[[], Any]) -> Iterator[Callable[[], None]]:
    """`seller.send` calls `wait()` before each turn, until the block ends or it calls the `restore()` it is given."""
    real = seller.send

    def slow(*a: Any, **kw: Any) -> Any:
        wait()
        return real(*a, **kw)

    def restore() -> None:
        seller.send = real

    seller.send = slow
    try:
        yield restore
    finally:
        restore()


def test_a_timed_out_turn_over_a2a_is_turn_timeout_as_over_rest(live_server_factory):
    """REST answers a turn past the timeout 504 `turn_timeout` (type timeout_error); A2A said `internal_error` for the
    same event. The task's status message now carries `turn_timeout` too, the task stays INPUT_REQUIRED (the turn
    goes on and commits), and no JSON-RPC error is raised: the answer is the task, as for other typed errors."""
    server = live_server_factory(turn_timeout_s=0.5, rate_per_second=100.0, rate_burst=100)
    with slowed(server.ctx.seller, lambda: time.sleep(1.5)) as restore, server.client("buyer_eu") as c:
        task = task_of(send(c, rfq("BRG-6204", 4)))
        try:
            assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED", task
            err = data_of(task)
            assert err is not None and err["type"] == "error", task
            assert err["code"] == "turn_timeout", err
            assert "0.5 s" in err["message"], err
        finally:
            restore()
            cancel(c, task["id"])  # waits for the slow turn under the turn lock, then releases its hold


def test_a_timed_out_turn_reaches_the_task_when_it_commits_and_a_retry_gets_it(live_server_factory):
    """A turn past the timeout goes on in its thread and commits. Its reply reached the task only at the next
    reconciliation (10 s and more later), and a retry of the message got the timeout answer again from the message
    log. The reply now reaches the task as the turn commits, and a retry of the same messageId gets the task showing
    it."""
    server = live_server_factory(turn_timeout_s=0.5, rate_per_second=100.0, rate_burst=100)
    seller = server.ctx.seller
    message = {"messageId": f"fu-{uuid.uuid4()}", "role": "ROLE_USER",
               "parts": [{"data": rfq("BRG-6204", 4), "mediaType": "application/json"}]}
    with slowed(seller, lambda: time.sleep(1.0)) as restore, server.client("buyer_eu") as c:
        task = task_of(rpc(c, "SendMessage", {"message": message}))
        try:
            assert data_of(task)["code"] == "turn_timeout", task
            restore()
            deadline, shown = time.monotonic() + 5.0, None
            while time.monotonic() < deadline:  # well before any reconciliation (10 s after the turn at least)
                shown = rpc(c, "GetTask", {"id": task["id"]})["result"]
                if (data_of(shown) or {}).get("type") == "proposal":
                    break
                time.sleep(0.1)
            assert (data_of(shown) or {}).get("type") == "proposal", shown
            again = task_of(rpc(c, "SendMessage", {"message": message}))  # the same messageId: no second turn
            assert data_of(again) == data_of(shown), again
            assert len(seller.store.list_proposals(negotiation_id=task["id"])) == 1
        finally:
            restore()
            cancel(c, task["id"])


# --- 3. /v1/pricing/explain: counts as the rest of the REST API sends them ---------------------------------------


def test_pricing_explain_sends_lead_time_and_units_as_strings(live_server):
    """`lead_time_days` went out as a JSON number in /v1/pricing/explain while products, quotes and proposals send it
    as a decimal string. It is a string now, as are every count of units; the policy's settings that are no quantity
    (`proposal_validity_days`, `max_rounds`) and the tier index stay numbers."""
    with live_server.client("operator") as op:
        s = op.get("/v1/pricing/explain", params={"sku": "BRG-6204", "qty": 500, "region": "EU"}).json()
        assert s["lead_time_days"] == "2", s["lead_time_days"]
        for name in ("quantity", "moq", "max_order_quantity", "max_hold_units", "next_tier_min"):
            assert isinstance(s[name], str) and s[name].isdigit(), (name, s[name])
        assert isinstance(s["proposal_validity_days"], int) and isinstance(s["max_rounds"], int)
        assert isinstance(s["pricing"]["tier_index"], int) and isinstance(s["pricing"]["stock"], str)
        # the same name, the same type, in a quote for the line
        with live_server.client("buyer_eu") as c:
            quoted = c.post("/v1/quotes", json={"items": [{"sku": "BRG-6204", "quantity": "500"}]}).json()
        assert quoted["items"][0]["lead_time_days"] == s["lead_time_days"]

        made = op.get("/v1/pricing/explain", params={"sku": "BRG-22210-E", "qty": 500, "region": "EU"}).json()
        assert made["made_to_order"] is True and made["lead_time_days"] == "119", made["lead_time_days"]


# --- 4. made-to-order products in the REST product view ----------------------------------------------------------


def test_a_made_to_order_product_shows_it_and_its_restock_lead_time(live_server):
    """The demo's BRG-22210-E is made to order (no stock kept, quoted at any quantity at the restock lead time): its
    product view said `available: "0"` and the from-stock lead time (3 days), as if it could not be ordered and,
    if it could, shipped in 3 days. It says `made_to_order: true` (false on every other product), keeps `available`
    "0" (no stock), and `lead_time_days` is the restock lead time of one unit (35 days), as its JSON-LD says."""
    catalog = live_server.ctx.seller.catalog
    product = catalog.products["BRG-22210-E"]
    assert product.inventory.made_to_order
    with live_server.client("buyer_eu") as c:
        view = c.get("/v1/products/BRG-22210-E").json()
        assert view["made_to_order"] is True
        assert view["available"] == "0"
        assert view["lead_time_days"] == str(product.capacity.lead_time_for(1, 0)) == "35", view
        jsonld = c.get("/v1/products/BRG-22210-E", params={"format": "jsonld"}).json()
        assert str(jsonld["offers"][0]["deliveryLeadTime"]["value"]) == view["lead_time_days"], jsonld["offers"][0]

        stocked = c.get("/v1/products/BRG-6204").json()
        assert stocked["made_to_order"] is False and stocked["lead_time_days"] == "2", stocked

        listed = {p["sku"]: p for p in c.get("/v1/catalog").json()["products"]}
        assert listed["BRG-22210-E"]["made_to_order"] is True and listed["BRG-22210-E"]["lead_time_days"] == "35"
        assert all(p["made_to_order"] is catalog.products[s].inventory.made_to_order for s, p in listed.items())

        # a quote's lead time is the restock lead time for the quantity: 35 days for one unit, 119 for 500 (40 a week)
        for qty, days in ((1, "35"), (500, "119")):
            q = c.post("/v1/quotes", json={"items": [{"sku": "BRG-22210-E", "quantity": str(qty)}]})
            assert q.status_code == 200, q.text
            assert q.json()["items"][0]["lead_time_days"] == days, q.json()


# --- 5. an operator's decision made with the CLI reaches the buyer's task in seconds ------------------------------


def _pending_approval_task(c: httpx.Client, store: Any) -> tuple[str, Any]:
    """An A2A task haggled down to an approval request (500 x BRG-6204 in EU): (task id, approval row)."""
    task = task_of(send(c, rfq("BRG-6204", 500)))
    for price in APPROVAL_COUNTERS:
        proposal = data_of(task)
        assert proposal is not None and proposal["type"] == "proposal", task
        counter = {"type": "counter_offer", "proposal_id": proposal["proposal_id"], "version": proposal["version"],
                   "items": [{"sku": i["sku"], "quantity": i["quantity"], "unit_price": price}
                             for i in proposal["items"]]}
        task = task_of(send(c, counter, task_id=task["id"]))
    approval = store.pending_approval(task["id"])
    assert approval is not None, data_of(task)
    return task["id"], approval


@pytest.mark.parametrize("pending_for", [0.0, 2.5])  # decided at once (automation), or after a look saw it pending
def test_a_decision_made_with_the_cli_reaches_the_task_within_seconds(live_server, pending_for):
    """`dealdesk approvals approve` on the server's database (no server listener hears it) reached the buyer's task
    only at the next reconciliation, ~25 s later (every 15 s, leaving alone negotiations that moved in the last 10 s).
    The server now reads the pending approvals every second and publishes a decision made elsewhere within a couple
    of seconds, in its own words."""
    flow = Flow(live_server.ctx)
    buyer, key = flow.new_buyer()
    seller = live_server.ctx.seller
    with httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
        tid, approval = _pending_approval_task(c, seller.store)
        try:
            time.sleep(pending_for)
            reply = seller.decide(approval.id, "approve", by="cli operator")  # what the CLI does: no publication
            assert reply is not None and reply.text
            decided = time.monotonic()
            deadline = decided + 8.0  # the reconciliation alone takes 10 s at the very least
            got = None
            while time.monotonic() < deadline:
                got = rpc(c, "GetTask", {"id": tid})["result"]
                if text_of(got) == reply.text:
                    break
                time.sleep(0.1)
            assert got is not None and text_of(got) == reply.text, (time.monotonic() - decided, text_of(got))
            assert got["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
            assert data_of(got) == reply.data
            assert got["status"]["message"]["messageId"] == f"{tid}-t{reply.turn}"
        finally:
            cancel(c, tid)


def test_a_decision_made_over_rest_is_published_once(live_server_factory):
    """The server that decides (REST) publishes the decision itself; the watch for decisions made elsewhere finds it
    on the task already and publishes nothing more: one push notification for the decision's turn."""
    server = live_server_factory(rate_per_second=1000.0, rate_burst=2000, push_allow_local=True)
    server.app.state.a2a.backend.push_sender.base_delay = 0.05
    receiver = Receiver()
    flow = Flow(server.ctx)
    _, key = flow.new_buyer()
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c, \
                server.client("operator") as op:
            tid, approval = _pending_approval_task(c, server.ctx.seller.store)
            try:
                made = rpc(c, "CreateTaskPushNotificationConfig", {"taskId": tid, "url": receiver.url})
                assert "result" in made, made
                time.sleep(1.5)  # a look at the queue sees the request pending
                decided = op.post(f"/v1/approvals/{approval.id}/approve")
                assert decided.status_code == 200, decided.text
                turn = decided.json()["reply"]["turn"]
                time.sleep(4.0)  # several looks at the queue
                ids = [b["statusUpdate"]["status"].get("message", {}).get("messageId", "")
                       for _, b in receiver.received if "statusUpdate" in b]
                assert ids.count(f"{tid}-t{turn}") == 1, ids
                got = rpc(c, "GetTask", {"id": tid})["result"]
                assert got["status"]["message"]["messageId"] == f"{tid}-t{turn}"
            finally:
                cancel(c, tid)
    finally:
        receiver.close()


def test_a_decision_made_with_the_cli_reaches_the_task_within_seconds_on_postgresql():
    """The same on PostgreSQL (one process publishes at a time: an advisory lock), on a server of its own."""
    import dbutil

    from .conftest import start_in_process

    with dbutil.pg_schema() as db_url:
        live, running = start_in_process(db_url, rate_per_second=1000.0, rate_burst=2000)
        try:
            test_a_decision_made_with_the_cli_reaches_the_task_within_seconds(live, 0.0)
        finally:
            running.stop()
