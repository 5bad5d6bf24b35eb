"""PostgreSQL connection budget: every worker's pools together stay within its share of the server."""

from __future__ import annotations

import pytest
from sqlalchemy import text

import dbutil
from agent.store import Store
from agent.store.pools import (DEFAULT, MIN_PER_PROCESS, ConnectionBudgetError, limit_for, per_process_limit,
                               server_limits, split)


def test_each_worker_gets_an_equal_share_less_the_reserved_and_the_headroom() -> None:
    assert per_process_limit(100, 3, 1) == 92
    assert per_process_limit(100, 3, 2) == 46
    assert per_process_limit(100, 3, 64) == 1
    assert per_process_limit(5, 3, 1) == 0


@pytest.mark.parametrize("limit", range(MIN_PER_PROCESS, DEFAULT.total + 40))
def test_the_pools_never_open_more_than_the_share(limit: int) -> None:
    pools = split(limit)
    assert pools.total <= limit
    assert pools == DEFAULT or pools.total == limit  # a share below the defaults is used whole
    for size, overflow in (pools.store, pools.turn_locks, pools.tasks):
        assert size >= 1 and overflow >= 0
    # a running turn holds one store and one turn-lock connection: at least one turn at a time
    assert sum(pools.store) >= 2 and sum(pools.turn_locks) >= 1


def test_a_share_too_small_to_serve_is_refused_naming_workers() -> None:
    with pytest.raises(ConnectionBudgetError) as exc:
        split(MIN_PER_PROCESS - 1)
    assert exc.value.field == "workers" and "max_connections" in exc.value.message


def test_the_limits_are_read_from_the_server_and_size_the_store_pools() -> None:
    dbutil.require_postgres()
    url = dbutil.pg_url()
    store = Store(url, migrate=False, pools=split(20))
    try:
        with store.engine.connect() as conn:
            expected = (int(conn.execute(text("SHOW max_connections")).scalar()),
                        int(conn.execute(text("SHOW superuser_reserved_connections")).scalar()))
        assert server_limits(store.engine) == expected
        assert (store.engine.pool.size(), store.engine.pool._max_overflow) == split(20).store
        with store.turn_lock("neg-pools"):
            lock_pool = store._lock_engine.pool
            assert (lock_pool.size(), lock_pool._max_overflow) == split(20).turn_locks
    finally:
        store.dispose()
    assert limit_for(url, 1) == per_process_limit(*expected, 1)
    with pytest.raises(ConnectionBudgetError):
        limit_for(url, expected[0])  # one worker per connection the server accepts: far too few each
