"""The operator console's sessions, server-side: signing out ends a session on every server process.

The console's cookie is signed (agent/server/console.py) and carries a random nonce; this table keeps
one row per live session, keyed by the sha256 of that nonce (the table alone does not give a cookie
back, nor the CSRF token derived from the nonce). A cookie is honoured only while its row is there and
unexpired: signing out deletes the row, so a copy of the cookie is refused afterwards by any worker
that shares the database, whatever secret the workers share. Expired rows are pruned at each sign-in.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import Connection, Engine, delete, insert, select

from agent.store import schema as t
from agent.store.db import transaction, utcnow


def session_id(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


class ConsoleSessions:
    def __init__(self, engine: Engine):
        self.engine = engine

    def start(self, key_id: str, nonce: str, *, seconds: int) -> None:
        """Record a new session of `key_id` (and drop the expired ones)."""
        now = utcnow()
        with transaction(self.engine) as conn:
            conn.execute(delete(t.console_sessions).where(t.console_sessions.c.expires_at <= now))
            conn.execute(insert(t.console_sessions).values(id=session_id(nonce), key_id=key_id, created_at=now,
                                                           expires_at=now + dt.timedelta(seconds=seconds)))

    def live(self, key_id: str, nonce: str, conn: Connection | None = None) -> bool:
        """The session with this nonce was started for `key_id`, has not ended and has not expired."""
        if conn is None:
            with self.engine.connect() as fresh:
                return self.live(key_id, nonce, fresh)
        c = t.console_sessions.c
        row = conn.execute(select(c.key_id, c.expires_at).where(c.id == session_id(nonce))).first()
        return row is not None and row.key_id == key_id and row.expires_at > utcnow()

    def end(self, nonce: str) -> bool:
        """End the session with this nonce (sign-out); False when it had already ended."""
        with transaction(self.engine) as conn:
            done = conn.execute(delete(t.console_sessions).where(t.console_sessions.c.id == session_id(nonce)))
        return bool(done.rowcount)
