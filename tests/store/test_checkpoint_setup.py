"""The PostgreSQL checkpointer: set up safely by several processes at once, on a pool sized by the
connection budget (agent/service.py `make_checkpointer`, `setup_checkpoints`; agent/store/pools.py).

`PostgresSaver.setup()` runs `CREATE INDEX CONCURRENTLY`, which waits for every transaction of the
database holding a snapshot: a start-up blocked in `SELECT pg_advisory_lock(...)` holds one, so two
start-ups on a fresh database could deadlock ("waits for ShareLock on virtual transaction").
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

import dbutil
from agent.service import make_checkpointer
from agent.store.pools import DEFAULT, split

ROUNDS = 8
STARTS = 4  # start-ups at once on each fresh schema


def _conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _close(saver) -> None:
    conn = getattr(saver, "conn", None)
    if conn is not None:
        conn.close()


def test_concurrent_start_ups_on_a_fresh_schema_never_deadlock() -> None:
    dbutil.require_postgres()
    failures: list[str] = []
    for _ in range(ROUNDS):
        with dbutil.pg_schema() as url:
            barrier = threading.Barrier(STARTS)
            savers: list = []
            errors: list[BaseException] = []

            def start() -> None:
                barrier.wait()
                try:
                    savers.append(make_checkpointer(url))
                except BaseException as exc:  # noqa: BLE001 - collected and reported below
                    errors.append(exc)

            threads = [threading.Thread(target=start) for _ in range(STARTS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            try:
                assert not any(t.is_alive() for t in threads), "a start-up hung"
                failures += [f"{type(e).__name__}: {str(e).splitlines()[0]}" for e in errors]
                assert not failures, failures
                with psycopg.connect(_conninfo(url)) as conn:  # set up once, whole, valid
                    from langgraph.checkpoint.postgres import PostgresSaver

                    versions = [r[0] for r in conn.execute("SELECT v FROM checkpoint_migrations ORDER BY v")]
                    assert versions == list(range(len(PostgresSaver.MIGRATIONS))), versions
                    invalid = conn.execute("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                                           "JOIN pg_namespace n ON n.oid = c.relnamespace "
                                           "WHERE n.nspname = current_schema() AND NOT i.indisvalid").fetchone()[0]
                    assert invalid == 0  # a CREATE INDEX CONCURRENTLY cut short leaves its index invalid
            finally:
                for s in savers:
                    _close(s)


def test_a_start_up_on_current_tables_does_not_wait_for_the_setup_lock() -> None:
    """Tables already set up (by `db upgrade` or an earlier start): no lock, no CREATE INDEX CONCURRENTLY,
    so a start-up never queues behind another process's setup."""
    from agent.service import CHECKPOINT_SETUP_LOCK, setup_checkpoints

    dbutil.require_postgres()
    with dbutil.pg_schema() as url:
        assert setup_checkpoints(url) is True  # created them
        assert setup_checkpoints(url) is False  # current: left alone
        with psycopg.connect(_conninfo(url), autocommit=True) as holder:
            holder.execute("SELECT pg_advisory_lock(%s)", (CHECKPOINT_SETUP_LOCK,))
            try:
                t0 = time.monotonic()
                saver = make_checkpointer(url)
                _close(saver)
                assert time.monotonic() - t0 < 5
            finally:
                holder.execute("SELECT pg_advisory_unlock(%s)", (CHECKPOINT_SETUP_LOCK,))


@pytest.mark.parametrize("limit", [None, 20, 9])
def test_the_checkpointer_pool_is_sized_by_the_connection_budget(limit: int | None) -> None:
    from psycopg_pool import ConnectionPool

    dbutil.require_postgres()
    pools = DEFAULT if limit is None else split(limit)
    with dbutil.pg_schema() as url:
        saver = make_checkpointer(url, pools)
        try:
            pool = saver.conn
            assert isinstance(pool, ConnectionPool)
            assert (pool.min_size, pool.max_size - pool.min_size) == pools.checkpoints
            with pool.connection() as conn:
                assert conn.execute("SHOW synchronous_commit").fetchone()["synchronous_commit"] == "off"
        finally:
            _close(saver)
    # the budget counts it: every pool's connections and the liveness lock's, no more than the share
    assert pools.total == sum(a + b for a, b in (pools.store, pools.turn_locks, pools.tasks, pools.checkpoints)) + 1
    if limit is not None:
        assert pools.total <= limit
