"""The durable negotiation store: every write that matters is one transaction.

- Inventory: the catalog seeds on-hand stock once; afterwards the database owns it.
  available = on_hand - allocated - held.
- Holds: a proposal holds its stock until it expires; holds are reserved with a
  conditional UPDATE (never read-then-write), capped per buyer organisation.
- A new proposal version supersedes the old one and swaps its holds atomically.
- Acceptance turns holds into allocations (re-reserving if a hold lapsed), writes the
  deal, the proposal's status and the decision record in one transaction.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import uuid
import zlib
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import NoResultFound

from agent.store import audit
from agent.store import direct as D
from agent.store import queries as Q
from agent.store import schema as t
from agent.store.db import JsonText, lock_negotiation, make_engine, transaction, upgrade, utcnow
from agent.store.pools import DEFAULT as DEFAULT_POOLS
from agent.store.pools import PoolSizes
from tools.errors import DealdeskError, InsufficientInventory


class UnknownProposal(DealdeskError):
    code = "unknown_proposal"


class ProposalExpired(DealdeskError):
    code = "proposal_expired"


class ProposalSuperseded(DealdeskError):
    code = "proposal_superseded"


class HoldLimitExceeded(DealdeskError):
    code = "hold_limit_exceeded"


class ApprovalNotPending(DealdeskError):
    code = "approval_not_pending"


class ApprovalExpired(DealdeskError):
    code = "approval_expired"


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10].upper()}"


@dataclass(frozen=True)
class Negotiation:
    id: str
    buyer_org: str
    region: str
    currency: str | None
    segment: str
    payment_terms: str | None
    status: str
    turn: int
    current_proposal: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class ProposalRow:
    id: str
    version: int
    negotiation_id: str
    buyer_org: str
    status: str
    currency: str
    payment_terms: str
    valid_until: dt.datetime
    total: Decimal
    body: dict[str, Any]
    moves: list[str]
    created_at: dt.datetime


@dataclass(frozen=True)
class DealRow:
    id: str
    proposal_id: str
    version: int
    negotiation_id: str
    buyer_org: str
    currency: str
    total: Decimal
    body: dict[str, Any]
    accepted_at: dt.datetime


@dataclass(frozen=True)
class ApprovalRow:
    id: str
    negotiation_id: str
    buyer_org: str
    proposal_id: str
    level: str
    status: str
    requested: dict[str, Any]
    reasons: list[dict[str, Any]]
    requested_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    note: str | None
    decision: dict[str, Any] | None


@dataclass(frozen=True)
class EventRow:
    negotiation_id: str
    turn: int
    side: str
    kind: str
    sku: str | None
    quantity: int | None
    unit_price: Decimal | None
    list_price: Decimal | None
    payment_terms: str | None
    at: dt.datetime


@dataclass(frozen=True)
class HoldRequest:
    sku: str
    quantity: int
    cap: int | None  # most units this buyer organisation may hold of the SKU, None for no cap


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


# Rows to dataclasses by position: a row of a whole table has its columns in table order, which is
# the dataclass's field order (tests/store/test_direct.py holds them together). Rows come as tuples
# from the driver path (direct.py) and as SQLAlchemy Rows from its own; both are sequences.

def _negotiation(row: Sequence[Any]) -> Negotiation:
    return Negotiation(*row)


def _proposal(row: Sequence[Any]) -> ProposalRow:
    pid, version, nid, org, status, currency, terms, valid_until, total, body, moves, created_at = row
    return ProposalRow(pid, version, nid, org, status, currency, terms, valid_until, Decimal(total), body, moves,
                       created_at)


def _approval(row: Sequence[Any]) -> ApprovalRow:
    return ApprovalRow(*row)


def _deal(row: Sequence[Any]) -> DealRow:
    did, pid, version, nid, org, currency, total, body, accepted_at = row
    return DealRow(did, pid, version, nid, org, currency, Decimal(total), body, accepted_at)


def _event(row: Sequence[Any]) -> EventRow:
    _id, nid, _org, turn, side, kind, sku, quantity, unit_price, list_price, terms, at = row
    return EventRow(nid, turn, side, kind, sku, quantity, _dec(unit_price), _dec(list_price), terms, at)


_HOLD_COLUMNS = tuple(t.holds.c.keys())
_NEGOTIATION_COLUMNS = len(t.negotiations.c)


def _open_lock_file(lock_dir: str, name: str) -> int:
    """A turn lock file opened as `open(path, "a+b")` would (created if missing), as a bare descriptor;
    the directory is made again if someone removed it since."""
    path = f"{lock_dir}/{name}"
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
    except FileNotFoundError:
        Path(lock_dir).mkdir(exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)


def _one(row: Sequence[Any] | None) -> Sequence[Any]:
    """The row a statement must find, as SQLAlchemy's `Result.one()` insists on it."""
    if row is None:
        raise NoResultFound("No row was found when one was required")
    return row


def _last_turns(records: Iterable[dict[str, Any]]) -> dict[str, int]:
    """The last turn of each negotiation in `records`."""
    last: dict[str, int] = {}
    for r in records:
        nid, turn = r["gen_ai.conversation.id"], r.get("turn") or 0
        last[nid] = max(last.get(nid, 0), turn)
    return last


TURN_LOCK_CLASS = 7272  # advisory lock class of whole turns (PostgreSQL)
_TURN_LOCK = text("SELECT pg_advisory_lock(:c, :k)")
_TURN_UNLOCK = text("SELECT pg_advisory_unlock(:c, :k)")
_UNSET: Any = object()


@contextmanager
def _reading(engine: Any, conn: Connection | None) -> Iterator[Connection]:
    """The caller's connection when it has one (a turn reads through one), else a fresh one."""
    if conn is not None:
        yield conn
        return
    with engine.connect() as fresh:
        fresh.begin()  # what SQLAlchemy's autobegin would do at the first statement; the driver path needs it
        yield fresh


class Store:
    """All durable state of dealdesk, on SQLite or PostgreSQL."""

    def __init__(self, url: str, *, migrate: bool = True, pools: PoolSizes | None = None):
        """`pools`: the PostgreSQL pool sizes of this process (`agent/store/pools.py`); SQLite ignores them."""
        self.url = url
        self.pools = pools or DEFAULT_POOLS
        self.engine = make_engine(url, pool_size=self.pools.store[0], max_overflow=self.pools.store[1])
        self._lock_engine = None
        self._lock_dir: Any = _UNSET  # SQLite: the turn locks' directory (None: no file, no lock); found once
        if migrate:
            upgrade(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()
        if self._lock_engine is not None:
            self._lock_engine.dispose()

    @contextmanager
    def turn_lock(self, negotiation_id: str) -> Iterator[None]:
        """Serialise the turns of one negotiation across processes, for the whole turn.

        A turn spans several transactions (graph nodes, the checkpoint), so the
        lock is held outside them: a session-level advisory lock on PostgreSQL,
        an exclusive `flock` on a lock file beside a SQLite database.
        """
        key = zlib.crc32(negotiation_id.encode()) - 2**31
        if self.engine.dialect.name == "postgresql":
            # The two-key lock space (class, key) never meets the one-key transaction locks
            # that writes inside the turn take on the same negotiation. The lock's connection
            # comes from a pool of its own, so turns holding locks never starve their own writes.
            if self._lock_engine is None:
                self._lock_engine = make_engine(self.url, pool_size=self.pools.turn_locks[0],
                                                max_overflow=self.pools.turn_locks[1])
            with self._lock_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(_TURN_LOCK, {"c": TURN_LOCK_CLASS, "k": key})
                try:
                    yield
                finally:
                    conn.execute(_TURN_UNLOCK, {"c": TURN_LOCK_CLASS, "k": key})
            return
        lock_dir = self._sqlite_lock_dir()
        if lock_dir is None:
            yield
            return
        fd = _open_lock_file(lock_dir, f"{key % 1024:04d}.lock")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _sqlite_lock_dir(self) -> str | None:
        """The directory of a SQLite file's turn lock files, created on the first turn (not on every
        turn: a mkdir is a system call and an exception); None for an in-memory database."""
        if self._lock_dir is _UNSET:
            path = self.engine.url.database
            if not path or path == ":memory:" or "mode=memory" in str(self.engine.url):
                self._lock_dir = None
            else:
                Path(path + ".locks").mkdir(exist_ok=True)
                self._lock_dir = path + ".locks"
        return self._lock_dir

    # --- inventory -------------------------------------------------------------------

    def seed_inventory(self, stock: Iterable[tuple[str, int]]) -> int:
        """Insert stock for SKUs the database does not know yet; never overwrite. Returns rows added."""
        now = utcnow()
        added = 0
        with transaction(self.engine) as conn:
            known = set(conn.execute(select(t.inventory.c.sku)).scalars())
            rows = [{"sku": sku, "on_hand": qty, "allocated": 0, "held": 0, "updated_at": now}
                    for sku, qty in stock if sku not in known]
            if rows:
                # Another process may seed at the same moment: existing SKUs are left alone.
                dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
                ins = dialect_insert(t.inventory).on_conflict_do_nothing(index_elements=["sku"])
                added = len(conn.execute(ins.returning(t.inventory.c.sku), rows).all())
        return added

    def stock(self, sku: str, conn: Connection | None = None) -> dict[str, int] | None:
        with _reading(self.engine, conn) as c:
            row = c.execute(select(t.inventory).where(t.inventory.c.sku == sku)).first()
        if row is None:
            return None
        m = row._mapping
        return {"on_hand": m["on_hand"], "allocated": m["allocated"], "held": m["held"],
                "available": m["on_hand"] - m["allocated"] - m["held"]}

    def available(self, sku: str, conn: Connection | None = None) -> int:
        s = self.stock(sku, conn)
        return 0 if s is None else s["available"]

    def available_many(self, skus: Iterable[str], conn: Connection | None = None) -> dict[str, int]:
        """Available units of several SKUs in one query (unknown SKUs: 0)."""
        wanted = sorted(set(skus))
        with _reading(self.engine, conn) as c:
            found = dict(D.rows(c, Q.AVAILABLE, {"skus": wanted}))
        return {sku: found.get(sku, 0) for sku in wanted}

    @staticmethod
    def _release_expired(conn: Connection, now: dt.datetime, skus: Sequence[str] | None = None) -> int:
        if skus is not None:
            expired = D.rows(conn, Q.EXPIRED_HOLDS_OF_SKUS, {"now": now, "skus": list(skus)})
        else:
            expired = conn.execute(select(t.holds.c.id, t.holds.c.sku, t.holds.c.quantity).where(
                and_(t.holds.c.status == "active", t.holds.c.expires_at <= now))).all()
        for hold_id, sku, qty in expired:
            Store._release_hold(conn, hold_id, sku, qty, now)
        return len(expired)

    @staticmethod
    def _release_hold(conn: Connection, hold_id: int, sku: str, qty: int, now: dt.datetime) -> None:
        if D.write(conn, Q.RELEASE_HOLD, {"hid": hold_id}):
            D.write(conn, Q.UNHOLD, {"b_sku": sku, "qty": qty, "now": now})

    def release_expired_holds(self, now: dt.datetime | None = None) -> int:
        with transaction(self.engine) as conn:
            return self._release_expired(conn, now or utcnow())

    @staticmethod
    def _reserve(conn: Connection, sku: str, qty: int, now: dt.datetime, column: str) -> bool:
        """Conditionally move `qty` from available into `held` or `allocated`."""
        return bool(D.write(conn, Q.RESERVE[column], {"b_sku": sku, "qty": qty, "now": now}))

    # --- negotiations and events -------------------------------------------------------

    def create_negotiation(self, negotiation_id: str, *, buyer_org: str, region: str, segment: str,
                           currency: str | None = None, payment_terms: str | None = None) -> Negotiation:
        now = utcnow()
        with transaction(self.engine) as conn:
            existing = D.first(conn, Q.NEGOTIATION, {"id": negotiation_id})
            if existing is not None and _negotiation(existing).buyer_org != buyer_org:  # never another buyer's
                raise DealdeskError(f"unknown negotiation {negotiation_id}", code="malformed_message",
                                    field="negotiation_id")
            if existing is not None:  # reopened: as it stands
                return _negotiation(existing)
            D.write(conn, Q.INSERT_NEGOTIATION, {
                "id": negotiation_id, "buyer_org": buyer_org, "region": region, "currency": currency,
                "segment": segment, "payment_terms": payment_terms, "status": "open", "turn": 0,
                "current_proposal": None, "created_at": now, "updated_at": now})
            row = _one(D.first(conn, Q.NEGOTIATION, {"id": negotiation_id}))  # as the database keeps it
        return _negotiation(row)

    def get_negotiation(self, negotiation_id: str, buyer_org: str | None = None, *,
                        conn: Connection | None = None) -> Negotiation | None:
        with _reading(self.engine, conn) as c:
            row = D.first(c, Q.NEGOTIATION, {"id": negotiation_id})
        if row is None:
            return None
        neg = _negotiation(row)
        return None if buyer_org is not None and neg.buyer_org != buyer_org else neg

    def negotiation_and_current_proposal(self, negotiation_id: str, *, conn: Connection | None = None
                                         ) -> tuple[Negotiation | None, ProposalRow | None]:
        """A turn's first read, in one statement: the negotiation and the latest version of its current proposal."""
        with _reading(self.engine, conn) as c:
            row = D.first(c, Q.NEGOTIATION_AND_CURRENT_PROPOSAL, {"id": negotiation_id})
        if row is None:
            return None, None
        n = _NEGOTIATION_COLUMNS
        return _negotiation(row[:n]), None if row[n] is None else _proposal(row[n:])

    def list_negotiations(self, *, buyer_org: str | None = None, status: str | None = None,
                          limit: int = 100) -> list[Negotiation]:
        q = select(t.negotiations).order_by(t.negotiations.c.created_at.desc()).limit(limit)
        if buyer_org is not None:
            q = q.where(t.negotiations.c.buyer_org == buyer_org)
        if status is not None:
            q = q.where(t.negotiations.c.status == status)
        with self.engine.connect() as conn:
            return [_negotiation(r) for r in conn.execute(q)]

    def set_status(self, negotiation_id: str, status: str, conn: Connection | None = None) -> None:
        params = {"nid": negotiation_id, "b_status": status, "now": utcnow()}
        if conn is not None:
            D.write(conn, Q.SET_STATUS, params)
            return
        with transaction(self.engine) as c:
            D.write(c, Q.SET_STATUS, params)

    def end_negotiation(self, negotiation_id: str, status: str, *, release: bool,
                        events: tuple[int, Sequence[dict[str, Any]]] | None = None,
                        records: Sequence[dict[str, Any]] = ()) -> None:
        """End a negotiation in one transaction: its status, and with `release` its offered proposal
        withdrawn and the proposal's holds released; pending approvals become moot (canceled).
        Used for a buyer's rejection and a cancel; a close on max rounds keeps the last offer standing.
        """
        now = utcnow()
        with transaction(self.engine) as conn:
            neg = _negotiation(_one(D.first(conn, Q.NEGOTIATION, {"id": negotiation_id})))
            D.write(conn, Q.SET_STATUS, {"nid": negotiation_id, "b_status": status, "now": now})
            if release and neg.current_proposal:
                D.write(conn, Q.WITHDRAW_OFFERED, {"pid": neg.current_proposal, "b_status": status})
                for hold_id, sku, qty in D.rows(conn, Q.ACTIVE_HOLDS_OF, {"pid": neg.current_proposal}):
                    self._release_hold(conn, hold_id, sku, qty, now)
            self._cancel_pending_approvals(conn, negotiation_id, now, f"negotiation {status}")
            if events:
                self._insert_events(conn, negotiation_id, neg.buyer_org, events[0], events[1], now)
            self._insert_records(conn, records)

    def cancel_negotiation(self, negotiation_id: str) -> bool:
        """The buyer cancelled (A2A CancelTask), in one transaction: the negotiation canceled, its live proposal
        versions (offered or awaiting approval) withdrawn as rejected with their holds released, and its pending
        approvals canceled, so an operator cannot approve what the buyer left. False when it already ended in a
        deal (that cannot be cancelled); True when it is (or was already) canceled, or does not exist.

        A decision record (node `cancel`, rule `buyer.cancel`) says what the cancel withdrew, in the same
        transaction: the versions and the approval requests it ended."""
        now = utcnow()
        with transaction(self.engine) as conn:
            lock_negotiation(conn, negotiation_id)
            row = D.first(conn, Q.NEGOTIATION, {"id": negotiation_id})
            if row is None:
                return True
            neg = _negotiation(row)
            if neg.status == "deal":
                return False
            if neg.status == "canceled":  # canceled before: nothing more to withdraw, nor to record
                return True
            D.write(conn, Q.SET_STATUS, {"nid": negotiation_id, "b_status": "canceled", "now": now})
            live = conn.execute(select(t.proposals.c.id, t.proposals.c.version).where(and_(
                t.proposals.c.negotiation_id == negotiation_id,
                t.proposals.c.status.in_(("offered", "pending_approval"))))).all()
            released = []
            for pid, version in live:
                D.write(conn, Q.SET_PROPOSAL_STATUS, {"pid": pid, "b_version": version, "b_status": "rejected"})
                for hold_id, sku, qty in D.rows(conn, Q.ACTIVE_HOLDS_OF, {"pid": pid}):
                    self._release_hold(conn, hold_id, sku, qty, now)
                    released.append({"sku": sku, "quantity": qty})
            approvals = sorted(conn.execute(select(t.approvals.c.id).where(and_(
                t.approvals.c.negotiation_id == negotiation_id, t.approvals.c.status == "pending"))).scalars())
            self._cancel_pending_approvals(conn, negotiation_id, now, "negotiation canceled by the buyer")
            self._insert_records(conn, [{
                "gen_ai.conversation.id": negotiation_id, "gen_ai.operation.name": "cancel", "node": "cancel",
                "dealdesk.node": "cancel", "turn": neg.turn, "message_id": None, "dealdesk.rule_ids": ["buyer.cancel"],
                "dealdesk.cancel.by": "buyer", "dealdesk.cancel.at": now.isoformat(timespec="seconds") + "Z",
                "dealdesk.cancel.withdrawn": [{"proposal_id": pid, "version": v} for pid, v in sorted(live)],
                "dealdesk.cancel.released": released, "dealdesk.cancel.approvals_canceled": approvals}])
        return True

    @staticmethod
    def _cancel_pending_approvals(conn: Connection, negotiation_id: str, now: dt.datetime, why: str) -> None:
        D.write(conn, Q.CANCEL_PENDING_APPROVALS, {"nid": negotiation_id, "now": now, "why": why})

    def record_turn(self, negotiation_id: str, buyer_org: str, turn: int, *, status: str | None = None,
                    events: Sequence[dict[str, Any]] = (), records: Sequence[dict[str, Any]] = (),
                    approval: dict[str, Any] | None = None, proposal_id: str | None = None,
                    cancel_approval: str | None = None) -> None:
        """A turn that changed no proposal: its status change, events and records in one transaction.

        With `approval` ({"moves", "level", "reasons"}), also files that request on `proposal_id`, whose standing
        version stays as it is (an offer awaiting an operator never takes away one the buyer may accept), after
        canceling the pending request `cancel_approval` it replaces."""
        now = utcnow()
        with transaction(self.engine) as conn:
            if status:
                self.set_status(negotiation_id, status, conn=conn)
            if status == "closed":  # no more rounds: a pending request can no longer be sent (its offer stands)
                self._cancel_pending_approvals(conn, negotiation_id, now, "negotiation closed")
            if cancel_approval is not None:
                D.write(conn, Q.CANCEL_APPROVAL, {"b_id": cancel_approval, "now": now,
                                                  "why": "replaced by a newer request"})
            if approval is not None:
                if proposal_id is None:
                    raise ValueError("an approval request is filed on a proposal")
                self._file_approval(conn, negotiation_id, buyer_org, proposal_id, approval, now)
            self._insert_events(conn, negotiation_id, buyer_org, turn, events, now)
            self._insert_records(conn, records)

    def keep_seller_message(self, negotiation_id: str, turn: int, message: dict[str, Any]) -> None:
        """The message a seller-initiated turn (an operator's decision) sent, kept for its delivery on the buyer's
        A2A task by a server process (the decision may have been made by the CLI); the negotiation is marked
        updated, so that reconciliation looks at its task."""
        now = utcnow()
        with transaction(self.engine) as conn:
            conn.execute(t.seller_messages.delete().where(t.seller_messages.c.negotiation_id == negotiation_id))
            conn.execute(t.seller_messages.insert().values(negotiation_id=negotiation_id, turn=turn,
                                                           message=message, at=now))
            conn.execute(update(t.negotiations).where(t.negotiations.c.id == negotiation_id)
                         .values(updated_at=func.max(t.negotiations.c.updated_at, now)
                                 if self.engine.dialect.name == "sqlite"
                                 else func.greatest(t.negotiations.c.updated_at, now)))

    def seller_message(self, negotiation_id: str) -> tuple[int, dict[str, Any]] | None:
        """The last seller-initiated message of the negotiation and its turn (`keep_seller_message`), if any."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.seller_messages.c.turn, t.seller_messages.c.message).where(
                t.seller_messages.c.negotiation_id == negotiation_id)).first()
        return (row[0], row[1]) if row is not None else None

    @staticmethod
    def _file_approval(conn: Connection, negotiation_id: str, buyer_org: str, proposal_id: str,
                       approval: dict[str, Any], now: dt.datetime) -> None:
        D.write(conn, Q.INSERT_APPROVAL, {
            "id": new_id("A"), "negotiation_id": negotiation_id, "buyer_org": buyer_org, "proposal_id": proposal_id,
            "level": approval["level"], "status": "pending",
            "requested": {"moves": approval["moves"], **({"limits": approval["limits"]} if approval.get("limits") else {})},
            "reasons": approval["reasons"], "requested_at": now})

    def add_events(self, negotiation_id: str, buyer_org: str, turn: int, events: Sequence[dict[str, Any]],
                   conn: Connection | None = None) -> None:
        """Record prices put on the table (side, kind, sku, quantity, unit_price, list_price, payment_terms)."""
        if not events:
            return
        if conn is not None:
            self._insert_events(conn, negotiation_id, buyer_org, turn, events, utcnow())
            return
        with transaction(self.engine) as c:
            self._insert_events(c, negotiation_id, buyer_org, turn, events, utcnow())

    @staticmethod
    def _insert_events(conn: Connection, negotiation_id: str, buyer_org: str, turn: int,
                       events: Sequence[dict[str, Any]], now: dt.datetime) -> None:
        if not events:
            return
        rows = [{"negotiation_id": negotiation_id, "buyer_org": buyer_org, "turn": turn, "at": e.get("at", now),
                 "side": e["side"], "kind": e["kind"], "sku": e.get("sku"), "quantity": e.get("quantity"),
                 "unit_price": None if e.get("unit_price") is None else str(e["unit_price"]),
                 "list_price": None if e.get("list_price") is None else str(e["list_price"]),
                 "payment_terms": e.get("payment_terms")} for e in events]
        D.write_many(conn, Q.INSERT_EVENTS, rows)

    def events(self, negotiation_id: str) -> list[EventRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.events).where(t.events.c.negotiation_id == negotiation_id)
                                .order_by(t.events.c.id)).all()
        return [_event(r) for r in rows]

    def history_and_memory(self, negotiation_id: str, buyer_org: str, skus: Sequence[str], since: dt.datetime, *,
                           conn: Connection | None = None) -> tuple[list[EventRow], list[EventRow]]:
        """In one query: this negotiation's events, and the organisation's recent events on `skus` in its
        other negotiations since `since` (the strategy's memory)."""
        with _reading(self.engine, conn) as c:
            rows = [_event(r) for r in D.rows(c, Q.HISTORY_AND_MEMORY, {"nid": negotiation_id, "org": buyer_org,
                                                                        "skus": list(skus), "since": since})]
        return [r for r in rows if r.negotiation_id == negotiation_id], \
            [r for r in rows if r.negotiation_id != negotiation_id]

    # --- proposals and holds -----------------------------------------------------------

    def save_proposal(self, *, proposal_id: str | None, negotiation_id: str, buyer_org: str, status: str,
                      currency: str, payment_terms: str, valid_until: dt.datetime, total: Decimal,
                      body_for: Any, moves: Sequence[str], holds: Sequence[HoldRequest],
                      hold_until: dt.datetime | None = None, records: Sequence[dict[str, Any]] = (),
                      now: dt.datetime | None = None, version: int | None = None,
                      events: tuple[int, Sequence[dict[str, Any]]] | None = None,
                      approval: dict[str, Any] | None = None, cancel_approval: str | None = None) -> ProposalRow:
        """Persist a new proposal version: supersede the previous one and swap its holds, atomically.

        `body_for(proposal_id, version)` returns the wire body (it embeds the id and version).
        `version`, when given, is the version the caller already showed in the body; a different
        next version (another writer got there first) is refused. `events` (turn, rows) and an
        `approval` request ({"moves", "level", "reasons"}) are written in the same transaction, after the pending
        approval `cancel_approval` (one this version makes moot or out of date) is canceled.
        Raises InsufficientInventory or HoldLimitExceeded, leaving everything as it was.
        """
        now = now or utcnow()
        with transaction(self.engine) as conn:
            lock_negotiation(conn, negotiation_id)
            pid = proposal_id or new_id("P")
            versions = D.rows(conn, Q.PROPOSAL_VERSIONS, {"pid": pid})
            next_version = max((v for v, _ in versions), default=0) + 1
            if version is not None and version != next_version:
                raise ProposalSuperseded(f"proposal {pid} moved on to version {next_version - 1} meanwhile",
                                         field="version")
            version = next_version
            if holds:
                self._release_expired(conn, now, [h.sku for h in holds])
            # Supersede the live versions of this proposal and release their holds.
            if any(st in ("offered", "pending_approval") for _, st in versions):
                D.write(conn, Q.SUPERSEDE, {"pid": pid})
            if versions:
                for hold_id, sku, qty in D.rows(conn, Q.ACTIVE_HOLDS_OF, {"pid": pid}):
                    self._release_hold(conn, hold_id, sku, qty, now)
            for h in holds:
                if h.cap is not None:
                    if conn.dialect.name == "postgresql":  # SQLite: the write lock already serialises writers
                        # Lock the SKU's inventory row so two negotiations of one org cannot both pass the cap.
                        conn.execute(Q.LOCK_INVENTORY_ROW, {"sku": h.sku})
                    held = D.scalar(conn, Q.ORG_HELD, {"org": buyer_org, "sku": h.sku, "now": now})
                    if held + h.quantity > h.cap:
                        raise HoldLimitExceeded(
                            f"{h.sku}: open proposals of this buyer would hold {held + h.quantity} units, "
                            f"more than the {h.cap} allowed at once", field="quantity")
                if not self._reserve(conn, h.sku, h.quantity, now, "held"):
                    raise InsufficientInventory(f"not enough {h.sku} in stock for {h.quantity} units",
                                                field="quantity")
                D.write(conn, Q.INSERT_HOLD, {"proposal_id": pid, "version": version, "buyer_org": buyer_org,
                                              "sku": h.sku, "quantity": h.quantity,
                                              "expires_at": hold_until or valid_until, "status": "active",
                                              "created_at": now})
            body = body_for(pid, version)
            row = {"id": pid, "version": version, "negotiation_id": negotiation_id, "buyer_org": buyer_org,
                   "status": status, "currency": currency, "payment_terms": payment_terms, "valid_until": valid_until,
                   "total": str(total), "body": body, "moves": list(moves), "created_at": now}
            D.write(conn, Q.INSERT_PROPOSAL, row)
            D.write(conn, Q.SET_CURRENT_PROPOSAL, {"nid": negotiation_id, "pid": pid, "now": now,
                                                   "b_turn": _last_turns(records).get(negotiation_id, 0)})
            if events is not None:
                self._insert_events(conn, negotiation_id, buyer_org, events[0], events[1], now)
            if cancel_approval is not None:
                D.write(conn, Q.CANCEL_APPROVAL, {"b_id": cancel_approval, "now": now,
                                                  "why": f"superseded by version {version}"})
            if approval is not None:
                self._file_approval(conn, negotiation_id, buyer_org, pid, approval, now)
            self._insert_records(conn, records, advanced=negotiation_id)
        # The row as written (the JSON columns give back what they were given: the body is wire JSON).
        return ProposalRow(**{**row, "total": Decimal(row["total"])})

    def get_proposal(self, proposal_id: str, version: int | None = None, *,
                     buyer_org: str | None = None, conn: Connection | None = None) -> ProposalRow | None:
        if version is None and buyer_org is not None:  # a turn's read
            with _reading(self.engine, conn) as c:
                row = D.first(c, Q.LATEST_PROPOSAL_OF_ORG, {"id": proposal_id, "org": buyer_org})
            return None if row is None else _proposal(row)
        q = select(t.proposals).where(t.proposals.c.id == proposal_id)
        q = q.where(t.proposals.c.version == version) if version is not None else \
            q.order_by(t.proposals.c.version.desc()).limit(1)
        if buyer_org is not None:
            q = q.where(t.proposals.c.buyer_org == buyer_org)
        with _reading(self.engine, conn) as c:
            row = c.execute(q).first()
        return None if row is None else _proposal(row)

    def proposals(self, negotiation_id: str) -> list[ProposalRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.proposals).where(t.proposals.c.negotiation_id == negotiation_id)
                                .order_by(t.proposals.c.created_at, t.proposals.c.version)).all()
        return [_proposal(r) for r in rows]

    def set_proposal_status(self, proposal_id: str, version: int, status: str, *,
                            release_holds: bool = False, records: Sequence[dict[str, Any]] = ()) -> None:
        now = utcnow()
        with transaction(self.engine) as conn:
            self._insert_records(conn, records)
            D.write(conn, Q.SET_PROPOSAL_STATUS, {"pid": proposal_id, "b_version": version, "b_status": status})
            if release_holds:
                for hold_id, sku, qty in D.rows(conn, Q.ACTIVE_HOLDS_OF, {"pid": proposal_id}):
                    self._release_hold(conn, hold_id, sku, qty, now)

    def active_holds(self, buyer_org: str | None = None, *, proposal_id: str | None = None,
                     conn: Connection | None = None) -> list[dict[str, Any]]:
        if buyer_org is not None and proposal_id is not None:  # a turn's read
            with _reading(self.engine, conn) as c:
                return [dict(zip(_HOLD_COLUMNS, r, strict=True))
                        for r in D.rows(c, Q.HOLDS_OF_PROPOSAL, {"org": buyer_org, "pid": proposal_id})]
        q = select(t.holds).where(t.holds.c.status == "active")
        if buyer_org is not None:
            q = q.where(t.holds.c.buyer_org == buyer_org)
        if proposal_id is not None:
            q = q.where(t.holds.c.proposal_id == proposal_id)
        with _reading(self.engine, conn) as c:
            return [dict(r._mapping) for r in c.execute(q)]

    # --- acceptance --------------------------------------------------------------------

    def accept(self, *, proposal_id: str, version: int, buyer_org: str, deal_body_for: Any,
               records: Sequence[dict[str, Any]] = (), now: dt.datetime | None = None,
               deal_id: str | None = None,
               events: tuple[int, Sequence[dict[str, Any]]] | None = None,
               made_to_order: Collection[str] = (), accepted_at: dt.datetime | None = None) -> tuple[DealRow, bool]:
        """Accept a proposal version: one transaction writes the deal, the allocation, the proposal's
        status and the decision records. Returns (deal, created); a repeated acceptance of the same
        version returns the existing deal with created=False. The lines of SKUs in `made_to_order` are
        made for the order: they allocate no stock. `accepted_at`: the instant the deal's body states (the row
        says the same; `now` by default).
        """
        now = now or utcnow()
        with transaction(self.engine, durable=True) as conn:
            prop = D.first(conn, Q.PROPOSAL_VERSION_OF_ORG, {"pid": proposal_id, "version": version, "org": buyer_org})
            if prop is None:
                raise UnknownProposal(f"no proposal {proposal_id} version {version}", field="proposal_id")
            p = _proposal(prop)
            lock_negotiation(conn, p.negotiation_id)
            existing = D.first(conn, Q.DEAL_OF_PROPOSAL, {"pid": proposal_id})
            if existing is not None:
                deal = _deal(existing)
                if deal.version == version:
                    return deal, False
                raise ProposalSuperseded(f"proposal {proposal_id} was accepted at version {deal.version}",
                                         field="version")
            status = D.scalar(conn, Q.PROPOSAL_STATUS, {"pid": proposal_id, "version": version})
            if status == "superseded":
                raise ProposalSuperseded(f"proposal {proposal_id} version {version} was superseded", field="version")
            if status != "offered":
                raise UnknownProposal(f"proposal {proposal_id} version {version} is {status}, not open for acceptance",
                                      field="proposal_id")
            if p.valid_until <= now:
                raise ProposalExpired(f"proposal {proposal_id} expired at {p.valid_until.isoformat()}Z",
                                      field="proposal_id")
            self._release_expired(conn, now, [i["sku"] for i in p.body["items"]])
            held = {sku: (hid, qty) for hid, sku, qty in D.rows(conn, Q.LIVE_HOLDS_OF_VERSION, {
                "pid": proposal_id, "version": version, "now": now})}
            for item in p.body["items"]:
                sku, qty = item["sku"], int(item["quantity"])
                if sku in made_to_order and sku not in held:
                    continue
                converted = False
                if sku in held and held[sku][1] == qty:
                    hid, _ = held.pop(sku)
                    # Only a hold still active converts: a concurrent sweep may have released it.
                    converted = bool(D.write(conn, Q.CONVERT_HOLD, {"hid": hid}))
                    if converted:
                        D.write(conn, Q.ALLOCATE_HELD, {"b_sku": sku, "qty": qty, "now": now})
                if not converted and not self._reserve(conn, sku, qty, now, "allocated"):
                    raise InsufficientInventory(f"not enough {sku} in stock any more for {qty} units",
                                                field="quantity")
            for sku, (hid, qty) in held.items():  # holds for lines no longer on the proposal
                self._release_hold(conn, hid, sku, qty, now)
            deal_id = deal_id or new_id("D")
            body = deal_body_for(deal_id, now)
            D.write(conn, Q.INSERT_DEAL, {"id": deal_id, "proposal_id": proposal_id, "version": version,
                                          "negotiation_id": p.negotiation_id, "buyer_org": buyer_org,
                                          "currency": p.currency, "total": str(p.total), "body": body,
                                          "accepted_at": accepted_at or now})
            D.write(conn, Q.SET_PROPOSAL_STATUS, {"pid": proposal_id, "b_version": version, "b_status": "accepted"})
            D.write(conn, Q.SET_STATUS, {"nid": p.negotiation_id, "b_status": "deal", "now": now})
            self._cancel_pending_approvals(conn, p.negotiation_id, now, "negotiation ended in a deal")
            if events:
                self._insert_events(conn, p.negotiation_id, buyer_org, events[0], events[1], now)
            self._insert_records(conn, records)
            row = _one(D.first(conn, Q.DEAL, {"id": deal_id}))
        return _deal(row), True

    def get_deal(self, deal_id: str, buyer_org: str | None = None) -> DealRow | None:
        q = select(t.deals).where(t.deals.c.id == deal_id)
        if buyer_org is not None:
            q = q.where(t.deals.c.buyer_org == buyer_org)
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        return None if row is None else _deal(row)

    def deals(self, *, buyer_org: str | None = None, negotiation_id: str | None = None, newest_first: bool = False,
              limit: int | None = None) -> list[DealRow]:
        order = (t.deals.c.accepted_at.desc(), t.deals.c.id) if newest_first else (t.deals.c.accepted_at,)
        q = select(t.deals).order_by(*order).limit(limit)
        if buyer_org is not None:
            q = q.where(t.deals.c.buyer_org == buyer_org)
        if negotiation_id is not None:
            q = q.where(t.deals.c.negotiation_id == negotiation_id)
        with self.engine.connect() as conn:
            return [_deal(r) for r in conn.execute(q)]

    # --- approvals ---------------------------------------------------------------------

    def create_approval(self, *, negotiation_id: str, buyer_org: str, proposal_id: str, level: str,
                        requested: dict[str, Any], reasons: list[dict[str, Any]],
                        records: Sequence[dict[str, Any]] = ()) -> ApprovalRow:
        now = utcnow()
        approval_id = new_id("A")
        with transaction(self.engine) as conn:
            D.write(conn, Q.INSERT_APPROVAL, {
                "id": approval_id, "negotiation_id": negotiation_id, "buyer_org": buyer_org, "proposal_id": proposal_id,
                "level": level, "status": "pending", "requested": requested, "reasons": reasons, "requested_at": now})
            self._insert_records(conn, records)
            row = _one(D.first(conn, Q.APPROVAL, {"id": approval_id}))
        return _approval(row)

    def get_approval(self, approval_id: str, *, conn: Connection | None = None) -> ApprovalRow | None:
        with _reading(self.engine, conn) as c:
            row = D.first(c, Q.APPROVAL, {"id": approval_id})
        return None if row is None else _approval(row)

    def approvals(self, *, status: str | None = None, negotiation_id: str | None = None, newest_first: bool = False,
                  limit: int | None = None, conn: Connection | None = None) -> list[ApprovalRow]:
        if negotiation_id is not None and status is None and not newest_first and limit is None:  # a turn's read
            with _reading(self.engine, conn) as c:
                return [_approval(r) for r in D.rows(c, Q.APPROVALS_OF_NEGOTIATION, {"nid": negotiation_id})]
        order = (t.approvals.c.requested_at.desc(), t.approvals.c.id) if newest_first else (t.approvals.c.requested_at,)
        q = select(t.approvals).order_by(*order).limit(limit)
        if status is not None:
            q = q.where(t.approvals.c.status == status)
        if negotiation_id is not None:
            q = q.where(t.approvals.c.negotiation_id == negotiation_id)
        with _reading(self.engine, conn) as c:
            return [_approval(r) for r in c.execute(q)]

    def pending_approval(self, negotiation_id: str) -> ApprovalRow | None:
        found = self.approvals(status="pending", negotiation_id=negotiation_id)
        return found[-1] if found else None

    def expire_approval(self, approval_id: str, why: str) -> bool:
        """Cancel a pending request that is too old to decide (`Seller.decide`); False when it was not pending.
        A decision record (node `expire`, rule `approval.expired`) says so, in the same transaction."""
        now = utcnow()
        with transaction(self.engine) as conn:
            if not D.write(conn, Q.CANCEL_APPROVAL, {"b_id": approval_id, "now": now, "why": why}):
                return False
            nid = conn.execute(select(t.approvals.c.negotiation_id)
                               .where(t.approvals.c.id == approval_id)).scalar_one()
            turn = conn.execute(select(t.negotiations.c.turn).where(t.negotiations.c.id == nid)).scalar() or 0
            self._insert_records(conn, [{
                "gen_ai.conversation.id": nid, "gen_ai.operation.name": "expire_approval", "node": "expire",
                "dealdesk.node": "expire", "turn": turn, "message_id": None, "dealdesk.rule_ids": ["approval.expired"],
                "dealdesk.approval.id": approval_id, "dealdesk.approval.outcome": "expired",
                "dealdesk.approval.note": why,
                "dealdesk.approval.decided_at": now.isoformat(timespec="seconds") + "Z"}])
            return True

    def decide_approval(self, approval_id: str, *, status: str, decided_by: str, note: str | None,
                        decision: dict[str, Any] | None, records: Sequence[dict[str, Any]] = ()) -> ApprovalRow:
        """Record an operator's decision; only a pending approval can be decided (exactly once)."""
        if status not in ("approved", "rejected", "edited"):
            raise ValueError(f"bad approval status {status!r}")
        now = utcnow()
        # The decision's own record says when (to the second, as every instant operators read): `audit verify` then
        # holds the row's decided_at to the chained record (older records bound it to their write time only).
        ours = (approval_id, "decide_approval")
        records = [{**r, "dealdesk.approval.decided_at": now.isoformat(timespec="seconds") + "Z"}
                   if (r.get("dealdesk.approval.id"), r.get("gen_ai.operation.name")) == ours else r for r in records]
        with transaction(self.engine) as conn:
            done = conn.execute(update(t.approvals).where(and_(t.approvals.c.id == approval_id,
                                                                t.approvals.c.status == "pending"))
                                .values(status=status, decided_by=decided_by, decided_at=now, note=note,
                                        decision=decision)).rowcount
            if not done:
                row = conn.execute(select(t.approvals.c.status).where(t.approvals.c.id == approval_id)).first()
                if row is None:
                    raise ApprovalNotPending(f"no approval {approval_id}", field="approval_id")
                raise ApprovalNotPending(f"approval {approval_id} is already {row[0]}", field="approval_id")
            self._insert_records(conn, records)
            row = conn.execute(select(t.approvals).where(t.approvals.c.id == approval_id)).one()
        return _approval(row)

    # --- decision records --------------------------------------------------------------

    @staticmethod
    def _insert_records(conn: Connection, records: Sequence[dict[str, Any]], advanced: str | None = None) -> None:
        """Decision records, their audit chain entry, and the turn they close: a negotiation's `turn`
        counts the turns whose records are written, so it advances in the same transaction (`advanced`:
        the negotiation whose turn the caller advances in its own update of the row)."""
        if not records:
            return
        for nid, turn in _last_turns(records).items():
            if turn > 0 and nid != advanced:
                D.write(conn, Q.ADVANCE_TURN, {"nid": nid, "b_turn": turn})
        # Each record is JSON-encoded once: the column stores this text, and the audit chain hashes the
        # canonical JSON of what it reads back as, mostly the same text.
        stored = [audit.stored_and_canonical(r) for r in records]
        texts = [JsonText(x) for x, _ in stored]
        now = utcnow()
        rows = [{"negotiation_id": r["gen_ai.conversation.id"], "turn": r.get("turn", 0),
                 "message_id": r.get("message_id"), "node": r["node"], "ts": now, "record": text_}
                for r, text_ in zip(records, texts, strict=True)]
        if conn.dialect.name == "postgresql":
            ids = conn.execute(Q.INSERT_RECORDS, rows).scalars().all()
        else:  # SQLite: the ids it would give, taken under the write lock, and one executemany
            first = (D.scalar(conn, Q.LAST_RECORD_ID) or 0) + 1
            ids = range(first, first + len(rows))
            D.write_many(conn, Q.INSERT_RECORDS_WITH_IDS, [{**row, "id": i} for row, i in zip(rows, ids, strict=True)])
        # the audit trail: one hash-chain entry per negotiation, same transaction
        audit.append(conn, records, list(ids), [canonical for _, canonical in stored])

    def add_records(self, records: Sequence[dict[str, Any]]) -> None:
        with transaction(self.engine) as conn:
            self._insert_records(conn, records)

    def message_committed(self, negotiation_id: str, message_id: str) -> bool:
        """Whether a turn of this negotiation for the buyer's message `message_id` committed (its decision records
        are written in the turn's transaction): a retry after a crash must not run it again."""
        with self.engine.connect() as conn:
            return conn.execute(select(t.decision_records.c.id).where(
                t.decision_records.c.negotiation_id == negotiation_id,
                t.decision_records.c.message_id == message_id).limit(1)).first() is not None

    def records(self, negotiation_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.decision_records.c.record).where(
                t.decision_records.c.negotiation_id == negotiation_id).order_by(t.decision_records.c.id)).all()
        return [r[0] for r in rows]

    # --- read-only queries for the server (REST lists) -----------------------------------

    def list_proposals(self, *, buyer_org: str | None = None, status: str | None = None,
                       negotiation_id: str | None = None, limit: int = 100) -> list[ProposalRow]:
        """The latest version of each proposal, newest first; optionally one organisation's, by status."""
        p = t.proposals
        latest = select(p.c.id.label("pid"), func.max(p.c.version).label("v")).group_by(p.c.id)
        if buyer_org is not None:
            latest = latest.where(p.c.buyer_org == buyer_org)
        if negotiation_id is not None:
            latest = latest.where(p.c.negotiation_id == negotiation_id)
        latest = latest.subquery()
        q = (select(p).join(latest, and_(p.c.id == latest.c.pid, p.c.version == latest.c.v))
             .order_by(p.c.created_at.desc(), p.c.id).limit(limit))
        if status is not None:
            q = q.where(p.c.status == status)
        with self.engine.connect() as conn:
            return [_proposal(r) for r in conn.execute(q)]

    def proposal_versions(self, proposal_id: str, *, buyer_org: str | None = None) -> list[int]:
        q = select(t.proposals.c.version).where(t.proposals.c.id == proposal_id).order_by(t.proposals.c.version)
        if buyer_org is not None:
            q = q.where(t.proposals.c.buyer_org == buyer_org)
        with self.engine.connect() as conn:
            return list(conn.execute(q).scalars())

    def deal_for_proposal(self, proposal_id: str, *, buyer_org: str | None = None,
                          conn: Connection | None = None) -> DealRow | None:
        q = select(t.deals).where(t.deals.c.proposal_id == proposal_id)
        if buyer_org is not None:
            q = q.where(t.deals.c.buyer_org == buyer_org)
        with _reading(self.engine, conn) as c:
            row = c.execute(q).first()
        return None if row is None else _deal(row)

    def inventory_levels(self) -> dict[str, int]:
        """SKU -> available units (on hand - allocated - held) for every SKU the database knows."""
        inv = t.inventory.c
        with self.engine.connect() as conn:
            return {sku: avail for sku, avail in conn.execute(
                select(inv.sku, inv.on_hand - inv.allocated - inv.held))}
