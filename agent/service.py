"""The seller as a service: one negotiation per thread, one call per buyer message or operator decision.

This is what the CLI, the evals and (later) the A2A/REST server call. It owns
the store, the checkpointer and the compiled graph, and serialises the turns
of one negotiation.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver

from agent.graph import RECURSION_LIMIT, SellerConfig, SellerGraph
from agent.records import deferred_log, make_record
from agent.review import utc_text
from agent.store import Store
from agent.store.db import normalise_url, utcnow
from agent.store.store import ApprovalExpired, ApprovalNotPending
from agent.turn_view import TurnView
from tools.catalog.models import Catalog
from tools.policy.models import Policy
from tools.policy.resolve import resolve


@dataclass(frozen=True)
class Buyer:
    """A buyer organisation as its API key describes it."""

    org: str
    region: str
    segment: str = "standard"
    currency: str | None = None
    payment_terms: str | None = None


@dataclass
class Reply:
    """One outgoing message: a data part (wire contract) and text."""

    negotiation_id: str
    turn: int
    data: dict[str, Any] | None
    text: str
    model_calls: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def type(self) -> str | None:
        return (self.data or {}).get("type")


CHECKPOINT_SETUP_LOCK = 7272003  # advisory lock key: one process at a time sets up the checkpoint tables
CHECKPOINT_SETUP_WAIT_S = 300.0  # how long a start-up waits for another process's checkpoint setup
CHECKPOINT_CONNECT_WAIT_S = 10.0  # how long a turn waits for a checkpoint connection (the database is down)
CHECKPOINT_RECONNECT_S = 10.0  # the pool's background reconnection gives up after this; demand grows it again


def _pg_conninfo(url: str) -> str:
    return normalise_url(url).replace("postgresql+psycopg://", "postgresql://")


def _checkpoint_tables_current(conn: Any) -> bool:
    """The checkpoint tables exist (in the connection's search path) at the saver's latest migration."""
    from langgraph.checkpoint.postgres import PostgresSaver

    if conn.execute("SELECT to_regclass('checkpoint_migrations') AS t").fetchone()["t"] is None:
        return False
    v = conn.execute("SELECT max(v) AS v FROM checkpoint_migrations").fetchone()["v"]
    return v is not None and v >= len(PostgresSaver.MIGRATIONS) - 1


def setup_checkpoints(db_url: str, *, wait_s: float = CHECKPOINT_SETUP_WAIT_S) -> bool:
    """Create or migrate the PostgreSQL checkpoint tables unless they are current; True if it ran the setup.

    Safe from several processes at once. `PostgresSaver.setup()` runs `CREATE INDEX CONCURRENTLY`,
    which waits for every transaction of the database that holds a snapshot, so whoever waits for the
    setup must not hold one while waiting: a process blocked in `SELECT pg_advisory_lock(...)` does
    (the statement's own), and the two deadlock. So the setup runs on an autocommit connection, and
    the others poll `pg_try_advisory_lock` (each try a statement that ends at once) until it is theirs,
    then find the tables current and leave them. Tables already current take no lock at all.
    """
    import random

    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row

    with psycopg.connect(_pg_conninfo(db_url), autocommit=True, prepare_threshold=0, row_factory=dict_row) as conn:
        if _checkpoint_tables_current(conn):
            return False
        deadline = time.monotonic() + wait_s
        while not conn.execute("SELECT pg_try_advisory_lock(%s) AS got", (CHECKPOINT_SETUP_LOCK,)).fetchone()["got"]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"another process held the checkpoint setup lock for over {wait_s:.0f} s")
            time.sleep(0.05 + random.random() * 0.05)
        try:
            if _checkpoint_tables_current(conn):  # another process set them up while this one waited
                return False
            PostgresSaver(conn).setup()
            return True
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (CHECKPOINT_SETUP_LOCK,))


def _checkpoint_session(conn: Any) -> None:
    conn.execute("SET synchronous_commit TO off")


def make_checkpointer(db_url: str | None, pools: Any = None) -> Any:
    """SQLite checkpoints beside a SQLite store, PostgreSQL ones with a PostgreSQL store, else in memory.

    Checkpoints are derived state: proposals, holds, deals and records live in the store, which every
    turn reads. So checkpoint commits skip the wait for the disk (SQLite WAL with synchronous=NORMAL,
    PostgreSQL's synchronous_commit=off): a crash of the server process loses none of them, and a power
    cut could lose the checkpoints of the last moments (conversation context for the model), never a
    proposal, a hold or a deal.

    PostgreSQL: the saver draws its connections from a `psycopg_pool.ConnectionPool` sized by `pools`
    (`agent/store/pools.py`, `PoolSizes.checkpoints`), which checks each connection as it is handed out:
    one the database dropped (a restart, a terminated backend) is replaced, so the server recovers when
    the database comes back instead of failing every turn until it is restarted. A turn that was using
    the connection when it died fails; the next one gets a new connection.
    """
    if not db_url:
        return InMemorySaver()
    url = normalise_url(db_url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        if path in ("", ":memory:"):
            return InMemorySaver()
        from langgraph.checkpoint.sqlite import SqliteSaver

        cp_path = Path(path).with_suffix(".checkpoints.sqlite")
        conn = sqlite3.connect(cp_path, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        saver = SqliteSaver(conn)
        saver.setup()
        return saver
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    from agent.store.pools import DEFAULT

    setup_checkpoints(url)  # before the pool: the pool's connections are never inside the setup
    size, overflow = (pools or DEFAULT).checkpoints
    pool = ConnectionPool(_pg_conninfo(url), min_size=size, max_size=size + overflow, open=False,
                          kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
                          configure=_checkpoint_session, check=ConnectionPool.check_connection,
                          timeout=CHECKPOINT_CONNECT_WAIT_S, reconnect_timeout=CHECKPOINT_RECONNECT_S,
                          name="dealdesk-checkpoints")
    try:
        pool.open(wait=True, timeout=CHECKPOINT_CONNECT_WAIT_S)
    except BaseException:
        pool.close()
        raise
    return PostgresSaver(pool)


def checkpointer_reachable(checkpointer: Any, timeout: float = 2.0) -> bool:
    """The checkpointer can reach its database now (always, for SQLite and memory): readiness asks it."""
    from psycopg_pool import ConnectionPool

    pool = getattr(checkpointer, "conn", None)
    if not isinstance(pool, ConnectionPool):
        return True
    try:
        with pool.connection(timeout=timeout) as conn:  # checked as it is handed out: a dead one is replaced
            conn.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any failure means unreachable
        return False
    return True


TURN_LOCK_STRIPES = 256  # two negotiations on one stripe only take turns in this process


class Seller:
    """The seller agent bound to a catalog, a policy and a store."""

    def __init__(self, catalog: Catalog, policy: Policy, store: Store, *, model: Any = None,
                 checkpointer: Any = None, config: SellerConfig | None = None):
        self.catalog = catalog
        self.policy = policy
        self.store = store
        store.seed_inventory((sku, p.inventory.on_hand) for sku, p in catalog.products.items())
        self.checkpointer = checkpointer if checkpointer is not None else make_checkpointer(store.url, store.pools)
        self.graph = SellerGraph(catalog, policy, store, model=model, checkpointer=self.checkpointer, config=config)
        # Turns of one negotiation in this process queue on one of a fixed set of locks (a lock per negotiation
        # would be kept for the life of the process: one per negotiation ever served).
        self._turn_locks = tuple(threading.Lock() for _ in range(TURN_LOCK_STRIPES))

    @classmethod
    def open(cls, catalog: Catalog, policy: Policy, db_url: str, **kw: Any) -> Seller:
        return cls(catalog, policy, Store(db_url), **kw)

    def close(self) -> None:
        conn = getattr(self.checkpointer, "conn", None)
        if conn is not None:
            conn.close()
        self.store.dispose()

    def start(self, buyer: Buyer, negotiation_id: str | None = None) -> str:
        """Open (or reopen) a negotiation for a buyer organisation; returns its id."""
        nid = negotiation_id or f"neg-{uuid.uuid4().hex[:12]}"
        self.store.create_negotiation(nid, buyer_org=buyer.org, region=buyer.region, segment=buyer.segment,
                                      currency=buyer.currency, payment_terms=buyer.payment_terms)
        return nid

    def _lock(self, negotiation_id: str) -> threading.Lock:
        return self._turn_locks[hash(negotiation_id) % len(self._turn_locks)]

    def _open_view(self, negotiation_id: str) -> TurnView | None:
        return TurnView.open(self.store, negotiation_id)

    def _run(self, negotiation_id: str, inbound: dict[str, Any], message_id: str | None) -> Reply:
        with self._lock(negotiation_id), self.store.turn_lock(negotiation_id):
            view = self._open_view(negotiation_id)
            if view is None:
                raise KeyError(negotiation_id)
            turn = view.turn  # written with the turn's records, in its commit
            state = {"negotiation_id": negotiation_id, "buyer_org": view.negotiation.buyer_org, "turn": turn,
                     "message_id": message_id or f"msg-{uuid.uuid4().hex[:12]}", "inbound": inbound}
            config = {"configurable": {"thread_id": negotiation_id}, "recursion_limit": RECURSION_LIMIT}
            key = self.graph.open_turn(state, view)
            try:
                with deferred_log():  # the turn's decision log lines, written together when it ends
                    out = self.graph.graph.invoke(state, config, durability="exit",
                                                 output_keys=self.graph.output_keys)
            finally:
                self.graph.close_turn(key)
        outcome = out.get("outcome") or {}
        outgoing = outcome.get("outgoing") or {}
        return Reply(negotiation_id=negotiation_id, turn=turn, data=outgoing.get("data"), text=outgoing.get("text", ""),
                     model_calls=outcome.get("model_calls", 0), records=outcome.get("records") or [])

    def send(self, negotiation_id: str, *, data: dict[str, Any] | None = None, text: str | None = None,
             message_id: str | None = None) -> Reply:
        """One buyer message (a data part, text, or both: the data part wins) -> one reply."""
        inbound: dict[str, Any] = {"text": text or ""} if data is None else \
            {"data": data, **({"text": text} if text else {})}
        return self._run(negotiation_id, inbound, message_id)

    def decide(self, approval_id: str, decision: str, *, by: str, note: str | None = None,
               prices: dict[str, str] | None = None) -> Reply | None:
        """An operator's decision (approved, rejected or edited) -> a seller-initiated turn to the buyer."""
        status = {"approve": "approved", "reject": "rejected", "edit": "edited"}.get(decision, decision)
        pending = self.store.get_approval(approval_id)
        if pending is not None and pending.status == "pending":
            self._refuse_if_expired(pending)
        if status == "edited":  # an edit beyond the level is refused before anything is decided
            if pending is None:
                raise ApprovalNotPending(f"no approval {approval_id}", field="approval_id")
            edited = self.graph.edited_moves(pending, prices or {}, by=by)
            prices = {m.sku: str(m.unit_price) for m in edited if m.sku in (prices or {})}  # as sent: in cents
        with deferred_log(on_error=False):  # logged once it is decided, never when it is refused
            approval = self._decided(approval_id, pending, status, by=by, note=note, prices=prices)
        reply = self._run(approval.negotiation_id, {"operator": {"approval_id": approval_id, "decision": status,
                                                                 "by": by, "note": note, "prices": prices}}, None)
        if reply.data is None and not reply.text:
            return None
        # for a server process to publish on the buyer's task when no one here does (the CLI, another process)
        self.store.keep_seller_message(approval.negotiation_id, reply.turn, {"text": reply.text, "data": reply.data})
        return reply

    def _refuse_if_expired(self, pending: Any) -> None:
        """A request older than the validity of the offers it is about (the policy's proposal_validity_days) is
        canceled, not decided: approving it weeks later sent a fresh offer on a market and a stock long gone."""
        days = max((self._validity_days(m["sku"]) for m in pending.requested.get("moves") or ()), default=0)
        if not days or utcnow() <= pending.requested_at + dt.timedelta(days=days):
            return
        why = f"expired: requested {utc_text(pending.requested_at)}, more than {days} days ago"
        self.store.expire_approval(pending.id, why)
        raise ApprovalExpired(f"approval {pending.id} {why} (the validity of an offer); it is canceled and nothing "
                              "was sent: the buyer's next message gets a fresh offer", field="approval_id")

    def _validity_days(self, sku: str) -> int:
        product = self.catalog.products.get(sku)
        return resolve(self.policy, sku, product.category).proposal_validity_days if product is not None else 0

    def _decided(self, approval_id: str, pending: Any, status: str, *, by: str, note: str | None,
                 prices: dict[str, str] | None) -> Any:
        """The decision recorded on the approval (`Store.decide_approval`, which refuses one no longer pending)."""
        records = []
        if pending is not None:  # the decision itself is chained in the negotiation's audit trail
            neg = self.store.get_negotiation(pending.negotiation_id)
            where = {"negotiation_id": pending.negotiation_id, "turn": neg.turn if neg is not None else 0,
                     "message_id": None}  # it follows the last turn so far
            records.append(make_record(
                where, "operator", operation="decide_approval", started=time.perf_counter(),
                inputs={"approval_id": approval_id, "decision": status, "prices": prices},
                rule_ids=["operator.decision"], **{
                    "dealdesk.approval.id": approval_id, "dealdesk.approval.outcome": status,
                    "dealdesk.approval.by": by, "dealdesk.approval.note": note, "dealdesk.approval.prices": prices,
                    "dealdesk.policy.version": self.policy.version, "dealdesk.catalog.version": self.catalog.version}))
        return self.store.decide_approval(approval_id, status=status, decided_by=by, note=note,
                                          decision={"prices": prices} if prices else None, records=records)
