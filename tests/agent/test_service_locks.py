"""Turns of one negotiation queue in the process (agent/service.py), on a bounded set of locks."""

from __future__ import annotations

import contextlib
import threading

from agent.service import TURN_LOCK_STRIPES, Buyer


def test_a_negotiation_always_gets_the_same_lock_and_the_locks_do_not_grow(dd_seller_factory) -> None:
    seller = dd_seller_factory()
    ids = [f"neg-{i}" for i in range(5000)]
    locks = {id(seller._lock(nid)) for nid in ids}
    assert len(locks) <= TURN_LOCK_STRIPES
    assert all(seller._lock(nid) is seller._lock(nid) for nid in ids[:50])


def test_concurrent_messages_to_one_negotiation_take_turns(dd_seller_factory, monkeypatch) -> None:
    seller = dd_seller_factory()
    # Without the store's lock across processes (a flock beside the SQLite file), only the process's own
    # lock keeps the two buyers' turns apart: two turns on one stripe each would get the same turn number.
    monkeypatch.setattr(seller.store, "turn_lock", lambda negotiation_id: contextlib.nullcontext())
    nid = seller.start(Buyer(org="acme-locks", region="EU"))
    replies, errors = [], []

    def buyer() -> None:
        try:
            for _ in range(3):
                replies.append(seller.send(nid, text="what's the lead time of BRG-6204?"))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=buyer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(r.turn for r in replies) == [1, 2, 3, 4, 5, 6]
    assert all("days" in r.text for r in replies)  # each one answered
