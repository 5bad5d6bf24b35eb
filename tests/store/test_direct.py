"""The driver path for the turn's statements (agent/store/direct.py) against SQLAlchemy's own.

On SQLite the turn's statements run on the sqlite3 connection under the SQLAlchemy Connection; what
must hold is that nothing observable changes: the same SQL and parameters, the same bytes stored,
the same values read back, the same rowcounts and the same errors, inside the same transaction.
Each comparison runs a statement through `direct` and through `conn.execute` on the same data. On
PostgreSQL `direct` is SQLAlchemy itself; the same tests show the callers' positional use of rows works there.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
import threading
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Connection, event, exc

from agent.store import HoldRequest, Store
from agent.store import direct as D
from agent.store import queries as Q
from agent.store import schema as t
from agent.store.db import transaction, utcnow
from agent.store.store import ApprovalRow, DealRow, EventRow, Negotiation, ProposalRow
from agent.turn_view import TurnView

NOW = dt.datetime(2026, 3, 1, 12, 30, 15, 7)


def _seeded(store: Store) -> None:
    store.seed_inventory([("SKU-A", 50), ("SKU-B", 5)])
    store.create_negotiation("N-1", buyer_org="org-é", region="EU", segment="smb", currency="EUR")
    store.save_proposal(proposal_id="P-1", negotiation_id="N-1", buyer_org="org-é", status="offered", currency="EUR",
                        payment_terms="NET30", valid_until=NOW + dt.timedelta(days=1), total=Decimal("12.50"),
                        body_for=lambda pid, v: {"id": pid, "version": v, "note": "ünï ✓", "n": [1, 2.5, None]},
                        moves=["m-1"], holds=[HoldRequest("SKU-A", 3, None)], now=NOW,
                        events=(1, [{"side": "buyer", "kind": "rfq", "sku": "SKU-A", "quantity": 3,
                                     "unit_price": Decimal("2.50"), "list_price": "3.00"}]),
                        records=[{"gen_ai.conversation.id": "N-1", "turn": 1, "node": "commit", "x": {"é": [1]}}],
                        approval={"moves": ["m-1"], "level": "manager", "reasons": [{"code": "c"}]})


def _sqlite(store: Store) -> bool:
    return store.engine.dialect.name == "sqlite"


# --- rows map onto the dataclasses by position -----------------------------------------------------


def test_row_dataclasses_have_their_tables_column_order() -> None:
    """store.py builds these from rows by position: a new column must be added to both, in the same place."""
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    assert names(Negotiation) == t.negotiations.c.keys()
    assert names(ProposalRow) == t.proposals.c.keys()
    assert names(ApprovalRow) == t.approvals.c.keys()
    assert names(DealRow) == t.deals.c.keys()
    assert names(EventRow) == [k for k in t.events.c.keys() if k not in ("id", "buyer_org")]


# --- the same results as SQLAlchemy's path ---------------------------------------------------------


READS = [
    (D.first, Q.NEGOTIATION_AND_CURRENT_PROPOSAL, {"id": "N-1"}),
    (D.first, Q.NEGOTIATION_AND_CURRENT_PROPOSAL, {"id": "N-none"}),
    (D.rows, Q.AVAILABLE, {"skus": ["SKU-A", "SKU-B", "SKU-none"]}),
    (D.rows, Q.AVAILABLE, {"skus": []}),  # an empty IN list: SQLAlchemy's empty-set expression
    (D.rows, Q.HISTORY_AND_MEMORY, {"nid": "N-1", "org": "org-é", "skus": ["SKU-A"], "since": NOW}),
    (D.rows, Q.HOLDS_OF_PROPOSAL, {"org": "org-é", "pid": "P-1"}),
    (D.rows, Q.APPROVALS_OF_NEGOTIATION, {"nid": "N-1"}),
    (D.rows, Q.AUTONOMY, None),
    (D.first, Q.LATEST_PROPOSAL_OF_ORG, {"id": "P-1", "org": "org-é"}),
    (D.scalar, Q.ORG_HELD, {"org": "org-é", "sku": "SKU-A", "now": NOW}),
    (D.scalar, Q.LAST_RECORD_ID, None),
    (D.first, Q.LAST_AUDIT_ENTRY, {"nid": "N-1"}),
]


def _through_sqlalchemy(fn, conn: Connection, stmt, params):
    result = conn.execute(stmt, params)
    if fn is D.rows:
        return [tuple(r) for r in result.all()]
    if fn is D.scalar:
        return result.scalar()
    row = result.first()
    return None if row is None else tuple(row)


def test_reads_give_what_sqlalchemy_gives(store) -> None:
    _seeded(store)
    with store.engine.connect() as conn:
        conn.begin()
        for fn, stmt, params in READS:
            got = fn(conn, stmt, params)
            got = [tuple(r) for r in got] if fn is D.rows else (tuple(got) if fn is D.first and got else got)
            assert got == _through_sqlalchemy(fn, conn, stmt, params), stmt
    # the values are converted as SQLAlchemy converts them: times, JSON, decimals as text
    neg, current = store.negotiation_and_current_proposal("N-1")
    assert isinstance(neg.created_at, dt.datetime) and current.created_at == NOW
    assert current.body["note"] == "ünï ✓" and current.total == Decimal("12.50") and current.moves == ["m-1"]


def _dump(path) -> list[str]:
    """The rows of the tables the writes touch, as SQL with every value's SQLite type (not the schema: its
    index order and migration times differ between two databases)."""
    with sqlite3.connect(path) as raw:
        return [line for line in raw.iterdump()
                if line.startswith('INSERT INTO "dd_') and not line.startswith('INSERT INTO "dd_schema_version"')]


def test_writes_store_the_bytes_sqlalchemy_stores(tmp_path) -> None:
    """The same writes through each path into two databases: the dumps (every value with its SQLite type) match."""
    writes = [
        (Q.INSERT_NEGOTIATION, {"id": "N-2", "buyer_org": "o", "region": "EU", "currency": None, "segment": "s",
                                "payment_terms": None, "status": "open", "turn": 0, "current_proposal": None,
                                "created_at": NOW, "updated_at": NOW}),
        (Q.INSERT_PROPOSAL, {"id": "P-2", "version": 1, "negotiation_id": "N-2", "buyer_org": "o", "status": "offered",
                             "currency": "EUR", "payment_terms": "NET30", "valid_until": dt.datetime(1999, 1, 2),
                             "total": "1.10", "body": {"b": [1, 2.25, "ü", None, True]}, "moves": [],
                             "created_at": NOW}),
        (Q.INSERT_APPROVAL, {"id": "A-2", "negotiation_id": "N-2", "buyer_org": "o", "proposal_id": "P-2",
                             "level": "l", "status": "pending", "requested": {}, "reasons": [], "requested_at": NOW}),
        (Q.SET_CURRENT_PROPOSAL, {"nid": "N-2", "pid": "P-2", "now": NOW, "b_turn": 3}),
        (Q.SUPERSEDE, {"pid": "P-2"}),
        (Q.CANCEL_PENDING_APPROVALS, {"nid": "N-2", "now": NOW, "why": "moot"}),
    ]
    dumps = []
    for name, direct in (("sqlalchemy", False), ("direct", True)):
        store = Store(f"sqlite:///{tmp_path}/{name}.db")
        try:
            with transaction(store.engine) as conn:
                for stmt, params in writes:
                    (D.write(conn, stmt, params) if direct else conn.execute(stmt, params))
                rows = [{"negotiation_id": "N-2", "buyer_org": "o", "turn": 1, "side": "buyer", "kind": k, "sku": None,
                         "quantity": None, "unit_price": "1", "list_price": None, "payment_terms": None, "at": NOW}
                        for k in ("rfq", "counter")]
                (D.write_many(conn, Q.INSERT_EVENTS, rows) if direct else conn.execute(Q.INSERT_EVENTS, rows))
        finally:
            store.dispose()
        dumps.append(_dump(tmp_path / f"{name}.db"))
    assert dumps[0] == dumps[1]
    assert any("1999-01-02 00:00:00.000000" in line for line in dumps[1])  # SQLAlchemy's DATETIME text


def test_rowcounts_decide_as_before(store) -> None:
    """The conditional reserve and the hold release act on the rowcount: 1 when the row matched, 0 when not."""
    _seeded(store)
    with transaction(store.engine) as conn:
        assert D.write(conn, Q.RESERVE["held"], {"b_sku": "SKU-B", "qty": 5, "now": NOW}) == 1
        assert D.write(conn, Q.RESERVE["held"], {"b_sku": "SKU-B", "qty": 1, "now": NOW}) == 0  # none left
        hid = D.rows(conn, Q.HOLDS_OF_PROPOSAL, {"org": "org-é", "pid": "P-1"})[0][0]
        assert D.write(conn, Q.RELEASE_HOLD, {"hid": hid}) == 1
        assert D.write(conn, Q.RELEASE_HOLD, {"hid": hid}) == 0  # released already
    assert store.stock("SKU-B") == {"on_hand": 5, "allocated": 0, "held": 5, "available": 0}


# --- which path runs -------------------------------------------------------------------------------


def test_a_proposal_commit_and_a_turns_reads_run_on_the_driver(store, monkeypatch) -> None:
    """On SQLite no statement of a proposal turn's commit or of its reads goes through SQLAlchemy's execute."""
    _seeded(store)
    through_sqlalchemy: list[str] = []
    real = Connection.execute

    here = threading.get_ident()

    def spy(self, statement, *args, **kwargs):
        # Only this store's statements from this thread: the session's live servers (tests/server)
        # keep reconciling their own databases in threads of their own meanwhile.
        if self.engine is store.engine and threading.get_ident() == here:
            through_sqlalchemy.append(str(statement).split("\n")[0])
        return real(self, statement, *args, **kwargs)

    monkeypatch.setattr(Connection, "execute", spy)
    view = TurnView.open(store, "N-1")
    view.approvals()
    view.own_holds()
    view.prefetch_stock(["SKU-A"])
    view.switches()
    view.history_and_memory(["SKU-A"], NOW - dt.timedelta(days=30))
    view.close()
    store.save_proposal(proposal_id="P-1", version=2, negotiation_id="N-1", buyer_org="org-é", status="offered",
                        currency="EUR", payment_terms="NET30", valid_until=NOW + dt.timedelta(days=1),
                        total=Decimal("1"), body_for=lambda pid, v: {"v": v}, moves=[], now=NOW,
                        holds=[HoldRequest("SKU-A", 2, 10)],
                        events=(2, [{"side": "seller", "kind": "offer", "sku": "SKU-A"}] * 2),
                        records=[{"gen_ai.conversation.id": "N-1", "turn": 2, "node": n} for n in ("agent", "commit")])
    if _sqlite(store):
        assert through_sqlalchemy == []
    else:  # PostgreSQL: all of them, as before
        assert len(through_sqlalchemy) > 15
    assert store.get_negotiation("N-1").turn == 2 and store.get_proposal("P-1", 2).version == 2


def test_statement_listeners_see_every_statement(store) -> None:
    """Anyone listening to the engine's statements (tests' hooks, instrumentation) gets SQLAlchemy's path."""
    _seeded(store)
    seen: list[str] = []

    def listener(conn, cursor, statement, params, context, executemany):  # noqa: ANN001
        seen.append(statement.split()[0])

    event.listen(store.engine, "before_cursor_execute", listener)
    try:
        view = TurnView.open(store, "N-1")
        view.approvals()
        view.close()
        store.record_turn("N-1", "org-é", 2, events=[{"side": "buyer", "kind": "rfq"}] * 2,
                          records=[{"gen_ai.conversation.id": "N-1", "turn": 2, "node": "commit"}])
    finally:
        event.remove(store.engine, "before_cursor_execute", listener)
    # negotiation + approvals; events, the turn, the last record id (SQLite), records, the chain's last, its entry
    assert seen[:2] == ["SELECT", "SELECT"] and seen.count("INSERT") == 3, seen


def test_outside_a_transaction_sqlalchemy_begins_it(store) -> None:
    """A statement on a connection with no transaction yet: SQLAlchemy autobegins, as it always did."""
    _seeded(store)
    with store.engine.connect() as conn:
        assert not conn.in_transaction()
        row = D.first(conn, Q.NEGOTIATION, {"id": "N-1"})
        assert conn.in_transaction() and row[0] == "N-1"
        assert D.first(conn, Q.NEGOTIATION, {"id": "N-1"}) == row  # then the driver, same transaction


# --- errors ----------------------------------------------------------------------------------------


def _both(store: Store, stmt, params) -> list[BaseException]:
    """The error each path raises for the same statement (each in a transaction rolled back)."""
    errors = []
    for run in (lambda c: D.write(c, stmt, params), lambda c: c.execute(stmt, params)):
        with pytest.raises(BaseException) as info, transaction(store.engine) as conn:
            run(conn)
        errors.append(info.value)
    return errors


def test_errors_are_sqlalchemys(store) -> None:
    _seeded(store)
    # a constraint: the driver's error wrapped by SQLAlchemy's handler, the statement rolled back
    duplicate = {"id": "N-1", "buyer_org": "o", "region": "EU", "currency": None, "segment": "s", "payment_terms": None,
                 "status": "open", "turn": 0, "current_proposal": None, "created_at": NOW, "updated_at": NOW}
    direct, sqlalchemy = _both(store, Q.INSERT_NEGOTIATION, duplicate)
    assert type(direct) is type(sqlalchemy) is exc.IntegrityError
    assert type(direct.orig) is type(sqlalchemy.orig)
    assert direct.statement == sqlalchemy.statement and direct.params == sqlalchemy.params
    # a value its column type cannot convert: on SQLite SQLAlchemy's StatementError (its path raises it)
    bad = {**duplicate, "id": "N-9", "created_at": "not a time"}
    direct, sqlalchemy = _both(store, Q.INSERT_NEGOTIATION, bad)
    assert type(direct) is type(sqlalchemy) is (exc.StatementError if _sqlite(store) else exc.DataError)
    assert store.get_negotiation("N-9") is None
    if _sqlite(store):  # an error that is not the driver's passes through unwrapped on both paths
        big = {"b_sku": "SKU-A", "qty": 2**70, "now": NOW}
        direct, sqlalchemy = _both(store, Q.RESERVE["held"], big)
        assert type(direct) is type(sqlalchemy) is OverflowError


def test_a_failed_statement_rolls_the_whole_commit_back(store) -> None:
    """An error on the driver path inside save_proposal leaves nothing half-written (the transaction's rollback)."""
    _seeded(store)
    before = store.stock("SKU-A"), store.proposals("N-1"), store.records("N-1")
    # SQLAlchemy's JSON processor fails on SQLite (a StatementError); psycopg's JSON dumper on PostgreSQL
    with pytest.raises(exc.StatementError if _sqlite(store) else TypeError):
        store.save_proposal(proposal_id="P-1", version=2, negotiation_id="N-1", buyer_org="org-é", status="offered",
                            currency="EUR", payment_terms="NET30", valid_until=NOW + dt.timedelta(days=1),
                            total=Decimal("1"), body_for=lambda pid, v: {"not json": {1, 2}}, moves=[], now=NOW,
                            holds=[HoldRequest("SKU-A", 2, None)])
    assert (store.stock("SKU-A"), store.proposals("N-1"), store.records("N-1")) == before


# --- the turn lock ---------------------------------------------------------------------------------


def test_the_turn_lock_directory_is_made_once_and_again_if_removed(tmp_path) -> None:
    store = Store(f"sqlite:///{tmp_path}/d.db")
    try:
        with store.turn_lock("N-1"):
            pass
        lock_dir = tmp_path / "d.db.locks"
        files = sorted(p.name for p in lock_dir.iterdir())
        assert len(files) == 1 and files[0].endswith(".lock")
        for p in lock_dir.iterdir():  # someone cleans up the directory while the store runs
            p.unlink()
        lock_dir.rmdir()
        with store.turn_lock("N-1"):
            assert (lock_dir / files[0]).exists()
    finally:
        store.dispose()


def test_in_memory_sqlite_has_no_turn_lock_files(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = Store("sqlite:///:memory:")
    try:
        with store.turn_lock("N-1"):
            pass
        assert list(tmp_path.iterdir()) == []
    finally:
        store.dispose()


def test_now_is_naive_utc() -> None:  # the times the driver path formats are the ones SQLAlchemy formats
    assert utcnow().tzinfo is None


@given(st.datetimes() | st.datetimes(timezones=st.just(dt.UTC)) | st.dates())
def test_sqlite_datetimes_are_bound_as_sqlalchemy_binds_them(value) -> None:
    from sqlalchemy.dialects.sqlite import DATETIME, dialect

    slow = DATETIME().bind_processor(dialect())
    assert D._naive_datetime_text(slow)(value) == slow(value)
