"""Behaviour of the durable store (agent.store.Store), each test on SQLite and on PostgreSQL.

What must hold: migrations are idempotent; stock is seeded once; holds are conditional, capped per
buyer organisation and swapped atomically between proposal versions; acceptance converts holds
into allocations and writes deal, statuses and decision records in one transaction (idempotent on
retry); a failure anywhere leaves nothing half-written; concurrent buyers never oversell.

Times are passed explicitly (`now=`) wherever expiry matters, so nothing here sleeps on a clock.
Races the scheduler would rarely produce are forced deterministically: a hook pauses one
transaction at the interesting statement while another one runs.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, select

from agent.store import HoldRequest, Store
from agent.store import schema as t
from agent.store.db import current_version, upgrade, utcnow
from agent.store.schema import SCHEMA_VERSION
from agent.store.store import (
    ApprovalNotPending, HoldLimitExceeded, ProposalExpired, ProposalSuperseded,
    UnknownProposal,
)
from tools.errors import DealdeskError, InsufficientInventory

MIN = dt.timedelta(minutes=1)
DAY = dt.timedelta(days=1)
Lines = Sequence[tuple[str, int]]


# --- helpers ---------------------------------------------------------------------------


def is_pg(store: Store) -> bool:
    return store.engine.dialect.name == "postgresql"


def negotiation(store: Store, nid: str, org: str = "org-a") -> str:
    store.create_negotiation(nid, buyer_org=org, region="EU", segment="enterprise", currency="EUR",
                             payment_terms="net30")
    return nid


def offer(store: Store, nid: str, org: str, lines: Lines, *, pid: str | None = None, cap: int | None = None,
          hold: Lines | None = None, now: dt.datetime | None = None, hold_for: dt.timedelta | None = 15 * MIN,
          valid_for: dt.timedelta = DAY, status: str = "offered", records: Sequence[dict] = (),
          body_for: Callable[[str, int], dict] | None = None):
    """Save a proposal version quoting `lines`, holding `hold` (default: the same lines)."""
    now = now or utcnow()
    hold = lines if hold is None else hold
    total = sum(Decimal("10.00") * q for _, q in lines)

    def _body(pid_: str, version: int) -> dict[str, Any]:
        return {"proposal_id": pid_, "version": version, "currency": "EUR", "total": str(total),
                "items": [{"sku": s, "quantity": q, "unit_price": "10.00"} for s, q in lines]}

    return store.save_proposal(
        proposal_id=pid, negotiation_id=nid, buyer_org=org, status=status, currency="EUR",
        payment_terms="net30", valid_until=now + valid_for, total=total, body_for=body_for or _body,
        moves=["anchor", "concede-5"], holds=[HoldRequest(s, q, cap) for s, q in hold],
        hold_until=None if hold_for is None else now + hold_for, records=records, now=now)


def deal_body(prop) -> Callable[[str, dt.datetime], dict]:
    def _body(deal_id: str, at: dt.datetime) -> dict[str, Any]:
        return {"deal_id": deal_id, "proposal_id": prop.id, "version": prop.version,
                "accepted_at": at.isoformat() + "Z", "items": prop.body["items"]}
    return _body


def accept(store: Store, prop, *, org: str | None = None, now: dt.datetime | None = None,
           records: Sequence[dict] = ()):
    return store.accept(proposal_id=prop.id, version=prop.version, buyer_org=org or prop.buyer_org,
                        deal_body_for=deal_body(prop), records=records, now=now)


def record(nid: str, node: str, turn: int = 1, **extra: Any) -> dict[str, Any]:
    return {"gen_ai.conversation.id": nid, "gen_ai.operation.name": "invoke_agent", "node": node,
            "turn": turn, "message_id": f"m-{node}-{turn}", **extra}


def rows(store: Store, table) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table))]


def snapshot(store: Store) -> dict[str, list]:
    """Every row of every table, order-insensitive: two snapshots are equal iff nothing changed."""
    return {tbl.name: sorted((sorted(r.items()) for r in rows(store, tbl)), key=repr)
            for tbl in t.metadata.sorted_tables}


def holds_of(store: Store, pid: str) -> list[dict[str, Any]]:
    return sorted((h for h in rows(store, t.holds) if h["proposal_id"] == pid), key=lambda h: h["id"])


def assert_consistent(store: Store) -> None:
    """Inventory counters agree with the rows behind them and never oversell."""
    holds = rows(store, t.holds)
    deals = rows(store, t.deals)
    for inv in rows(store, t.inventory):
        sku = inv["sku"]
        active = sum(h["quantity"] for h in holds if h["sku"] == sku and h["status"] == "active")
        dealt = sum(int(i["quantity"]) for d in deals for i in d["body"]["items"] if i["sku"] == sku)
        assert inv["held"] == active, f"{sku}: held counter {inv['held']} != active holds {active}"
        assert inv["allocated"] == dealt, f"{sku}: allocated {inv['allocated']} != deals {dealt}"
        assert inv["held"] >= 0 and inv["allocated"] >= 0
        assert inv["on_hand"] - inv["allocated"] - inv["held"] >= 0, f"{sku} oversold: {inv}"


def on_statement(store: Store, matches: Callable[[str, Any], bool], action: Callable[[], None]) -> None:
    """Run `action` once, on the connection's thread, just before the first statement that `matches`."""
    fired = threading.Event()

    def _hook(conn, cursor, statement, parameters, context, executemany):
        if not fired.is_set() and matches(statement, parameters):
            fired.set()
            action()

    event.listen(store.engine, "before_cursor_execute", _hook)


def params_of(parameters: Any) -> list[Any]:
    if isinstance(parameters, dict):
        return list(parameters.values())
    if isinstance(parameters, (list, tuple)):
        return list(parameters)
    return []


def run_threads(n: int, fn: Callable[[int], Any]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=n) as pool:
        return [f.result(timeout=60) for f in [pool.submit(fn, i) for i in range(n)]]


# --- migrations ------------------------------------------------------------------------


def test_upgrade_twice_is_a_noop_and_records_the_version(store):
    before = snapshot(store)
    assert upgrade(store.engine) == SCHEMA_VERSION
    assert upgrade(store.engine) == SCHEMA_VERSION
    assert snapshot(store) == before
    versions = [r["version"] for r in rows(store, t.schema_version)]
    assert sorted(versions) == list(range(1, SCHEMA_VERSION + 1))
    assert all(r["applied_at"] is not None for r in rows(store, t.schema_version))
    with store.engine.connect() as conn:
        assert current_version(conn) == SCHEMA_VERSION


def test_reopening_an_existing_database_keeps_its_data(open_store):
    first = open_store()
    first.seed_inventory([("SKU-A", 50)])
    negotiation(first, "N-1")
    prop = offer(first, "N-1", "org-a", [("SKU-A", 5)])
    first.dispose()

    again = open_store()
    assert again.stock("SKU-A") == {"on_hand": 50, "allocated": 0, "held": 5, "available": 45}
    assert again.get_negotiation("N-1").current_proposal == prop.id
    assert again.get_proposal(prop.id).body == prop.body
    assert len(rows(again, t.schema_version)) == SCHEMA_VERSION


def test_a_fresh_database_starts_at_version_zero_and_concurrent_migrations_apply_once(open_store):
    bare = open_store(migrate=False)
    with bare.engine.connect() as conn:
        assert current_version(conn) == 0
    stores = run_threads(4, lambda _i: open_store())
    assert all(s.available("nothing") == 0 for s in stores)
    assert sorted(r["version"] for r in rows(bare, t.schema_version)) == list(range(1, SCHEMA_VERSION + 1))


def test_a_version_5_database_gets_the_claim_holder_column_and_keeps_its_keys(open_store):
    """v6 adds `holder` to idempotency keys created by v3 (a database from before it has none)."""
    from sqlalchemy import delete, inspect, text

    from agent.store.idempotency import IdempotencyStore

    old = open_store()
    IdempotencyStore(old.engine).claim("org-a", "k-old", "fp")
    with old.engine.begin() as conn:  # back to version 5: the column as v3 made it, no v6 or later rows or tables
        conn.exec_driver_sql("ALTER TABLE dd_idempotency_keys DROP COLUMN holder")
        conn.exec_driver_sql("DROP TABLE dd_console_sessions")  # v7
        conn.execute(delete(t.schema_version).where(t.schema_version.c.version >= 6))
    old.dispose()
    assert upgrade(open_store(migrate=False).engine) == SCHEMA_VERSION == 9
    store = open_store(migrate=False)
    with store.engine.connect() as conn:
        assert "holder" in {c["name"] for c in inspect(conn).get_columns("dd_idempotency_keys")}
        assert inspect(conn).has_table("dd_console_sessions")  # v7: the console's sessions
        assert conn.execute(text("SELECT key FROM dd_idempotency_keys")).scalars().all() == ["k-old"]
    assert IdempotencyStore(store.engine).claim("org-a", "k-old", "fp").state == "in_flight"


# --- seeding ---------------------------------------------------------------------------


def test_seed_once_never_overwrites_and_adds_new_skus(store):
    assert store.seed_inventory([("SKU-A", 100), ("SKU-B", 20)]) == 2
    assert store.stock("SKU-A") == {"on_hand": 100, "allocated": 0, "held": 0, "available": 100}
    negotiation(store, "N-1")
    accept(store, offer(store, "N-1", "org-a", [("SKU-A", 30)]))

    assert store.seed_inventory([("SKU-A", 999), ("SKU-B", 1), ("SKU-C", 7)]) == 1
    assert store.stock("SKU-A") == {"on_hand": 100, "allocated": 30, "held": 0, "available": 70}
    assert store.stock("SKU-B")["on_hand"] == 20
    assert store.stock("SKU-C") == {"on_hand": 7, "allocated": 0, "held": 0, "available": 7}
    assert store.seed_inventory([]) == 0
    assert store.stock("SKU-NONE") is None and store.available("SKU-NONE") == 0


def test_concurrent_seeding_at_startup_adds_each_sku_once(request, store):
    """Two processes seeding an empty database at once (PostgreSQL: several servers starting)."""
    barrier = threading.Barrier(2)

    def _wait():
        try:
            barrier.wait(timeout=1.0)
        except threading.BrokenBarrierError:
            pass  # SQLite: the other seeder waits for our write lock instead, as it should

    fired = threading.local()

    def _hook(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO DD_INVENTORY") and not getattr(fired, "x", False):
            fired.x = True
            _wait()

    event.listen(store.engine, "before_cursor_execute", _hook)
    added = run_threads(2, lambda _i: store.seed_inventory([("SKU-A", 10), ("SKU-B", 5)]))
    assert sorted(added) == [0, 2]
    assert store.stock("SKU-A")["on_hand"] == 10 and store.stock("SKU-B")["on_hand"] == 5


# --- negotiations ----------------------------------------------------------------------


def test_negotiations_create_once_turns_and_status(store):
    first = store.create_negotiation("N-1", buyer_org="org-a", region="EU", segment="smb")
    again = store.create_negotiation("N-1", buyer_org="org-a", region="US", segment="enterprise")
    assert again == first and again.region == "EU" and first.status == "open" and first.turn == 0
    with pytest.raises(DealdeskError) as other:  # never another buyer's negotiation, and nothing written
        store.create_negotiation("N-1", buyer_org="org-b", region="US", segment="enterprise")
    assert other.value.field == "negotiation_id"
    assert store.get_negotiation("N-1", buyer_org="org-b") is None
    # A turn counts once its decision records are written (in the turn's commit); an operator's
    # decision between turns is recorded under the last turn and does not advance it.
    def rec(turn: int) -> dict:
        return {"gen_ai.conversation.id": "N-1", "turn": turn, "message_id": f"m-{turn}", "node": "commit"}

    store.add_records([rec(1), rec(1)])
    assert store.get_negotiation("N-1").turn == 1
    store.add_records([rec(2)])
    store.add_records([rec(2)])
    assert store.get_negotiation("N-1").turn == 2
    store.add_records([rec(0), {**rec(1), "node": "operator"}])
    assert store.get_negotiation("N-1").turn == 2
    negotiation(store, "N-2", "org-b")
    store.set_status("N-2", "closed")
    assert [n.id for n in store.list_negotiations(status="open")] == ["N-1"]
    assert [n.id for n in store.list_negotiations(buyer_org="org-b")] == ["N-2"]


# --- holds -----------------------------------------------------------------------------


def test_a_proposal_holds_its_stock(store):
    store.seed_inventory([("SKU-A", 100), ("SKU-B", 10)])
    negotiation(store, "N-1")
    t0 = utcnow()
    prop = offer(store, "N-1", "org-a", [("SKU-A", 30), ("SKU-B", 4)], now=t0,
                 records=[record("N-1", "propose")])
    assert (prop.version, prop.status, prop.total) == (1, "offered", Decimal("340.00"))
    assert prop.body["proposal_id"] == prop.id and prop.body["version"] == 1
    assert prop.moves == ["anchor", "concede-5"]
    assert store.stock("SKU-A") == {"on_hand": 100, "allocated": 0, "held": 30, "available": 70}
    assert store.available("SKU-B") == 6
    hs = holds_of(store, prop.id)
    assert [(h["sku"], h["quantity"], h["status"], h["version"], h["buyer_org"]) for h in hs] == [
        ("SKU-A", 30, "active", 1, "org-a"), ("SKU-B", 4, "active", 1, "org-a")]
    assert all(h["expires_at"] == t0 + 15 * MIN for h in hs)
    assert store.get_negotiation("N-1").current_proposal == prop.id
    assert store.get_proposal(prop.id, buyer_org="org-b") is None
    assert [r["node"] for r in store.records("N-1")] == ["propose"]
    assert_consistent(store)


def test_without_hold_until_holds_last_as_long_as_the_proposal(store):
    store.seed_inventory([("SKU-A", 10)])
    negotiation(store, "N-1")
    t0 = utcnow()
    prop = offer(store, "N-1", "org-a", [("SKU-A", 3)], now=t0, hold_for=None)
    assert holds_of(store, prop.id)[0]["expires_at"] == prop.valid_until == t0 + DAY


def test_a_new_version_supersedes_and_swaps_holds(store):
    store.seed_inventory([("SKU-A", 100), ("SKU-B", 50)])
    negotiation(store, "N-1")
    v1 = offer(store, "N-1", "org-a", [("SKU-A", 30)])
    v2 = offer(store, "N-1", "org-a", [("SKU-A", 20), ("SKU-B", 5)], pid=v1.id)
    assert (v2.id, v2.version) == (v1.id, 2)
    assert [(p.version, p.status) for p in store.proposals("N-1")] == [(1, "superseded"), (2, "offered")]
    assert store.get_proposal(v1.id).version == 2
    assert store.get_proposal(v1.id, 1).status == "superseded"
    assert [(h["version"], h["sku"], h["quantity"], h["status"]) for h in holds_of(store, v1.id)] == [
        (1, "SKU-A", 30, "released"), (2, "SKU-A", 20, "active"), (2, "SKU-B", 5, "active")]
    assert store.stock("SKU-A")["held"] == 20 and store.stock("SKU-B")["held"] == 5
    assert_consistent(store)


def test_a_turns_first_read_is_the_negotiation_with_its_current_proposals_latest_version(store):
    store.seed_inventory([("SKU-A", 100)])
    negotiation(store, "N-1")
    assert store.negotiation_and_current_proposal("N-1") == (store.get_negotiation("N-1"), None)
    assert store.negotiation_and_current_proposal("N-none") == (None, None)
    v1 = offer(store, "N-1", "org-a", [("SKU-A", 3)])
    v2 = offer(store, "N-1", "org-a", [("SKU-A", 5)], pid=v1.id)
    neg, current = store.negotiation_and_current_proposal("N-1")
    assert neg == store.get_negotiation("N-1") and neg.current_proposal == v1.id
    assert current == v2 == store.get_proposal(v1.id, buyer_org="org-a")


def test_a_proposals_records_advance_the_turn_with_the_current_proposal_never_back(store):
    store.seed_inventory([("SKU-A", 100)])
    negotiation(store, "N-1")
    v1 = offer(store, "N-1", "org-a", [("SKU-A", 3)], records=[record("N-1", "commit", 3)])
    neg = store.get_negotiation("N-1")
    assert (neg.turn, neg.current_proposal) == (3, v1.id)
    v2 = offer(store, "N-1", "org-a", [("SKU-A", 4)], records=[record("N-1", "commit", 2)])
    neg = store.get_negotiation("N-1")
    assert (neg.turn, neg.current_proposal) == (3, v2.id)
    assert [r["turn"] for r in store.records("N-1")] == [3, 2]


def test_a_new_version_may_rehold_the_units_it_releases(store):
    """The old version's holds go back before the new ones are taken (stock and cap)."""
    store.seed_inventory([("SKU-A", 10)])
    negotiation(store, "N-1")
    v1 = offer(store, "N-1", "org-a", [("SKU-A", 8)], cap=9)
    v2 = offer(store, "N-1", "org-a", [("SKU-A", 9)], pid=v1.id, cap=9)
    assert v2.version == 2 and store.stock("SKU-A")["held"] == 9
    assert_consistent(store)


@pytest.mark.parametrize("failure", ["insufficient_stock", "over_cap", "body_raises"])
def test_a_failing_new_version_leaves_the_previous_one_exactly_as_it_was(store, failure):
    store.seed_inventory([("SKU-A", 20), ("SKU-B", 10)])
    negotiation(store, "N-other", "org-b")
    offer(store, "N-other", "org-b", [("SKU-A", 10)])
    negotiation(store, "N-1")
    v1 = offer(store, "N-1", "org-a", [("SKU-A", 5), ("SKU-B", 2)], cap=8)
    before = snapshot(store)

    kwargs: dict[str, Any] = {}
    if failure == "insufficient_stock":  # 20 - 10 (org-b) = 10 free once v1's 5 are back: 12 is too many
        lines, expected = [("SKU-A", 12)], InsufficientInventory
    elif failure == "over_cap":  # stock would allow it, the cap of 8 does not
        lines, expected, kwargs = [("SKU-A", 9)], HoldLimitExceeded, {"cap": 8}
    else:  # holds already swapped when the body fails: all of it must roll back
        def _boom(_pid, _version):
            raise RuntimeError("renderer crashed")
        lines, expected, kwargs = [("SKU-A", 3)], RuntimeError, {"body_for": _boom}

    with pytest.raises(expected) as err:
        offer(store, "N-1", "org-a", lines, pid=v1.id, records=[record("N-1", "propose", 2)], **kwargs)
    if isinstance(err.value, DealdeskError):
        assert err.value.code in ("insufficient_inventory", "hold_limit_exceeded")
        assert err.value.field == "quantity"
    assert snapshot(store) == before
    assert [(p.version, p.status) for p in store.proposals("N-1")] == [(1, "offered")]
    assert [(h["sku"], h["quantity"], h["status"]) for h in holds_of(store, v1.id)] == [
        ("SKU-A", 5, "active"), ("SKU-B", 2, "active")]
    assert store.stock("SKU-A") == {"on_hand": 20, "allocated": 0, "held": 15, "available": 5}
    assert store.records("N-1") == []
    assert_consistent(store)


def test_the_cap_counts_the_orgs_holds_across_negotiations_but_not_other_orgs(store):
    store.seed_inventory([("SKU-A", 100), ("SKU-B", 100)])
    negotiation(store, "N-1", "org-a")
    negotiation(store, "N-2", "org-a")
    negotiation(store, "N-3", "org-b")
    offer(store, "N-1", "org-a", [("SKU-A", 6)], cap=10)
    with pytest.raises(HoldLimitExceeded) as err:
        offer(store, "N-2", "org-a", [("SKU-A", 5)], cap=10)
    assert err.value.code == "hold_limit_exceeded"
    offer(store, "N-2", "org-a", [("SKU-A", 4)], cap=10)  # exactly at the cap
    offer(store, "N-2", "org-a", [("SKU-B", 10)], cap=10)  # the cap is per SKU
    offer(store, "N-3", "org-b", [("SKU-A", 10)], cap=10)  # another org has its own allowance
    assert offer(store, "N-3", "org-b", [("SKU-A", 50)], cap=None).status == "offered"  # no cap
    assert store.stock("SKU-A")["held"] == 6 + 4 + 10 + 50
    assert sum(h["quantity"] for h in store.active_holds("org-a") if h["sku"] == "SKU-A") == 10
    assert_consistent(store)


def test_expired_holds_are_released_and_stop_counting(store):
    store.seed_inventory([("SKU-A", 10)])
    negotiation(store, "N-1", "org-a")
    negotiation(store, "N-2", "org-a")
    t0 = utcnow()
    first = offer(store, "N-1", "org-a", [("SKU-A", 8)], cap=10, now=t0, hold_for=MIN)
    assert store.release_expired_holds(t0 + MIN / 2) == 0
    with pytest.raises(HoldLimitExceeded):
        offer(store, "N-2", "org-a", [("SKU-A", 3)], cap=10, now=t0 + MIN / 2)

    assert store.release_expired_holds(t0 + MIN) == 1  # expires_at <= now: lapsed
    assert store.release_expired_holds(t0 + MIN) == 0  # and only once
    assert store.stock("SKU-A") == {"on_hand": 10, "allocated": 0, "held": 0, "available": 10}
    assert holds_of(store, first.id)[0]["status"] == "released"
    assert store.active_holds("org-a") == []
    second = offer(store, "N-2", "org-a", [("SKU-A", 10)], cap=10, now=t0 + 2 * MIN)
    assert store.stock("SKU-A")["held"] == 10 and holds_of(store, second.id)[0]["status"] == "active"
    assert_consistent(store)


def test_saving_a_proposal_sweeps_lapsed_holds_of_its_skus_first(store):
    store.seed_inventory([("SKU-A", 10)])
    negotiation(store, "N-1", "org-a")
    negotiation(store, "N-2", "org-b")
    t0 = utcnow()
    stale = offer(store, "N-1", "org-a", [("SKU-A", 10)], now=t0, hold_for=MIN)
    fresh = offer(store, "N-2", "org-b", [("SKU-A", 10)], now=t0 + 2 * MIN)
    assert holds_of(store, stale.id)[0]["status"] == "released"
    assert holds_of(store, fresh.id)[0]["status"] == "active"
    assert store.stock("SKU-A")["held"] == 10
    assert_consistent(store)


def test_rejecting_a_proposal_can_release_its_holds(store):
    store.seed_inventory([("SKU-A", 10)])
    negotiation(store, "N-1")
    prop = offer(store, "N-1", "org-a", [("SKU-A", 4)])
    store.set_proposal_status(prop.id, prop.version, "rejected", release_holds=True)
    assert store.get_proposal(prop.id).status == "rejected"
    assert store.stock("SKU-A")["held"] == 0 and holds_of(store, prop.id)[0]["status"] == "released"
    store.set_proposal_status(prop.id, prop.version, "rejected", release_holds=True)  # twice: no double release
    assert store.stock("SKU-A")["held"] == 0
    assert_consistent(store)


def test_the_hold_cap_holds_under_concurrent_negotiations_of_one_org(request, store, monkeypatch):
    """Two negotiations of one org pass the cap check at the same moment; only one may hold."""
    store.seed_inventory([("SKU-A", 100)])
    negotiation(store, "N-1", "org-a")
    negotiation(store, "N-2", "org-a")
    barrier = threading.Barrier(2)
    original = Store._reserve

    def _paused(conn, sku, qty, now, column):
        if column == "held":
            try:
                barrier.wait(timeout=1.0)
            except threading.BrokenBarrierError:
                pass  # SQLite: the other writer is queued behind our lock, as it should be
        return original(conn, sku, qty, now, column)

    monkeypatch.setattr(Store, "_reserve", staticmethod(_paused))

    def _try(i: int) -> str:
        try:
            offer(store, f"N-{i + 1}", "org-a", [("SKU-A", 6)], cap=10)
            return "held"
        except HoldLimitExceeded:
            return "capped"

    assert sorted(run_threads(2, _try)) == ["capped", "held"]
    assert sum(h["quantity"] for h in store.active_holds("org-a")) == 6
    assert_consistent(store)


# --- acceptance ------------------------------------------------------------------------


def test_accept_converts_holds_and_writes_everything_together(store):
    store.seed_inventory([("SKU-A", 100), ("SKU-B", 10)])
    negotiation(store, "N-1")
    prop = offer(store, "N-1", "org-a", [("SKU-A", 30), ("SKU-B", 4)])
    deal, created = accept(store, prop, records=[record("N-1", "accept", 2, outcome={"deal": True})])

    assert created is True
    assert (deal.proposal_id, deal.version, deal.negotiation_id, deal.buyer_org) == (prop.id, 1, "N-1", "org-a")
    assert (deal.currency, deal.total) == ("EUR", Decimal("340.00"))
    assert deal.body["deal_id"] == deal.id and deal.body["items"] == prop.body["items"]
    assert store.stock("SKU-A") == {"on_hand": 100, "allocated": 30, "held": 0, "available": 70}
    assert store.stock("SKU-B") == {"on_hand": 10, "allocated": 4, "held": 0, "available": 6}
    assert [h["status"] for h in holds_of(store, prop.id)] == ["converted", "converted"]
    assert store.get_proposal(prop.id).status == "accepted"
    assert store.get_negotiation("N-1").status == "deal"
    assert store.get_deal(deal.id) == deal and store.get_deal(deal.id, buyer_org="org-b") is None
    assert store.deals(buyer_org="org-a") == [deal] and store.deals(negotiation_id="N-2") == []
    assert [(r["node"], r["outcome"]) for r in store.records("N-1")] == [("accept", {"deal": True})]
    assert_consistent(store)


def test_a_repeated_accept_returns_the_same_deal_and_allocates_once(store):
    store.seed_inventory([("SKU-A", 100)])
    negotiation(store, "N-1")
    prop = offer(store, "N-1", "org-a", [("SKU-A", 30)])
    deal, created = accept(store, prop, records=[record("N-1", "accept")])
    after_first = snapshot(store)
    again, created_again = accept(store, prop, records=[record("N-1", "accept", 3)])
    assert (created, created_again) == (True, False)
    assert again == deal
    assert snapshot(store) == after_first  # no second allocation, no second record
    assert store.stock("SKU-A")["allocated"] == 30


def test_concurrent_duplicate_accepts_make_one_deal(store):
    store.seed_inventory([("SKU-A", 100)])
    negotiation(store, "N-1")
    prop = offer(store, "N-1", "org-a", [("SKU-A", 30)])
    results = run_threads(8, lambda _i: accept(store, prop))
    assert sorted(created for _, created in results) == [False] * 7 + [True]
    assert len({deal.id for deal, _ in results}) == 1
    assert store.stock("SKU-A") == {"on_hand": 100, "allocated": 30, "held": 0, "available": 70}
    assert_consistent(store)


def test_accepting_a_superseded_version_is_refused(store):
    store.seed_inventory([("SKU-A", 100)])
    negotiation(store, "N-1")
    v1 = offer(store, "N-1", "org-a", [("SKU-A", 30)])
    v2 = offer(store, "N-1", "org-a", [("SKU-A", 20)], pid=v1.id)
    before = snapshot(store)
    with pytest.raises(ProposalSuperseded) as err:
        accept(store, v1)
    assert err.value.code == "proposal_superseded" and err.value.field == "version"
    assert snapshot(store) == before

    deal, _ = accept(store, v2)
    with pytest.raises(ProposalSuperseded):  # also once the newer version is a deal
        accept(store, v1)
    assert store.deals() == [deal] and store.stock("SKU-A")["allocated"] == 20
    assert_consistent(store)


def test_accepting_an_expired_proposal_is_refused(store):
    store.seed_inventory([("SKU-A", 100)])
    negotiation(store, "N-1")
    t0 = utcnow()
    prop = offer(store, "N-1", "org-a", [("SKU-A", 30)], now=t0, valid_for=60 * MIN)
    before = snapshot(store)
    with pytest.raises(ProposalExpired) as err:
        accept(store, prop, now=t0 + 60 * MIN)
    assert err.value.code == "proposal_expired"
    assert snapshot(store) == before


def test_another_orgs_proposal_is_unknown_never_forbidden(store):
    store.seed_inventory([("SKU-A", 100)])
    negotiation(store, "N-1", "org-a")
    prop = offer(store, "N-1", "org-a", [("SKU-A", 30)])
    before = snapshot(store)
    with pytest.raises(UnknownProposal) as err:
        accept(store, prop, org="org-b")
    assert err.value.code == "unknown_proposal" and err.value.field == "proposal_id"
    assert "org-a" not in err.value.message
    with pytest.raises(UnknownProposal):
        store.accept(proposal_id=prop.id, version=7, buyer_org="org-a", deal_body_for=deal_body(prop))
    with pytest.raises(UnknownProposal):
        store.accept(proposal_id="P-NOPE", version=1, buyer_org="org-a", deal_body_for=deal_body(prop))
    assert snapshot(store) == before


def test_a_proposal_awaiting_approval_cannot_be_accepted(store):
    store.seed_inventory([("SKU-A", 100)])
    negotiation(store, "N-1")
    prop = offer(store, "N-1", "org-a", [("SKU-A", 30)], status="pending_approval")
    before = snapshot(store)
    with pytest.raises(UnknownProposal):
        accept(store, prop)
    assert snapshot(store) == before


def test_accept_after_the_hold_lapsed_re_reserves(store):
    store.seed_inventory([("SKU-A", 10)])
    negotiation(store, "N-1")
    t0 = utcnow()
    prop = offer(store, "N-1", "org-a", [("SKU-A", 6)], now=t0, hold_for=MIN)
    assert store.release_expired_holds(t0 + 2 * MIN) == 1
    deal, created = accept(store, prop, now=t0 + 2 * MIN)
    assert created and deal.proposal_id == prop.id
    assert store.stock("SKU-A") == {"on_hand": 10, "allocated": 6, "held": 0, "available": 4}
    assert holds_of(store, prop.id)[0]["status"] == "released"
    assert_consistent(store)


def test_accept_after_the_hold_lapsed_fails_cleanly_when_the_stock_is_gone(store):
    store.seed_inventory([("SKU-A", 10)])
    negotiation(store, "N-1", "org-a")
    negotiation(store, "N-2", "org-b")
    t0 = utcnow()
    prop = offer(store, "N-1", "org-a", [("SKU-A", 6)], now=t0, hold_for=MIN)
    rival = offer(store, "N-2", "org-b", [("SKU-A", 6)], now=t0 + 2 * MIN)  # sweeps our lapsed hold
    accept(store, rival, now=t0 + 2 * MIN)
    before = snapshot(store)
    with pytest.raises(InsufficientInventory) as err:
        accept(store, prop, now=t0 + 3 * MIN, records=[record("N-1", "accept")])
    assert err.value.code == "insufficient_inventory"
    assert snapshot(store) == before
    assert store.deals(negotiation_id="N-1") == []
    assert store.get_proposal(prop.id).status == "offered"
    assert store.get_negotiation("N-1").status == "open"
    assert store.stock("SKU-A") == {"on_hand": 10, "allocated": 6, "held": 0, "available": 4}
    assert store.records("N-1") == []


def test_a_failing_multi_line_accept_rolls_back_the_lines_already_converted(store):
    store.seed_inventory([("SKU-A", 10), ("SKU-B", 10)])
    negotiation(store, "N-1", "org-a")
    negotiation(store, "N-2", "org-b")
    t0 = utcnow()
    # SKU-A is held (and gets converted first); SKU-B was never held and org-b holds most of it.
    prop = offer(store, "N-1", "org-a", [("SKU-A", 5), ("SKU-B", 5)], hold=[("SKU-A", 5)], now=t0)
    rival = offer(store, "N-2", "org-b", [("SKU-B", 8)], now=t0)
    before = snapshot(store)
    with pytest.raises(InsufficientInventory):
        accept(store, prop, now=t0 + MIN)
    assert snapshot(store) == before
    assert holds_of(store, prop.id)[0]["status"] == "active" and rival.status == "offered"


def test_accept_after_an_unswept_lapsed_hold_can_use_the_units_it_held(store):
    store.seed_inventory([("SKU-A", 10)])
    negotiation(store, "N-1")
    t0 = utcnow()
    prop = offer(store, "N-1", "org-a", [("SKU-A", 10)], now=t0, hold_for=MIN)
    deal, created = accept(store, prop, now=t0 + 2 * MIN)  # no sweeper ran: the hold is active but lapsed
    assert created and deal.proposal_id == prop.id
    assert store.stock("SKU-A") == {"on_hand": 10, "allocated": 10, "held": 0, "available": 0}
    assert holds_of(store, prop.id)[0]["status"] != "active"
    assert_consistent(store)


def test_accept_releases_holds_that_do_not_match_the_proposal_lines(store):
    """A hold for fewer units than quoted, or for a SKU no longer quoted, goes back to stock."""
    store.seed_inventory([("SKU-A", 20), ("SKU-B", 20)])
    negotiation(store, "N-1")
    prop = offer(store, "N-1", "org-a", [("SKU-A", 7)], hold=[("SKU-A", 5), ("SKU-B", 3)])
    accept(store, prop)
    assert store.stock("SKU-A") == {"on_hand": 20, "allocated": 7, "held": 0, "available": 13}
    assert store.stock("SKU-B") == {"on_hand": 20, "allocated": 0, "held": 0, "available": 20}
    assert_consistent(store)


def test_a_failure_mid_transaction_leaves_nothing_behind(store):
    store.seed_inventory([("SKU-A", 100)])
    negotiation(store, "N-1")
    prop = offer(store, "N-1", "org-a", [("SKU-A", 30)])
    before = snapshot(store)
    calls: list[str] = []

    def _boom(deal_id: str, at: dt.datetime) -> dict:
        calls.append(deal_id)  # runs after the holds were converted, before the deal is written
        raise RuntimeError("deal renderer crashed")

    with pytest.raises(RuntimeError, match="renderer crashed"):
        store.accept(proposal_id=prop.id, version=prop.version, buyer_org="org-a", deal_body_for=_boom,
                     records=[record("N-1", "accept")])
    assert calls, "the failure was not injected mid-transaction"
    assert snapshot(store) == before
    assert store.deals() == [] and store.records("N-1") == []
    assert store.stock("SKU-A") == {"on_hand": 100, "allocated": 0, "held": 30, "available": 70}
    assert store.get_proposal(prop.id).status == "offered" and store.get_negotiation("N-1").status == "open"
    assert holds_of(store, prop.id)[0]["status"] == "active"

    deal, created = accept(store, prop)  # and the same acceptance goes through afterwards
    assert created and store.stock("SKU-A")["allocated"] == 30
    assert_consistent(store)


def test_a_sweep_racing_an_accept_does_not_release_a_converted_hold_twice(request, store):
    """The hold lapses while the acceptance is running; a sweeper in another process releases it."""
    store.seed_inventory([("SKU-A", 10)])
    negotiation(store, "N-1")
    t0 = utcnow()
    prop = offer(store, "N-1", "org-a", [("SKU-A", 6)], now=t0, hold_for=MIN)
    sweeper = threading.Thread(target=store.release_expired_holds, args=(t0 + 2 * MIN,))

    def _sweep_now():
        sweeper.start()
        sweeper.join(timeout=1.0)  # SQLite: the sweeper queues behind our write lock

    on_statement(store, lambda sql, p: sql.lstrip().upper().startswith("UPDATE DD_HOLDS")
                 and "converted" in params_of(p), _sweep_now)
    deal, created = accept(store, prop, now=t0 + MIN / 2)
    sweeper.join(timeout=30)
    assert created
    assert store.stock("SKU-A") == {"on_hand": 10, "allocated": 6, "held": 0, "available": 4}
    assert_consistent(store)


# --- approvals -------------------------------------------------------------------------


def test_approvals_are_decided_exactly_once(store):
    requested = {"items": [{"sku": "SKU-A", "quantity": 5, "unit_price": "8.10"}], "total": "40.50"}
    reasons = [{"code": "discount_above_limit", "rule_id": "R-12", "message": "19% > 15%"}]
    a1 = store.create_approval(negotiation_id="N-1", buyer_org="org-a", proposal_id="P-1", level="manager",
                               requested=requested, reasons=reasons, records=[record("N-1", "escalate")])
    a2 = store.create_approval(negotiation_id="N-2", buyer_org="org-b", proposal_id="P-2", level="director",
                               requested={"total": "1.00"}, reasons=[])
    assert (a1.status, a1.requested, a1.reasons, a1.level) == ("pending", requested, reasons, "manager")
    assert a1.decided_by is None and a1.decided_at is None and a1.decision is None and a1.note is None
    assert [a.id for a in store.approvals(status="pending")] == [a1.id, a2.id]
    assert store.pending_approval("N-1") == a1 and store.get_approval(a1.id) == a1

    decided = store.decide_approval(a1.id, status="edited", decided_by="ops@vendor", note="meet at 12%",
                                    decision={"unit_price": "8.80", "total": "44.00"},
                                    records=[record("N-1", "approval", 2)])
    assert (decided.status, decided.decided_by, decided.note) == ("edited", "ops@vendor", "meet at 12%")
    assert decided.decision == {"unit_price": "8.80", "total": "44.00"} and decided.decided_at is not None
    assert store.pending_approval("N-1") is None
    assert [a.id for a in store.approvals(status="pending")] == [a2.id]
    assert [a.id for a in store.approvals(status="edited", negotiation_id="N-1")] == [a1.id]

    with pytest.raises(ApprovalNotPending) as err:
        store.decide_approval(a1.id, status="approved", decided_by="someone-else", note=None, decision=None,
                              records=[record("N-1", "approval", 3)])
    assert err.value.code == "approval_not_pending" and "edited" in err.value.message
    assert store.get_approval(a1.id) == decided
    assert [r["node"] for r in store.records("N-1")] == ["escalate", "approval"]
    with pytest.raises(ApprovalNotPending):
        store.decide_approval("A-NOPE", status="approved", decided_by="x", note=None, decision=None)
    with pytest.raises(ValueError):
        store.decide_approval(a2.id, status="maybe", decided_by="x", note=None, decision=None)
    assert store.get_approval(a2.id).status == "pending"


def test_a_turn_that_keeps_its_proposal_files_and_replaces_an_approval_request(store):
    """record_turn with an approval: the request is filed on the proposal, in the turn's transaction, after
    the request it replaces is canceled; no proposal version is written."""
    store.create_negotiation("N-1", buyer_org="org-a", region="EU", segment="smb")
    moves = [{"sku": "SKU-A", "quantity": 5, "unit_price": "8.10"}]
    old = store.create_approval(negotiation_id="N-1", buyer_org="org-a", proposal_id="P-1", level="operator",
                                requested={"moves": moves}, reasons=[])
    store.record_turn("N-1", "org-a", 2, records=[record("N-1", "commit", 2)], proposal_id="P-1",
                      approval={"moves": [{**moves[0], "unit_price": "7.90"}], "level": "operator", "reasons": []},
                      cancel_approval=old.id)
    assert store.get_approval(old.id).status == "canceled"
    new = store.pending_approval("N-1")
    assert (new.proposal_id, new.requested["moves"][0]["unit_price"]) == ("P-1", "7.90")
    assert store.proposals("N-1") == [] and [r["node"] for r in store.records("N-1")] == ["commit"]
    with pytest.raises(ValueError):  # a request is always on a proposal; nothing of the turn is written
        store.record_turn("N-1", "org-a", 3, records=[record("N-1", "commit", 3)],
                          approval={"moves": moves, "level": "operator", "reasons": []})
    assert [r["node"] for r in store.records("N-1")] == ["commit"] and store.pending_approval("N-1") == new


def test_concurrent_decisions_on_one_approval_let_exactly_one_win(store):
    a = store.create_approval(negotiation_id="N-1", buyer_org="org-a", proposal_id="P-1", level="manager",
                              requested={}, reasons=[])

    def _decide(i: int) -> str:
        try:
            store.decide_approval(a.id, status="approved" if i % 2 else "rejected", decided_by=f"op-{i}",
                                  note=None, decision=None)
            return f"op-{i}"
        except ApprovalNotPending:
            return "lost"

    results = run_threads(6, _decide)
    winners = [r for r in results if r != "lost"]
    assert len(winners) == 1 and store.get_approval(a.id).decided_by == winners[0]


# --- events and memory -----------------------------------------------------------------


def test_events_are_kept_in_order_per_negotiation(store):
    store.add_events("N-1", "org-a", 1, [
        {"side": "buyer", "kind": "rfq", "sku": "SKU-A", "quantity": 50},
        {"side": "seller", "kind": "offer", "sku": "SKU-A", "quantity": 50, "unit_price": Decimal("9.125"),
         "list_price": Decimal("10.00"), "payment_terms": "net30"},
    ])
    store.add_events("N-2", "org-a", 1, [{"side": "buyer", "kind": "rfq", "sku": "SKU-A", "quantity": 5}])
    store.add_events("N-1", "org-a", 2, [{"side": "buyer", "kind": "counter", "sku": "SKU-A", "quantity": 50,
                                          "unit_price": "8.50"}])
    store.add_events("N-1", "org-a", 3, [])
    evs = store.events("N-1")
    assert [(e.turn, e.side, e.kind) for e in evs] == [(1, "buyer", "rfq"), (1, "seller", "offer"),
                                                       (2, "buyer", "counter")]
    assert evs[1].unit_price == Decimal("9.125") and evs[1].list_price == Decimal("10.00")
    assert evs[1].payment_terms == "net30" and evs[0].unit_price is None
    assert evs[2].unit_price == Decimal("8.50")
    assert [e.negotiation_id for e in store.events("N-2")] == ["N-2"]


def test_history_and_memory_read_the_negotiation_and_the_orgs_recent_events_in_one_query(store):
    t0 = utcnow()

    def ev(kind: str, sku: str, at: dt.datetime, price: str) -> dict:
        return {"side": "buyer", "kind": kind, "sku": sku, "quantity": 10, "unit_price": Decimal(price), "at": at}

    store.add_events("N-old", "org-a", 1, [ev("counter", "SKU-A", t0 - 40 * DAY, "7.00")])
    store.add_events("N-1", "org-a", 1, [ev("counter", "SKU-A", t0 - 2 * DAY, "8.00"),
                                         ev("counter", "SKU-B", t0 - 2 * DAY, "3.00")])
    store.add_events("N-b", "org-b", 1, [ev("counter", "SKU-A", t0 - DAY, "6.00")])
    store.add_events("N-cur", "org-a", 1, [ev("counter", "SKU-A", t0, "8.40"),
                                           ev("counter", "SKU-C", t0 - 90 * DAY, "1.00")])
    store.add_events("N-2", "org-a", 2, [ev("accept", "SKU-A", t0 - DAY, "8.20")])

    since = t0 - 30 * DAY
    history, memory = store.history_and_memory("N-cur", "org-a", ["SKU-A"], since)
    # the negotiation's own events whatever their SKU or age; memory only from its other negotiations
    assert [(e.sku, e.unit_price) for e in history] == [("SKU-A", Decimal("8.40")), ("SKU-C", Decimal("1.00"))]
    assert [(e.negotiation_id, e.unit_price) for e in memory] == [("N-1", Decimal("8.00")),
                                                                  ("N-2", Decimal("8.20"))]
    _, older = store.history_and_memory("N-cur", "org-a", ["SKU-A"], t0 - 50 * DAY)
    assert [e.negotiation_id for e in older] == ["N-old", "N-1", "N-2"]
    _, both = store.history_and_memory("N-cur", "org-a", ["SKU-A", "SKU-B"], since)
    assert [(e.negotiation_id, e.sku) for e in both] == [("N-1", "SKU-A"), ("N-1", "SKU-B"), ("N-2", "SKU-A")]
    assert [e.negotiation_id for e in store.history_and_memory("N-x", "org-b", ["SKU-A"], since)[1]] == ["N-b"]


# --- decision records ------------------------------------------------------------------


def test_decision_records_round_trip_in_order_per_negotiation(store):
    nested = record("N-1", "price", 1, inputs={"rfq": {"items": [{"sku": "SKU-A", "quantity": 3}]},
                                               "memory": []},
                    outputs={"unit_price": "9.99", "moves": ["anchor"], "ok": True, "ratio": 0.5, "none": None},
                    note="Größe: «naïve» ✓ — quotes \" and \\ backslash")
    store.add_records([record("N-1", "intake", 1), record("N-2", "intake", 1)])
    store.add_records([nested, record("N-1", "respond", 1)])
    store.add_records([])
    got = store.records("N-1")
    assert [r["node"] for r in got] == ["intake", "price", "respond"]
    assert got[1] == nested
    assert [r["node"] for r in store.records("N-2")] == ["intake"]
    assert store.records("N-none") == []
    stored = [r for r in rows(store, t.decision_records) if r["negotiation_id"] == "N-1"]
    assert sorted((r["turn"], r["message_id"], r["node"]) for r in stored) == [
        (1, "m-intake-1", "intake"), (1, "m-price-1", "price"), (1, "m-respond-1", "respond")]


# --- concurrency -----------------------------------------------------------------------

RACERS, STOCK, EACH = 25, 100, 7  # 14 * 7 = 98 <= 100 < 15 * 7


class StockWatcher:
    """Samples the SKU's counters while a race runs: available must never go negative."""

    def __init__(self, store: Store, sku: str):
        self.store, self.sku, self.seen = store, sku, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.seen.append(self.store.stock(self.sku))
            self._stop.wait(0.005)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)
        assert self.seen, "the watcher saw nothing"
        for s in self.seen:
            assert s["available"] >= 0 and s["held"] >= 0 and s["allocated"] <= s["on_hand"], s


def assert_race_outcome(store: Store, outcomes: Iterable[str], *, exact: bool = True) -> None:
    outcomes = list(outcomes)
    won = outcomes.count("deal")
    assert won * EACH <= STOCK
    if exact:
        assert won == STOCK // EACH, outcomes
    deals = store.deals()
    assert len(deals) == won
    dealt = sum(int(i["quantity"]) for d in deals for i in d.body["items"])
    stock = store.stock("SKU-R")
    assert stock["allocated"] == dealt == won * EACH
    assert stock["held"] == 0 and store.active_holds() == []
    assert stock["available"] == STOCK - dealt >= 0
    assert_consistent(store)


def test_racing_buyers_hold_then_accept_never_oversell(store):
    store.seed_inventory([("SKU-R", STOCK)])
    for i in range(RACERS):
        negotiation(store, f"N-{i}", f"org-{i}")
    start = threading.Barrier(RACERS)

    def _buyer(i: int) -> str:
        start.wait(timeout=30)
        try:
            prop = offer(store, f"N-{i}", f"org-{i}", [("SKU-R", EACH)], cap=50)
        except InsufficientInventory:
            return "no_hold"
        try:
            accept(store, prop)
            return "deal"
        except InsufficientInventory:
            return "no_stock"

    with StockWatcher(store, "SKU-R"):
        outcomes = run_threads(RACERS, _buyer)
    assert outcomes.count("no_stock") == 0  # a proposal that got its hold always converts it
    assert_race_outcome(store, outcomes)


@pytest.mark.parametrize("swept", [True, False], ids=["swept", "unswept"])
def test_racing_buyers_accept_after_their_holds_lapsed_never_oversell(store, swept):
    """Every buyer held its 7 units once; all holds lapsed; all 25 race on accept (re-reserve path)."""
    store.seed_inventory([("SKU-R", STOCK)])
    t0 = utcnow()
    props = []
    for i in range(RACERS):  # staggered: each save sweeps the previous, lapsed hold
        negotiation(store, f"N-{i}", f"org-{i}")
        props.append(offer(store, f"N-{i}", f"org-{i}", [("SKU-R", EACH)], now=t0 + i * MIN, hold_for=MIN / 2))
    late = t0 + RACERS * MIN
    assert len({h["proposal_id"] for h in rows(store, t.holds)}) == RACERS
    if swept:
        assert store.release_expired_holds(late) == 1
    start = threading.Barrier(RACERS)

    def _buyer(i: int) -> str:
        start.wait(timeout=30)
        try:
            accept(store, props[i], now=late)
            return "deal"
        except InsufficientInventory:
            return "no_stock"

    with StockWatcher(store, "SKU-R"):
        outcomes = run_threads(RACERS, _buyer)
    assert_race_outcome(store, outcomes, exact=True)


def test_a_buyers_cancel_is_recorded_with_what_it_withdrew(store):
    """A cancel (A2A CancelTask) ended a negotiation with no decision record: why its versions read `rejected` and
    its requests `canceled` was nowhere in the trail. Its record names them, in the cancel's transaction."""
    from agent.store import audit

    store.seed_inventory([("SKU-A", 100)])
    negotiation(store, "N-1", "org-1")
    prop = offer(store, "N-1", "org-1", [("SKU-A", 10)], records=[record("N-1", "commit")])
    request = store.create_approval(negotiation_id="N-1", buyer_org="org-1", proposal_id=prop.id, level="manager",
                                    requested={"moves": []}, reasons=[])
    assert store.cancel_negotiation("N-1") is True
    cancel = store.records("N-1")[-1]
    assert (cancel["node"], cancel["dealdesk.rule_ids"], cancel["turn"]) == ("cancel", ["buyer.cancel"], 1)
    assert cancel["dealdesk.cancel.withdrawn"] == [{"proposal_id": prop.id, "version": prop.version}]
    assert cancel["dealdesk.cancel.released"] == [{"sku": "SKU-A", "quantity": 10}]
    assert cancel["dealdesk.cancel.approvals_canceled"] == [request.id]
    assert store.available("SKU-A") == 100 and store.get_approval(request.id).status == "canceled"
    assert store.cancel_negotiation("N-1") is True and len(store.records("N-1")) == 2  # once only
    from agent import review

    assert review.timeline(store, "N-1").turns[-1].close == "buyer_canceled"  # as `deals show` says it
    with store.engine.connect() as conn:  # the chain holds (the request, made here without its turn, is no table's)
        assert [p for p in audit.verify(conn).problems if p.kind != "table"] == []


def test_an_expired_request_is_recorded_as_it_is_canceled(store):
    from agent.store import audit

    negotiation(store, "N-1", "org-1")
    request = store.create_approval(negotiation_id="N-1", buyer_org="org-1", proposal_id="P-1", level="manager",
                                    requested={"moves": []}, reasons=[])
    assert store.expire_approval(request.id, "too old") is True
    [expired] = store.records("N-1")
    assert (expired["node"], expired["dealdesk.rule_ids"], expired["dealdesk.approval.id"],
            expired["dealdesk.approval.outcome"]) == ("expire", ["approval.expired"], request.id, "expired")
    assert store.expire_approval(request.id, "too old") is False and len(store.records("N-1")) == 1
    with store.engine.connect() as conn:  # the chain holds (the request, made here without its turn, is no table's)
        assert [p for p in audit.verify(conn).problems if p.kind != "table"] == []
