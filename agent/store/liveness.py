"""Which server processes are alive, so a claim left by a dead one is taken over at once.

A retried A2A messageId or REST Idempotency-Key finds the first attempt's claim "in flight". If the
process that holds it died (kill -9, a crash), the retry need not wait for the claim to age out:

- PostgreSQL: every server process holds a session-level advisory lock keyed by its token for its
  whole life, on a connection of its own. PostgreSQL drops the lock when that connection dies with
  the process, so "is the holder alive" is one look at `pg_locks`, from any process. The connection
  can die while the process lives (the database restarted, the backend was terminated): a watcher
  thread checks it every `heartbeat_s` and takes the lock again on a new connection as soon as the
  database answers, and readiness asks `held()`, which does the same at once. Until then the process
  looks dead to the others (a claim of its may be taken over) and reports itself not ready.
- SQLite serves one process (`dealdesk serve` refuses `--workers` there): when this process is the
  only one serving, a claim held by any other token was left by a process that is gone.

Claims record the token of the process that made them (`holder`). A claim without one (written
before this existed) keeps the old rule: it turns stale after a timeout.
"""

from __future__ import annotations

import logging
import threading
import uuid
import zlib

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

log = logging.getLogger("dealdesk.liveness")

HEARTBEAT_S = 1.0  # how often the watcher checks the lock's connection
LIVE_CLASS = 7273  # advisory lock class of live server processes (the turn locks are class 7272)
_HELD = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = :c AND objid = :k "
             "AND objsubid = 2 AND granted")


def key_of(token: str) -> int:
    """The lock's second key: a non-negative int4, as `pg_locks.objid` (an oid) shows it."""
    return zlib.crc32(token.encode()) & 0x7FFFFFFF


class Liveness:
    """This process's token, and the test of another's."""

    def __init__(self, engine: Engine, *, single_process: bool = False, heartbeat_s: float = HEARTBEAT_S):
        """`single_process`: on SQLite, this is the only process serving the database. `heartbeat_s`:
        how often (PostgreSQL) the watcher thread checks that the lock is still held."""
        self.engine = engine
        self.token = uuid.uuid4().hex
        self.postgres = engine.dialect.name == "postgresql"
        self.single_process = single_process
        self.heartbeat_s = heartbeat_s
        self.retaken = 0  # how often the lock was taken again on a new connection after losing one
        self._own: Engine | None = None
        self._conn: Connection | None = None
        self._mutex = threading.Lock()  # the lock's connection is used by one thread at a time
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> Liveness:
        """Take this process's lock (PostgreSQL) for as long as the process lives or until `stop()`,
        and keep it: taken again on a new connection whenever the database drops the one holding it."""
        if self.postgres and self._own is None:
            # A connection of its own, outside every pool: closing it ends the session and the lock.
            self._own = create_engine(self.engine.url, poolclass=NullPool)
            with self._mutex:
                if not self._take():
                    raise RuntimeError(f"the liveness lock of {self.token} is held by another session")
            self._stopping.clear()
            self._watcher = threading.Thread(target=self._watch, name="dealdesk-liveness", daemon=True)
            self._watcher.start()
        return self

    def _take(self) -> bool:
        """Open a connection and take the lock on it (with `_mutex` held). A try, never a wait: the token
        is this process's own, so the only other holder can be a session of this process the server
        has not yet seen die; the next check tries again."""
        assert self._own is not None
        conn = self._own.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:c, :k)"),
                               {"c": LIVE_CLASS, "k": key_of(self.token)}).scalar()
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def _drop(self) -> None:
        """Forget a connection the database no longer answers on (with `_mutex` held)."""
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception:  # noqa: BLE001 - it is gone already
                pass
            self._conn = None

    def held(self) -> bool:
        """True when this process holds its lock now (always on SQLite). A lock whose connection died
        is taken again on a new one here; False while the database cannot be reached."""
        if not self.postgres:
            return True
        with self._mutex:
            if self._own is None:  # not started, or stopped
                return False
            if self._conn is not None:
                try:
                    self._conn.execute(text("SELECT 1"))  # the session lives: its lock with it
                    return True
                except Exception as exc:  # noqa: BLE001 - any failure: the session (and the lock) is gone
                    log.warning("liveness lock of %s lost with its connection: %s", self.token,
                                type(exc).__name__)
                    self._drop()
            try:
                if not self._take():
                    return False
            except Exception:  # noqa: BLE001 - the database is still unreachable
                return False
            self.retaken += 1
            log.warning("liveness lock of %s taken again on a new connection", self.token)
            return True

    def _watch(self) -> None:
        while not self._stopping.wait(self.heartbeat_s):
            try:
                self.held()
            except Exception:  # noqa: BLE001 - the watcher must outlive any failure
                log.exception("liveness check failed")

    def stop(self) -> None:
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(timeout=10)
            self._watcher = None
        with self._mutex:
            if self._conn is not None:
                try:  # released here, at once: the session's end (below) releases it too, but only once the
                    # server has noticed the disconnect, so another process could still see this one alive
                    self._conn.execute(text("SELECT pg_advisory_unlock(:c, :k)"),
                                       {"c": LIVE_CLASS, "k": key_of(self.token)})
                except Exception:  # noqa: BLE001 - the connection may be gone already: closing it is what is left
                    pass
                try:
                    self._conn.close()  # the session ends: its lock goes with it
                except Exception:  # noqa: BLE001
                    pass
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
