"""A turn reads the store through one view: each row once, one connection, given back before the commit."""

from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import event

from agent.service import Buyer

SKU = "BRG-6204"


def _rfq(qty: int = 120) -> dict:
    return {"type": "rfq", "items": [{"sku": SKU, "quantity": str(qty)}]}


def test_a_turn_reads_each_row_once_and_writes_in_one_transaction(make_seller) -> None:
    seller = make_seller()
    nid = seller.start(Buyer(org="view-org", region="EU"))
    first = seller.send(nid, data=_rfq())
    engine = seller.store.engine
    sqlite = engine.dialect.name == "sqlite"
    # SQLite: every statement as SQLite runs it (the store's driver path and BEGIN go past SQLAlchemy's
    # events; a statement listener would send the store back to SQLAlchemy's path). PostgreSQL: SQLAlchemy's.
    seen: list[str] = []

    def _seen(conn, cursor, statement, params, context, executemany):  # noqa: ANN001
        seen.append(statement)

    def _trace(dbapi_conn, record, proxy):  # noqa: ANN001
        dbapi_conn.set_trace_callback(seen.append)

    def _untrace(dbapi_conn, record):  # noqa: ANN001
        dbapi_conn.set_trace_callback(None)

    hooks = [("checkout", _trace), ("checkin", _untrace)] if sqlite else [("before_cursor_execute", _seen)]
    for name, fn in hooks:
        event.listen(engine, name, fn)
    try:
        reply = seller.send(nid, data={"type": "counter_offer", "proposal_id": first.data["proposal_id"],
                                       "version": first.data["version"],
                                       "items": [{"sku": SKU, "quantity": "120", "unit_price": "2.60"}]})
    finally:
        for name, fn in hooks:
            event.remove(engine, name, fn)
    assert reply.type == "proposal" and reply.data["version"] == 2

    statements = [" ".join(s.split()) for s in seen]
    reads = Counter(s.split(" FROM ")[1].split()[0] for s in statements
                    if s.startswith("SELECT") and " FROM " in s and "FOR UPDATE" not in s)  # not the commit's row locks
    # the turn's view: the negotiation, its current proposal, approvals and holds, each read once
    assert reads["dd_negotiations"] == 1, statements
    # its current proposal came with the negotiation: the one other read is the commit's version check
    assert reads["dd_proposals"] == 1, reads
    assert reads["dd_approvals"] == 1 and reads["dd_events"] == 1 and reads["dd_autonomy"] == 1, reads
    assert reads["dd_inventory"] == 1, reads
    if sqlite:  # one write transaction a turn (the commit node's)
        assert [s for s in statements if s.startswith("BEGIN")] == ["BEGIN", "BEGIN IMMEDIATE"], statements
    # the turn counter advanced with the turn's records
    assert seller.store.get_negotiation(nid).turn == reply.turn == 2


def test_more_concurrent_turns_than_pooled_connections_all_finish(make_seller) -> None:
    """Each turn holds at most one store connection at a time, so turns beyond the pool's size queue
    for a connection instead of holding one while they wait for a second (which stalled until the
    pool's timeout)."""
    seller = make_seller()
    pool = seller.store.engine.pool
    capacity = pool.size() + max(getattr(pool, "_max_overflow", 0), 0)
    n = 2 * capacity + 4
    nids = [seller.start(Buyer(org=f"crowd-{i}", region="EU")) for i in range(n)]
    replies: dict[str, object] = {}
    errors: list[BaseException] = []

    def turn(nid: str) -> None:
        try:
            replies[nid] = seller.send(nid, data=_rfq(10))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=turn, args=(nid,), daemon=True) for nid in nids]
    for th in threads:
        th.start()
    for th in threads:
        th.join(25)  # under the pool's 30 s timeout: a stall fails here instead of erroring later
    assert not any(th.is_alive() for th in threads), "turns stalled waiting for pooled connections"
    assert not errors, errors[:3]
    assert sorted(r.type for r in replies.values()) == ["proposal"] * n
