"""What the store says during one turn, read once, through one connection.

A turn holds its negotiation's turn lock, and only its last node (`commit`)
writes, so the negotiation, its proposals, approvals and the organisation's
holds cannot change under it; reading each once is exact. Stock can move
through other negotiations meanwhile: the view reads it once per SKU, and
the commit re-checks it with a conditional update, as it always did.

One connection serves every read of the turn, so a turn pays for one pool
checkout (and, on PostgreSQL, one liveness ping) instead of one per query.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection

from agent.store import Negotiation, Store
from agent.store.autonomy import AutonomyStore
from agent.store.store import ApprovalRow, EventRow, ProposalRow

_UNSET: Any = object()


class TurnView:
    """Read-once accessors for one turn; `close()` returns the connection."""

    def __init__(self, store: Store, negotiation: Negotiation, conn: Connection | None = None):
        self.store = store
        self.negotiation = negotiation
        self.memo: dict[Any, Any] = {}  # values the graph derives once per turn (desks by payment terms)
        self._conn = conn
        self._proposals: dict[str, ProposalRow | None] = {}
        self._approvals: list[ApprovalRow] | None = None
        self._holds: list[dict[str, Any]] | None = None
        self._available: dict[str, int] = {}
        self._switches: Any = _UNSET
        self._events: dict[tuple, tuple[list[EventRow], list[EventRow]]] = {}

    @classmethod
    def open(cls, store: Store, negotiation_id: str) -> TurnView | None:
        """The view of a negotiation's next turn, or None for an unknown negotiation.

        The negotiation's current proposal comes with it: a turn reads both."""
        conn = store.engine.connect()
        try:
            conn.begin()  # as SQLAlchemy's autobegin would at the first read; the store's driver path needs it
            neg, current = store.negotiation_and_current_proposal(negotiation_id, conn=conn)
        except BaseException:
            conn.close()
            raise
        if neg is None:
            conn.close()
            return None
        view = cls(store, neg, conn)
        if neg.current_proposal:
            view._proposals[neg.current_proposal] = view._own(current)
        return view

    @property
    def turn(self) -> int:
        """The number of the turn this view serves (the last written turn + 1)."""
        return self.negotiation.turn + 1

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            conn = self.store.engine.connect()
            try:
                conn.begin()
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()  # a read-only transaction: rolled back
            self._conn = None

    # --- the negotiation's own rows ------------------------------------------------------

    def proposal(self, proposal_id: str | None) -> ProposalRow | None:
        """The latest version of one of this negotiation's proposals (None for another's)."""
        if not proposal_id:
            return None
        if proposal_id not in self._proposals:
            self._proposals[proposal_id] = self._own(
                self.store.get_proposal(proposal_id, buyer_org=self.negotiation.buyer_org, conn=self.conn))
        return self._proposals[proposal_id]

    def _own(self, row: ProposalRow | None) -> ProposalRow | None:
        return row if row is not None and row.negotiation_id == self.negotiation.id else None

    def current_proposal(self) -> ProposalRow | None:
        return self.proposal(self.negotiation.current_proposal)

    def approvals(self) -> list[ApprovalRow]:
        """This negotiation's approval requests, oldest first."""
        if self._approvals is None:
            self._approvals = self.store.approvals(negotiation_id=self.negotiation.id, conn=self.conn)
        return self._approvals

    def pending_approval(self) -> ApprovalRow | None:
        pending = [a for a in self.approvals() if a.status == "pending"]
        return pending[-1] if pending else None

    def own_holds(self) -> dict[str, int]:
        """Units the current proposal holds, by SKU (they count as available to it)."""
        if self._holds is None:
            pid = self.negotiation.current_proposal
            self._holds = self.store.active_holds(self.negotiation.buyer_org, proposal_id=pid, conn=self.conn) \
                if pid else []
        out: dict[str, int] = {}
        for h in self._holds:
            out[h["sku"]] = out.get(h["sku"], 0) + h["quantity"]
        return out

    # --- shared rows ---------------------------------------------------------------------

    def available(self, sku: str) -> int:
        if sku not in self._available:
            self.prefetch_stock([sku])
        return self._available[sku]

    def prefetch_stock(self, skus: Iterable[str]) -> None:
        missing = [s for s in skus if s not in self._available]
        if missing:
            self._available.update(self.store.available_many(missing, conn=self.conn))

    def switches(self) -> dict[str, Any]:
        """The operators' autonomy switches."""
        if self._switches is _UNSET:
            self._switches = AutonomyStore(self.store.engine).switches(conn=self.conn)
        return self._switches

    def history_and_memory(self, skus: list[str], since: dt.datetime) -> tuple[list[EventRow], list[EventRow]]:
        key = (tuple(sorted(skus)), since)
        if key not in self._events:
            n = self.negotiation
            self._events[key] = self.store.history_and_memory(n.id, n.buyer_org, skus, since, conn=self.conn)
        return self._events[key]
