"""Which server processes are alive, so a claim left by a dead one is taken over at once.

A retried A2A messageId or REST Idempotency-Key finds the first attempt's claim "in flight". If the
process that holds it died (kill -9, a crash), the retry need not wait for the claim to age out:

- PostgreSQL: every server process holds a session-level advisory lock keyed by its token for its
  whole life, on a connection of its own. PostgreSQL drops the lock when that connection dies with
  the process, so "is the holder alive" is one look at `pg_locks`, from any process.
- SQLite serves one process (`dealdesk serve` refuses `--workers` there): when this process is the
  only one serving, a claim held by any other token was left by a process that is gone.

Claims record the token of the process that made them (`holder`). A claim without one (written
before this existed) keeps the old rule: it turns stale after a timeout.
"""

from __future__ import annotations

import uuid
import zlib

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

LIVE_CLASS = 7273  # advisory lock class of live server processes (the turn locks are class 7272)
_HELD = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = :c AND objid = :k "
             "AND objsubid = 2 AND granted")


def key_of(token: str) -> int:
    """The lock's second key: a non-negative int4, as `pg_locks.objid` (an oid) shows it."""
    return zlib.crc32(token.encode()) & 0x7FFFFFFF


class Liveness:
    """This process's token, and the test of another's."""

    def __init__(self, engine: Engine, *, single_process: bool = False):
        """`single_process`: on SQLite, this is the only process serving the database."""
        self.engine = engine
        self.token = uuid.uuid4().hex
        self.postgres = engine.dialect.name == "postgresql"
        self.single_process = single_process
        self._own: Engine | None = None
        self._conn: Connection | None = None

    def start(self) -> Liveness:
        """Take this process's lock (PostgreSQL) for as long as the process lives or until `stop()`."""
        if self.postgres and self._conn is None:
            # A connection of its own, outside every pool: closing it ends the session and the lock.
            self._own = create_engine(self.engine.url, poolclass=NullPool)
            conn = self._own.connect().execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text("SELECT pg_advisory_lock(:c, :k)"), {"c": LIVE_CLASS, "k": key_of(self.token)})
            self._conn = conn
        return self

    def stop(self) -> None:
        if self._conn is not None:
            try:  # released here, at once: the session's end (below) releases it too, but only once the server
                # has noticed the disconnect, so another process could still see this one alive for a moment
                self._conn.execute(text("SELECT pg_advisory_unlock(:c, :k)"),
                                   {"c": LIVE_CLASS, "k": key_of(self.token)})
            except Exception:  # noqa: BLE001 - the connection may be gone already: closing it is what is left
                pass
            self._conn.close()  # the session ends: its lock goes with it
            self._conn = None
        if self._own is not None:
            self._own.dispose()
            self._own = None

    def dead(self, holder: str | None, conn: Connection | None = None) -> bool:
        """True when the process with token `holder` is known to be gone; False when alive or unknown."""
        if not holder or holder == self.token:
            return False
        if not self.postgres:
            return self.single_process  # SQLite: the one serving process is this one
        if conn is not None:
            return not conn.execute(_HELD, {"c": LIVE_CLASS, "k": key_of(holder)}).scalar()
        with self.engine.connect() as fresh:
            return not fresh.execute(_HELD, {"c": LIVE_CLASS, "k": key_of(holder)}).scalar()
