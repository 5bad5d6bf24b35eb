"""Liveness: a claim whose process died is taken over at once, by exactly one retry."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time


import dbutil
from agent.store import Store
from agent.store.idempotency import IdempotencyStore
from agent.store.liveness import Liveness


def test_postgresql_a_process_is_alive_while_it_holds_its_lock_and_dead_once_killed() -> None:
    dbutil.require_postgres()
    store = Store(dbutil.pg_url(), migrate=False)
    me = Liveness(store.engine).start()
    other = Liveness(store.engine).start()
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(dbutil.__file__).rsplit('/tests/', 1)[0]!r})
        from agent.store.db import make_engine
        from agent.store.liveness import Liveness
        live = Liveness(make_engine({dbutil.pg_url()!r})).start()
        print(live.token, flush=True)
        time.sleep(120)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        token = child.stdout.readline().strip()
        assert token and not me.dead(token) and not me.dead(other.token) and not me.dead(me.token)
        other.stop()
        assert me.dead(other.token)  # stopped: its session (and lock) ended
        child.kill()  # SIGKILL: no clean shutdown
        child.wait(10)
        deadline = time.monotonic() + 10
        while not me.dead(token) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert me.dead(token), "the killed process still looks alive"
        assert me.dead("0" * 32) and not me.dead(None)  # never seen: gone; no holder: unknown
    finally:
        child.kill()
        me.stop()
        store.dispose()


def test_sqlite_one_serving_process_knows_every_other_token_is_gone(tmp_path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'live.db'}")
    try:
        single, shared = Liveness(store.engine, single_process=True).start(), Liveness(store.engine).start()
        assert single.dead("someone-else") and not single.dead(single.token) and not single.dead(None)
        assert not shared.dead("someone-else")  # several processes could write it: unknown
    finally:
        store.dispose()


def test_an_idempotency_key_left_in_flight_by_a_dead_process_is_taken_over_by_one_retry(store_url: str) -> None:
    store = Store(store_url)
    pg = store.engine.dialect.name == "postgresql"
    try:
        first = Liveness(store.engine, single_process=not pg).start()
        assert IdempotencyStore(store.engine, liveness=first).claim("org-a", "k-1", "fp").state == "claimed"
        first.stop()  # the process that claimed it is gone (PostgreSQL: its lock went with its session)
        retry = Liveness(store.engine, single_process=not pg).start()
        again = Liveness(store.engine).start()
        assert IdempotencyStore(store.engine, liveness=retry).claim("org-a", "k-1", "fp").state == "claimed"
        # the retry's process is alive: another retry waits (and on SQLite several writers are unknown)
        assert IdempotencyStore(store.engine, liveness=again).claim("org-a", "k-1", "fp").state == "in_flight"
        # without a liveness test, a fresh claim still waits for the timeout
        assert IdempotencyStore(store.engine).claim("org-a", "k-1", "fp").state == "in_flight"
        retry.stop()
        again.stop()
    finally:
        store.dispose()
