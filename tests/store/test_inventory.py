"""Operators' stock changes (agent.store.inventory), each test on SQLite and on PostgreSQL.

What must hold: a receipt adds to the live count and a removal takes off only what is neither sold nor held,
also when removals race; a refused change writes nothing; every change is a decision record in the audit
chain, which still verifies.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from agent.store import Store
from agent.store import audit
from agent.store import schema as t
from agent.store.inventory import AUDIT_CONVERSATION, MAX_UNITS, InventoryStore
from tools.errors import DealdeskError

from .test_store import accept, assert_consistent, negotiation, offer, snapshot


def _records(store: Store) -> list[dict]:
    with store.engine.connect() as conn:
        return [r.record for r in conn.execute(select(t.decision_records).order_by(t.decision_records.c.id))]


def _refused(fn, code: str, field: str) -> DealdeskError:
    with pytest.raises(DealdeskError) as caught:
        fn()
    assert (caught.value.code, caught.value.field) == (code, field), caught.value.message
    return caught.value


def test_a_receipt_adds_to_the_live_count_and_is_recorded(store):
    store.seed_inventory([("SKU-A", 40)])
    change = InventoryStore(store.engine).change("receive", "SKU-A", 25, by="ana", note="PO 4411")
    assert (change.level.on_hand, change.level.available, change.delta) == (65, 65, 25)
    assert store.available("SKU-A") == 65
    [rec] = _records(store)
    assert rec["gen_ai.conversation.id"] == AUDIT_CONVERSATION
    assert rec["dealdesk.rule_ids"] == ["operator.inventory.receive"]
    assert (rec["dealdesk.inventory.sku"], rec["dealdesk.inventory.delta"], rec["dealdesk.inventory.on_hand"],
            rec["dealdesk.inventory.by"], rec["dealdesk.inventory.note"]) == ("SKU-A", 25, 65, "ana", "PO 4411")
    with store.engine.connect() as conn:
        assert audit.verify(conn).ok


def test_a_removal_never_takes_back_units_sold_or_held(store):
    store.seed_inventory([("SKU-A", 30)])
    negotiation(store, "N-1", "org-1")
    negotiation(store, "N-2", "org-2")
    accept(store, offer(store, "N-1", "org-1", [("SKU-A", 10)]))   # 10 sold
    offer(store, "N-2", "org-2", [("SKU-A", 12)])                   # 12 held by a standing offer
    inv = InventoryStore(store.engine)
    before = snapshot(store)
    err = _refused(lambda: inv.change("remove", "SKU-A", 9, by="ana", note="count"), "insufficient_inventory",
                   "quantity")
    assert "only 8 units" in err.message and "sold 10" in err.message and "held by standing offers 12" in err.message
    assert snapshot(store) == before  # nothing written, no record either
    change = inv.change("remove", "SKU-A", 8, by="ana", note="water damage")
    assert (change.level.on_hand, change.level.allocated, change.level.held, change.level.available) == (22, 10, 12, 0)
    assert_consistent(store)


def test_racing_removals_take_off_no_more_than_is_available(open_store):
    first = open_store()
    first.seed_inventory([("SKU-R", 10)])
    racers = 8
    start = threading.Barrier(racers)
    results: list[str] = []

    def _remove() -> None:
        inv = InventoryStore(open_store().engine)
        start.wait(timeout=30)
        try:
            inv.change("remove", "SKU-R", 3, by="op", note="count")
            results.append("ok")
        except DealdeskError as exc:
            results.append(exc.code)

    threads = [threading.Thread(target=_remove) for _ in range(racers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert sorted(results) == ["insufficient_inventory"] * 5 + ["ok"] * 3
    assert first.available("SKU-R") == 1
    assert len(_records(first)) == 3


@pytest.mark.parametrize("kind, qty, note, code, field", [
    ("receive", 0, None, "invalid_quantity", "quantity"),
    ("receive", -5, None, "invalid_quantity", "quantity"),
    ("receive", True, None, "invalid_quantity", "quantity"),
    ("receive", MAX_UNITS + 1, None, "invalid_quantity", "quantity"),
    ("remove", 3, None, "malformed_message", "note"),
    ("remove", 3, "   ", "malformed_message", "note"),
    ("restock", 3, None, "malformed_message", "kind"),
])
def test_bad_changes_are_refused_by_field_and_write_nothing(store, kind, qty, note, code, field):
    store.seed_inventory([("SKU-A", 40)])
    before = snapshot(store)
    _refused(lambda: InventoryStore(store.engine).change(kind, "SKU-A", qty, by="op", note=note), code, field)
    assert snapshot(store) == before


def test_a_count_past_the_columns_range_is_refused(store):
    store.seed_inventory([("SKU-A", MAX_UNITS - 5)])
    before = snapshot(store)
    _refused(lambda: InventoryStore(store.engine).change("receive", "SKU-A", 6, by="op"), "invalid_quantity",
             "quantity")
    assert snapshot(store) == before


def test_the_catalog_decides_which_skus_can_change(store):
    store.seed_inventory([("SKU-A", 40), ("SKU-M", 0)])
    inv = InventoryStore(store.engine)
    before = snapshot(store)
    err = _refused(lambda: inv.change("receive", "SKU-B", 5, by="op", skus={"SKU-A", "SKU-M"}), "unknown_sku", "sku")
    assert "did you mean SKU-A" in err.message or "did you mean SKU-M" in err.message
    err = _refused(lambda: inv.change("receive", "SKU-M", 5, by="op", skus={"SKU-A", "SKU-M"},
                                      made_to_order={"SKU-M"}), "malformed_message", "sku")
    assert "made to order" in err.message
    assert snapshot(store) == before


def test_a_sku_the_store_has_not_seen_starts_its_count_with_the_receipt(store):
    change = InventoryStore(store.engine).change("receive", "SKU-NEW", 7, by="op", skus={"SKU-NEW"})
    assert change.level.on_hand == 7
    assert store.stock("SKU-NEW") == {"on_hand": 7, "allocated": 0, "held": 0, "available": 7}


def test_levels_list_every_counted_sku_or_the_ones_asked(store):
    store.seed_inventory([("SKU-B", 5), ("SKU-A", 40)])
    inv = InventoryStore(store.engine)
    assert [lv.sku for lv in inv.levels()] == ["SKU-A", "SKU-B"]
    [b] = inv.levels(["SKU-B", "SKU-X"])
    assert (b.sku, b.on_hand, b.available) == ("SKU-B", 5, 5)
    assert b.updated_at.endswith("Z")


def test_racing_first_changes_of_a_sku_never_seeded_all_count(open_store):
    """QA (session 21): a SKU in the catalog the store has not seen is started by the first change's INSERT; two
    changes starting it at once made the second fail on the primary key (an internal error, the receipt lost)."""
    first = open_store()
    racers = 6
    start = threading.Barrier(racers)
    results: list[str] = []

    def _receive() -> None:
        inv = InventoryStore(open_store().engine)
        start.wait(timeout=30)
        try:
            inv.change("receive", "SKU-FRESH", 5, by="op", skus={"SKU-FRESH"})
            results.append("ok")
        except Exception as exc:  # noqa: BLE001 - any failure is the finding
            results.append(type(exc).__name__)

    threads = [threading.Thread(target=_receive) for _ in range(racers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert results == ["ok"] * racers
    assert first.stock("SKU-FRESH")["on_hand"] == 5 * racers
    assert len(_records(first)) == racers


@pytest.mark.parametrize("note", ["a\x00b", "ok\x1b[2J\x1b[Hdone", "left \u202eright", "bell\x07", "del\x7f",
                                  "n\x85el"])
def test_a_note_with_control_characters_is_refused_and_writes_nothing(store, note):
    """QA (session 21): a note went into the audit trail as sent, a NUL or a terminal escape sequence included; it
    is text (several lines and tabs allowed), anything else is refused naming the note."""
    store.seed_inventory([("SKU-A", 40)])
    before = snapshot(store)
    err = _refused(lambda: InventoryStore(store.engine).change("remove", "SKU-A", 1, by="op", note=note),
                   "malformed_message", "note")
    assert "control character" in err.message
    assert snapshot(store) == before
    change = InventoryStore(store.engine).change("remove", "SKU-A", 1, by="op", note="line 1\n\tline 2, naïve ✓")
    assert change.note == "line 1\n\tline 2, naïve ✓"


def test_audit_verify_reports_an_on_hand_count_edited_in_the_table(store):
    """QA (session 21): only an operator's change moves on_hand, and each one records the count it left; an
    UPDATE of dd_inventory.on_hand (more stock to sell than was ever received) verified OK. Deals and holds (which
    move allocated and held) do not trouble the check."""
    from sqlalchemy import update

    store.seed_inventory([("SKU-A", 30), ("SKU-B", 9)])
    inv = InventoryStore(store.engine)
    inv.change("receive", "SKU-A", 20, by="ana", note="PO 1")
    inv.change("remove", "SKU-A", 5, by="ana", note="damaged")
    negotiation(store, "N-1", "org-1")
    accept(store, offer(store, "N-1", "org-1", [("SKU-A", 10)]))  # (these helpers write no records of the deal)
    with store.engine.connect() as conn:
        assert audit.verify(conn, negotiation_id=AUDIT_CONVERSATION).ok
    with store.engine.begin() as conn:
        conn.execute(update(t.inventory).where(t.inventory.c.sku == "SKU-A").values(on_hand=t.inventory.c.on_hand + 500))
        conn.execute(update(t.inventory).where(t.inventory.c.sku == "SKU-B").values(on_hand=900))  # never changed
    with store.engine.connect() as conn:
        report = audit.verify(conn, negotiation_id=AUDIT_CONVERSATION)
        assert [p.detail for p in audit.verify(conn).problems if p.negotiation_id == AUDIT_CONVERSATION] == [
            report.problems[0].detail]
    assert not report.ok
    [problem] = report.problems
    assert (problem.negotiation_id, problem.kind) == (AUDIT_CONVERSATION, "table")
    assert "inventory SKU-A" in problem.detail and "545" in problem.detail and "45" in problem.detail


def test_units_held_by_offers_that_expired_can_be_removed(store):
    """QA (session 20): holds are released lazily (when a turn next reserves the SKU), so a removal was refused for
    units 'held by standing offers' whose offers had expired days before. Those offers stand no more: the removal
    releases their holds first, in its own transaction, and the count says so."""
    import datetime as dt

    from agent.store.db import utcnow

    store.seed_inventory([("SKU-A", 20)])
    negotiation(store, "N-1", "org-1")
    negotiation(store, "N-2", "org-2")
    past = utcnow() - dt.timedelta(days=3)
    offer(store, "N-2", "org-2", [("SKU-A", 5)])              # still stands
    offer(store, "N-1", "org-1", [("SKU-A", 12)], now=past)  # its hold ran out days ago
    inv = InventoryStore(store.engine)
    assert store.stock("SKU-A")["held"] == 17  # not released yet: no turn reserved the SKU since
    change = inv.change("remove", "SKU-A", 15, by="ana", note="count")
    assert (change.level.on_hand, change.level.held, change.level.available) == (5, 5, 0)
    _refused(lambda: inv.change("remove", "SKU-A", 1, by="ana", note="count"), "insufficient_inventory", "quantity")
    assert_consistent(store)


def test_the_listed_count_holds_only_what_standing_offers_hold(store):
    """An offer whose hold ran out holds nothing: the list releases such holds before it counts (a turn would only
    when it next reserved the SKU), so `held` and `available` say what can be offered now."""
    import datetime as dt

    from agent.store.db import utcnow

    store.seed_inventory([("SKU-A", 20), ("SKU-B", 9)])
    negotiation(store, "N-1", "org-1")
    negotiation(store, "N-2", "org-2")
    offer(store, "N-2", "org-2", [("SKU-A", 5)])
    offer(store, "N-1", "org-1", [("SKU-A", 12), ("SKU-B", 4)], now=utcnow() - dt.timedelta(days=3))
    assert store.stock("SKU-A")["held"] == 17
    levels = {lv.sku: lv for lv in InventoryStore(store.engine).levels()}
    assert (levels["SKU-A"].held, levels["SKU-A"].available, levels["SKU-B"].held) == (5, 15, 0)
    assert_consistent(store)
