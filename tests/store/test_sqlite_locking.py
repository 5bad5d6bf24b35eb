"""SQLite specifics: readers never wait for a writer (WAL), writers take the lock up front, and a
deal's commit is fsynced (synchronous=FULL) while other writes use NORMAL."""

from __future__ import annotations

import sqlite3
import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import event

from agent.store import Store
from agent.store.db import transaction


def test_a_read_does_not_wait_for_another_process_writing(tmp_path) -> None:
    path = tmp_path / "d.db"
    store = Store(f"sqlite:///{path}")
    try:
        store.create_negotiation("n1", buyer_org="o", region="EU", segment="standard")
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        release = threading.Timer(3.0, lambda: other.execute("ROLLBACK"))
        release.start()
        started = time.perf_counter()
        assert store.get_negotiation("n1") is not None
        waited = time.perf_counter() - started
        release.cancel()
        other.execute("ROLLBACK")
        assert waited < 1.0, f"a read waited {waited:.2f} s for the writer"
    finally:
        store.dispose()


def traced(store: Store) -> list[str]:
    """Every statement SQLite runs on the store's connections, as SQLite sees them: BEGIN and the
    pragmas go to the driver directly, past SQLAlchemy's statement events."""
    seen: list[str] = []
    event.listen(store.engine, "checkout", lambda dbapi_conn, *_: dbapi_conn.set_trace_callback(seen.append))
    return seen


def test_only_durable_writes_ask_for_a_full_fsync(tmp_path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'd.db'}")
    seen = traced(store)
    try:
        with transaction(store.engine) as conn:
            conn.exec_driver_sql("SELECT 1")
        assert seen == ["BEGIN IMMEDIATE", "SELECT 1", "COMMIT"], seen
        seen.clear()
        with transaction(store.engine, durable=True) as conn:
            conn.exec_driver_sql("SELECT 1")
        assert seen == ["PRAGMA synchronous=FULL", "BEGIN IMMEDIATE", "SELECT 1", "COMMIT",
                        "PRAGMA synchronous=NORMAL"], seen
        with store.engine.connect() as conn:  # the connection went back to the pool at NORMAL
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1
        seen.clear()
        with store.engine.connect() as conn:  # a read begins without the write lock
            conn.exec_driver_sql("SELECT 1")
        assert seen[:2] == ["BEGIN", "SELECT 1"] and not any("IMMEDIATE" in s for s in seen), seen
    finally:
        store.dispose()


def test_a_failed_write_transaction_leaves_the_next_read_without_the_write_lock(tmp_path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'd.db'}")
    seen = traced(store)
    try:
        with pytest.raises(RuntimeError), transaction(store.engine) as conn:
            raise RuntimeError("the write failed")
        seen.clear()
        with store.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        assert seen[:2] == ["BEGIN", "SELECT 1"], seen
    finally:
        store.dispose()


def test_a_deal_is_written_with_a_full_fsync(tmp_path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'd.db'}")
    seen = traced(store)
    try:
        store.seed_inventory([("SKU-A", 10)])
        store.create_negotiation("n1", buyer_org="o", region="EU", segment="standard")
        import datetime as dt

        from agent.store import HoldRequest
        from agent.store.db import utcnow

        store.save_proposal(proposal_id="P-1", version=1, negotiation_id="n1", buyer_org="o", status="offered",
                            currency="EUR", payment_terms="NET30", valid_until=utcnow() + dt.timedelta(days=1),
                            total=Decimal("10"), body_for=lambda _p, _v: {"items": []}, moves=["m"],
                            holds=[HoldRequest("SKU-A", 2, 10)])
        assert "PRAGMA synchronous=FULL" not in seen
        store.accept(proposal_id="P-1", version=1, buyer_org="o", deal_body_for=lambda _d, _a: {"items": []})
        assert "PRAGMA synchronous=FULL" in seen
    finally:
        store.dispose()
