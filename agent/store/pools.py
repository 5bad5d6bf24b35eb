"""How many PostgreSQL connections one server process may open, and how its pools share them.

A server process opens connections through four pools and one lone connection:

- the store's: a running turn holds one (its read view, then its commit), and keys, idempotency
  keys and the operators' reads take one while they run;
- the turn locks': one for the whole length of each running turn (the negotiation's advisory lock);
- the A2A task store's (async): task saves and reads, the message log, push configs;
- the checkpointer's (a psycopg_pool `ConnectionPool`, agent/service.py `make_checkpointer`): the
  saver runs one statement at a time (it holds a lock), so one connection, and one more for the
  readiness probe to check it without waiting for a turn's checkpoint; a dead connection (the
  database restarted, its backend terminated) is replaced instead of failing every later turn;
- the liveness lock's (agent/store/liveness.py), retaken on a new connection when it dies.

`--workers N` multiplies all of it, and a PostgreSQL server refuses connections beyond its
`max_connections` ("sorry, too many clients already"), failing turns mid-way. So `dealdesk serve`
reads the server's limit, gives each worker an equal share (`per_process_limit`) and sizes the
pools from it (`split`); a share too small to serve is refused at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, text

from tools.errors import DealdeskError

HEADROOM = 5  # left for `dealdesk` CLI commands, migrations and an operator's psql
MIN_PER_PROCESS = 8  # two turns at a time, with room for the A2A store
LIVENESS = 1  # the liveness lock's own connection (agent/store/liveness.py)


@dataclass(frozen=True)
class PoolSizes:
    """(pool_size, max_overflow) of each pool (the checkpointer's: its ConnectionPool's min_size and
    max_size - min_size); `total` counts the liveness lock's connection too."""

    store: tuple[int, int] = (5, 10)
    turn_locks: tuple[int, int] = (4, 16)
    tasks: tuple[int, int] = (10, 20)
    checkpoints: tuple[int, int] = (1, 1)

    @property
    def total(self) -> int:
        return sum(a + b for a, b in (self.store, self.turn_locks, self.tasks, self.checkpoints)) + LIVENESS


DEFAULT = PoolSizes()


class ConnectionBudgetError(DealdeskError):
    code = "connection_budget"


def per_process_limit(max_connections: int, reserved: int, workers: int, headroom: int = HEADROOM) -> int:
    """Each worker's equal share of what the server accepts from ordinary roles."""
    return max(0, (max_connections - reserved - headroom) // max(1, workers))


def split(limit: int) -> PoolSizes:
    """Pools that together open at most `limit` connections (never more than the defaults).

    The store and the turn locks get the same share (a running turn holds one of each); the A2A
    store the rest. Each pool keeps half of its share open and may overflow to the whole.
    """
    if limit >= DEFAULT.total:
        return DEFAULT
    if limit < MIN_PER_PROCESS:
        raise ConnectionBudgetError(f"{limit} PostgreSQL connections per process are too few to serve "
                                    f"(at least {MIN_PER_PROCESS}); run fewer workers or raise max_connections",
                                    field="workers")
    # the checkpointer's: one for the saver, and one for the readiness probe when there is room
    checkpoints = (1, 1) if limit >= 2 * MIN_PER_PROCESS else (1, 0)
    usable = limit - LIVENESS - sum(checkpoints)
    turns = max(2, usable * 3 // 10)  # a turn holds one of each: room for one turn and a commit
    tasks = usable - 2 * turns

    def pool(n: int) -> tuple[int, int]:
        return max(1, n // 2), n - max(1, n // 2)

    return PoolSizes(store=pool(turns), turn_locks=pool(turns), tasks=pool(tasks), checkpoints=checkpoints)


def server_limits(engine: Engine) -> tuple[int, int]:
    """(max_connections, superuser_reserved_connections) of the PostgreSQL server behind `engine`."""
    with engine.connect() as conn:
        max_connections = int(conn.execute(text("SHOW max_connections")).scalar())
        reserved = int(conn.execute(text("SHOW superuser_reserved_connections")).scalar())
    return max_connections, reserved


def limit_for(url: str, workers: int) -> int:
    """Each of `workers` processes' share of the PostgreSQL server at `url`; raises
    ConnectionBudgetError when that share is too small to serve (checked before any worker starts)."""
    from agent.store.db import make_engine

    probe = make_engine(url, pool_size=1, max_overflow=0)
    try:
        max_connections, reserved = server_limits(probe)
    finally:
        probe.dispose()
    limit = per_process_limit(max_connections, reserved, workers)
    split(limit)
    return limit
