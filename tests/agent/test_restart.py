"""A negotiation survives its process: a child process negotiates up to an escalation and ends
(cleanly, or killed with SIGKILL right after printing a proposal); a new `Seller` in this
process continues on the same database, its checkpoints and its pending approval.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.config import PROJECT_ROOT
from agent.service import Seller

SKU = "BRG-6204"
QTY = 500
CHILD_TIMEOUT_S = 60

CHILD = textwrap.dedent("""
    import json, os, sys
    sys.path.insert(0, {root!r})
    from agent.records import configure_logging
    configure_logging(open(os.devnull, "w"))
    from agent.config import load_data
    from agent.service import Buyer, Seller

    url, nid, mode = sys.argv[1:4]
    seller = Seller.open(*load_data(), url)
    seller.start(Buyer(org="restart-org", region="EU"), negotiation_id=nid)

    def emit(**kw):
        print(json.dumps(kw), flush=True)

    emit(kind="available", units=seller.store.available({sku!r}))
    reply = seller.send(nid, data={{"type": "rfq", "items": [{{"sku": {sku!r}, "quantity": "{qty}"}}]}})
    for price in ("2.40", "2.50", "2.60", "2.68", "2.70"):
        emit(kind="reply", turn=reply.turn, data=reply.data)
        last = reply.data
        reply = seller.send(nid, data={{"type": "counter_offer", "proposal_id": last["proposal_id"],
                                       "version": last["version"],
                                       "items": [{{"sku": {sku!r}, "quantity": "{qty}", "unit_price": price}}]}})
    pending = seller.store.pending_approval(nid)
    emit(kind="pending", approval_id=pending.id if pending else None)
    emit(kind="reply", turn=reply.turn, data=reply.data)
    if mode == "kill":
        sys.stdin.read()  # nothing more is written: wait for SIGKILL, no close, no clean shutdown
        sys.exit(3)
    seller.close()
    emit(kind="done")
""")


def run_child(tmp_path: Path, url: str, nid: str, mode: str) -> list[dict[str, Any]]:
    """Run the child negotiation; in "kill" mode SIGKILL it right after its last proposal is printed."""
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(root=str(PROJECT_ROOT), sku=SKU, qty=QTY))
    errors = (tmp_path / "child.stderr").open("w")  # a file, not a pipe: a chatty child never blocks
    proc = subprocess.Popen([sys.executable, str(script), url, nid, mode], cwd=PROJECT_ROOT, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    try:
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"child still running after {CHILD_TIMEOUT_S}s; printed {events}")
            if line is None:
                break
            events.append(json.loads(line))
            if mode == "kill" and events[-1]["kind"] == "reply" and events[-2]["kind"] == "pending":
                proc.send_signal(signal.SIGKILL)
                break
        rc = proc.wait(timeout=CHILD_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)  # the child is gone: its stdout is at EOF
    errors.close()
    proc.stdin.close()
    proc.stdout.close()
    stderr = (tmp_path / "child.stderr").read_text()
    if mode == "kill":
        assert rc == -signal.SIGKILL, (rc, stderr)
    else:
        assert rc == 0, stderr
        assert events[-1] == {"kind": "done"}
    return events


@pytest.mark.parametrize("mode", ["exit", "kill"])
def test_negotiation_continues_in_a_new_process(make_seller, seller_db_url, tmp_path, mode) -> None:
    nid = f"neg-restart-{uuid.uuid4().hex[:8]}"
    events = run_child(tmp_path, seller_db_url, nid, mode)

    start_units = events[0]["units"]
    replies = [e for e in events if e["kind"] == "reply"]
    assert [r["turn"] for r in replies] == [1, 2, 3, 4, 5, 6]
    assert [r["data"]["version"] for r in replies] == [1, 2, 3, 4, 5, 6]
    last = replies[-1]["data"]
    assert last["type"] == "proposal" and last["status"] == "offered" and last["pending"]
    (child_approval,) = [e["approval_id"] for e in events if e["kind"] == "pending"]
    assert child_approval

    seller: Seller = make_seller()
    # The LangGraph checkpoint of the thread is there after the restart.
    state = seller.graph.graph.get_state({"configurable": {"thread_id": nid}})
    assert state.values, "no checkpoint for the negotiation's thread"
    assert state.values["negotiation_id"] == nid and state.values["turn"] == 6
    assert seller.graph.conversation(nid)[-1].additional_kwargs["data"]["version"] == 6  # the last reply
    saved = seller.checkpointer.get_tuple({"configurable": {"thread_id": nid}}).checkpoint["channel_values"]
    assert not {"messages", "work", "records", "outcome"} & set(saved)  # per-turn channels are not checkpointed
    # The durable state: the negotiation, its proposal, the hold and the pending approval.
    neg = seller.store.get_negotiation(nid)
    assert neg.status == "open" and neg.turn == 6 and neg.current_proposal == last["proposal_id"]
    assert seller.store.get_proposal(last["proposal_id"]).version == 6
    assert seller.store.available(SKU) == start_units - QTY
    pending = seller.store.pending_approval(nid)
    assert pending is not None and pending.id == child_approval and pending.level == "manager"

    # Continue: the next version follows the child's last one; the approval still waits.
    reply = seller.send(nid, data={"type": "counter_offer", "proposal_id": last["proposal_id"],
                                   "version": last["version"],
                                   # the price the approval waits on: above it, the request would be replaced
                                   "items": [{"sku": SKU, "quantity": str(QTY), "unit_price": "2.70"}]})
    assert reply.type == "proposal", (reply.data, reply.text)
    assert reply.turn == 7 and reply.data["version"] == last["version"] + 1
    assert reply.data["status"] == "offered" and reply.data["pending"]
    assert seller.store.pending_approval(nid).id == child_approval

    approved = seller.decide(child_approval, "approve", by="mgr@x", note="after restart")
    assert approved is not None and approved.type == "proposal"
    assert approved.data["version"] == last["version"] + 2
    assert Decimal(approved.data["items"][0]["unit_price"]) == Decimal("2.70")
    row = seller.store.get_approval(child_approval)
    assert (row.status, row.decided_by, row.note) == ("approved", "mgr@x", "after restart")

    deal = seller.send(nid, data={"type": "accept", "proposal_id": approved.data["proposal_id"],
                                  "version": approved.data["version"]})
    assert deal.type == "deal", (deal.data, deal.text)
    assert Decimal(deal.data["total"]) == Decimal("1350.00")
    assert seller.store.get_negotiation(nid).status == "deal"
    assert seller.store.available(SKU) == start_units - QTY
    assert seller.store.stock(SKU)["held"] == 0
    assert seller.graph.graph.get_state({"configurable": {"thread_id": nid}}).values["turn"] == 9
    # One decision trail across both processes, turn after turn.
    turns = sorted({r["turn"] for r in seller.store.records(nid)})
    assert turns == list(range(1, 10))



def test_checkpoints_are_derived_state_and_skip_the_disk_wait_store_writes_do_not(seller_db_url: str) -> None:
    """Checkpoint commits do not wait for the disk (the store is the source of truth a turn reads);
    the store's own deal write still does (synchronous FULL on SQLite, PostgreSQL's default)."""
    from sqlalchemy import text

    from agent.service import make_checkpointer
    from agent.store import Store

    saver = make_checkpointer(seller_db_url)
    try:
        if seller_db_url.startswith("sqlite"):
            assert saver.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
            assert saver.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        else:  # a pool of connections (it reconnects after an outage)
            with saver.conn.connection() as c:
                assert c.execute("SHOW synchronous_commit").fetchone()["synchronous_commit"] == "off"
    finally:
        saver.conn.close()
    store = Store(seller_db_url)
    try:
        with store.engine.connect() as conn:
            if seller_db_url.startswith("sqlite"):
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            else:
                assert conn.execute(text("SHOW synchronous_commit")).scalar() == "on"
    finally:
        store.dispose()
