"""Retest of session 19's serving changes, over real HTTP: a retry of a timed-out message while its turn still
runs, the negotiation view's turn, and the approvals list's status filter."""

from __future__ import annotations

import threading
import time
import uuid

from .test_serving_followups import cancel, data_of, rfq, rpc, slowed, task_of


def test_a_retry_while_the_timed_out_turn_still_runs_runs_no_second_turn(live_server_factory):
    server = live_server_factory(turn_timeout_s=0.5, rate_per_second=100.0, rate_burst=100)
    seller = server.ctx.seller
    calls: list[int] = []
    gate = threading.Event()
    message = {"messageId": f"rt-{uuid.uuid4()}", "role": "ROLE_USER",
               "parts": [{"data": rfq("BRG-6204", 4), "mediaType": "application/json"}]}
    try:
        with slowed(seller, lambda: (calls.append(1), gate.wait(5.0))) as restore, server.client("buyer_eu") as c:
            task = task_of(rpc(c, "SendMessage", {"message": message}))
            assert data_of(task)["code"] == "turn_timeout", task
            retry = task_of(rpc(c, "SendMessage", {"message": message}))  # the first turn still runs
            assert retry["id"] == task["id"] and data_of(retry)["code"] == "turn_timeout", retry
            gate.set()
            time.sleep(1.0)
            restore()
            again = task_of(rpc(c, "SendMessage", {"message": message}))
            assert (data_of(again) or {}).get("type") == "proposal", again
            assert len(seller.store.list_proposals(negotiation_id=task["id"])) == 1 and len(calls) == 1
            view = c.get(f"/v1/negotiations/{task['id']}").json()
            assert view["turn"] == 1, view
            cancel(c, task["id"])
    finally:
        gate.set()


def test_approvals_status_filter(live_server):
    with live_server.client("operator") as op:
        assert op.get("/v1/approvals", params={"status": "all"}).status_code == 200
        for q in ("bogus", "ALL", ""):
            r = op.get("/v1/approvals", params={"status": q})
            assert r.status_code == 422 and r.json()["error"]["field"] == "status", r.text
