"""Liveness after a database outage: the lock a live process lost with its connection is taken again on
a new one, so the process never goes on looking dead to the others (agent/store/liveness.py)."""

from __future__ import annotations

import secrets
import time


import dbutil
from agent.store.db import make_engine
from agent.store.liveness import Liveness


def test_a_live_process_takes_its_lock_again_after_the_database_dropped_its_connection() -> None:
    dbutil.require_postgres()
    name = f"dd_t_live_{secrets.token_hex(4)}"
    named = dbutil.named_url(dbutil.pg_url(), name)
    mine, theirs = make_engine(named), make_engine(dbutil.pg_url())  # only this process's side is cut
    live = Liveness(mine).start()  # its watcher checks every second
    observer = Liveness(theirs)
    try:
        assert not observer.dead(live.token)
        for _ in range(2):  # and again: it is kept, not retaken once
            assert dbutil.terminate(name) == 1
            deadline = time.monotonic() + 5
            while observer.dead(live.token) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not observer.dead(live.token), "a live process looks dead after the outage"
        assert live.held()
    finally:
        live.stop()
        mine.dispose()
        theirs.dispose()
    assert observer.dead(live.token)  # stopped: gone


def test_held_reports_a_lost_lock_and_takes_it_again_at_once() -> None:
    """Readiness asks `held()`: it does not wait for the next heartbeat."""
    dbutil.require_postgres()
    name = f"dd_t_live_{secrets.token_hex(4)}"
    named = dbutil.named_url(dbutil.pg_url(), name)
    engine = make_engine(named)
    live = Liveness(engine, heartbeat_s=3600).start()  # no heartbeat within the test
    try:
        assert live.held() and live.retaken == 0
        assert dbutil.terminate(name) == 1
        assert live.held() and live.retaken == 1
        assert not Liveness(engine).dead(live.token)
    finally:
        live.stop()
        engine.dispose()
    assert not live.held()  # stopped
