"""Idempotency keys for REST writes, stored beside the state they protect.

Stripe's rules: the first request with a key claims it; a retry with the same key and
the same request gets the stored response replayed; the same key with a different
request is refused; a retry while the first is still running is refused as a conflict.
Keys are scoped by an owner (a buyer organisation), so one buyer's key can never
return another buyer's answer.

A claim is one INSERT on the (owner, key) primary key, so two processes racing for a
key cannot both win. A claim left in flight by a process that died is taken over at once
when the claim names its process and `liveness` knows it is gone (agent/store/liveness.py),
and otherwise after `stale_after` seconds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Engine, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from agent.store import schema as t
from agent.store.db import transaction, utcnow
from agent.store.liveness import Liveness

ClaimState = Literal["claimed", "replay", "mismatch", "in_flight"]


@dataclass(frozen=True)
class Claim:
    state: ClaimState
    status: int | None = None
    body: Any = None


class IdempotencyStore:
    def __init__(self, engine: Engine, *, stale_after: float = 120.0, live_since: dt.datetime | None = None,
                 liveness: Liveness | None = None):
        """`live_since`: when only this process writes the database (one process on SQLite), an in-flight
        claim older than this was left by a process that died, and is taken over at once.
        `liveness`: claims record this process's token, and a claim whose process is gone is taken over."""
        self.engine = engine
        self.stale_after = stale_after
        self.live_since = live_since
        self.liveness = liveness

    @property
    def _holder(self) -> str | None:
        return self.liveness.token if self.liveness is not None else None

    def claim(self, owner: str, key: str, fingerprint: str, now: dt.datetime | None = None) -> Claim:
        """Claim `key` for a new request, or say what to do instead."""
        now = now or utcnow()
        try:
            with transaction(self.engine) as conn:
                conn.execute(insert(t.idempotency_keys).values(
                    owner=owner, key=key, fingerprint=fingerprint, status="in_flight", created_at=now,
                    updated_at=now, holder=self._holder))
            return Claim("claimed")
        except IntegrityError:
            pass
        c = t.idempotency_keys.c
        with transaction(self.engine) as conn:
            row = conn.execute(select(t.idempotency_keys).where(and_(c.owner == owner, c.key == key))).first()
            if row is None:  # released meanwhile: claim it now
                conn.execute(insert(t.idempotency_keys).values(
                    owner=owner, key=key, fingerprint=fingerprint, status="in_flight", created_at=now,
                    updated_at=now, holder=self._holder))
                return Claim("claimed")
            if row.fingerprint != fingerprint:
                return Claim("mismatch")
            if row.status == "done":
                return Claim("replay", row.response_status, row.response_body)
            cutoff = now - dt.timedelta(seconds=self.stale_after)
            if self.live_since is not None:
                cutoff = max(cutoff, self.live_since)
            # Its process is gone (nothing will complete it): take it over, unless another retry just did.
            gone = self.liveness is not None and self.liveness.dead(row.holder, conn)
            taken = conn.execute(update(t.idempotency_keys).where(and_(
                c.owner == owner, c.key == key, c.status == "in_flight",
                c.updated_at == row.updated_at if gone else c.updated_at < cutoff))
                .values(updated_at=now, holder=self._holder)).rowcount
            return Claim("claimed") if taken else Claim("in_flight")

    def complete(self, owner: str, key: str, status: int, body: Any) -> None:
        c = t.idempotency_keys.c
        with transaction(self.engine) as conn:
            conn.execute(update(t.idempotency_keys).where(and_(c.owner == owner, c.key == key)).values(
                status="done", response_status=status, response_body=body, updated_at=utcnow()))

    def release(self, owner: str, key: str) -> None:
        """Forget an in-flight claim (the request failed in a way a retry may fix)."""
        c = t.idempotency_keys.c
        with transaction(self.engine) as conn:
            conn.execute(delete(t.idempotency_keys).where(and_(c.owner == owner, c.key == key,
                                                               c.status == "in_flight")))

    def purge(self, older_than: dt.timedelta = dt.timedelta(hours=24)) -> int:
        """Drop keys older than Stripe's 24 hours; returns how many."""
        c = t.idempotency_keys.c
        with transaction(self.engine) as conn:
            return conn.execute(delete(t.idempotency_keys).where(c.created_at < utcnow() - older_than)).rowcount
