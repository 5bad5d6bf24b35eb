"""The audit trail (agent/store/audit.py) on SQLite and PostgreSQL.

Chains are built through the store's own write path (`add_records`, one entry per negotiation
per batch); tampering is done with plain SQL on the tables, as someone with database access would.
Each kind of tampering (edit, delete, insert, reorder) must be reported at the first bad entry of
the right chain, and a consistent rewrite of a whole chain must be caught by a head published
before it. Retention must keep every chain and root provable.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import and_, delete, insert, select, update

from agent.store import Store, audit
from agent.store import schema as t
from agent.store.db import transaction
from tools.errors import InsufficientInventory

A, B, C = "neg-audit-a", "neg-audit-b", "neg-audit-c"
NODES = ("begin", "prepare", "commit")


def rec(nid: str, turn: int, node: str, **extra: Any) -> dict[str, Any]:
    return {"gen_ai.conversation.id": nid, "node": node, "dealdesk.node": node, "turn": turn,
            "gen_ai.operation.name": node, "message_id": f"m-{nid}-{turn}", "dealdesk.latency_ms": 1.25 * turn,
            "dealdesk.rule_ids": [f"rule.{node}"], "dealdesk.figures": {"offer": f"3.{10 + turn}", "floor": "2.65"},
            **extra}


def turn_records(nid: str, turn: int) -> list[dict[str, Any]]:
    return [rec(nid, turn, node) for node in NODES]


def build(store: Store, turns: int = 3) -> None:
    """Three negotiations, `turns` batches each, interleaved."""
    for turn in range(1, turns + 1):
        for nid in (A, B, C):
            store.add_records(turn_records(nid, turn))


def entries(store: Store, nid: str) -> list[Any]:
    e = t.audit_entries.c
    with store.engine.connect() as conn:
        return conn.execute(select(t.audit_entries).where(e.negotiation_id == nid).order_by(e.seq)).all()


def record_rows(store: Store, nid: str) -> list[Any]:
    r = t.decision_records.c
    with store.engine.connect() as conn:
        return conn.execute(select(r.id, r.record).where(r.negotiation_id == nid).order_by(r.id)).all()


def verify(store: Store, **kw: Any) -> audit.Report:
    with store.engine.connect() as conn:
        return audit.verify(conn, **kw)


def head(store: Store) -> str:
    with transaction(store.engine) as conn:
        return str(audit.publish(conn))


def only_problem(report: audit.Report) -> audit.Problem:
    assert not report.ok
    assert len(report.problems) == 1, report.problems
    return report.problems[0]


# --- the chain as written --------------------------------------------------------------------------


def test_each_batch_appends_one_entry_per_negotiation_and_the_chain_verifies(ops_store) -> None:
    build(ops_store)
    ops_store.add_records([rec(A, 4, "begin"), rec(B, 4, "begin"), rec(A, 4, "commit")])  # one batch, two chains
    assert [x.seq for x in entries(ops_store, A)] == [1, 2, 3, 4]
    assert [x.seq for x in entries(ops_store, B)] == [1, 2, 3, 4]
    assert [len(x.record_ids) for x in entries(ops_store, A)] == [3, 3, 3, 2]
    report = verify(ops_store)
    assert report.ok, report.problems
    assert (report.chains, report.entries, report.records) == (3, 11, 30)
    assert report.head is not None and report.head.position == max(x.id for nid in (A, B, C) for x in entries(ops_store, nid))


def test_the_hash_is_sha256_of_the_previous_hash_and_the_canonical_json_of_the_turns_records(ops_store) -> None:
    build(ops_store, turns=2)
    first, second = entries(ops_store, B)
    rows = {r.id: r.record for r in record_rows(ops_store, B)}

    def canonical(records: list[dict[str, Any]]) -> str:
        return json.dumps(records, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    assert first.prev_hash == "0" * 64
    assert first.hash == hashlib.sha256(("0" * 64 + canonical([rows[i] for i in first.record_ids])).encode()).hexdigest()
    assert second.prev_hash == first.hash
    assert second.hash == hashlib.sha256((first.hash + canonical([rows[i] for i in second.record_ids]))
                                         .encode()).hexdigest()
    assert [rows[i] for i in first.record_ids] == turn_records(B, 1)  # exactly the records as written
    assert audit.canonical({"b": Decimal("3.10"), "a": [1, dt.date(2025, 1, 2)]}) == '{"a":[1,"2025-01-02"],"b":"3.10"}'


def test_the_entry_is_written_in_the_records_transaction(ops_store) -> None:
    with pytest.raises(RuntimeError), transaction(ops_store.engine) as conn:
        Store._insert_records(conn, turn_records(A, 1))
        raise RuntimeError("the turn failed")
    assert entries(ops_store, A) == [] and record_rows(ops_store, A) == []
    # a real write that fails (no stock) leaves neither records nor a chain entry
    from agent.store import HoldRequest

    ops_store.seed_inventory([("SKU-1", 1)])
    ops_store.create_negotiation(A, buyer_org="org", region="EU", segment="standard")
    with pytest.raises(InsufficientInventory):
        ops_store.save_proposal(proposal_id=None, negotiation_id=A, buyer_org="org", status="offered", currency="EUR",
                                payment_terms="NET30", valid_until=dt.datetime(2099, 1, 1), total=Decimal(1),
                                body_for=lambda pid, v: {"items": []}, moves=[], holds=[HoldRequest("SKU-1", 5, None)],
                                records=turn_records(A, 1))
    assert entries(ops_store, A) == [] and record_rows(ops_store, A) == []
    ops_store.add_records(turn_records(A, 1))
    assert [x.seq for x in entries(ops_store, A)] == [1] and verify(ops_store).ok


def test_concurrent_writers_never_fork_a_chain(ops_url) -> None:
    stores = [Store(ops_url) for _ in range(4)]
    errors: list[BaseException] = []

    def write(s: Store, k: int) -> None:
        try:
            for turn in range(1, 9):
                s.add_records([rec(A, turn, f"w{k}"), rec(B if k % 2 else C, turn, f"w{k}")])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, k)) for k, s in enumerate(stores)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    try:
        assert not errors, errors
        assert [x.seq for x in entries(stores[0], A)] == list(range(1, 33))
        report = verify(stores[0])
        assert report.ok, report.problems
        # entry ids are one global order: every chain's entries ascend with their seq
        for nid in (A, B, C):
            ids = [x.id for x in entries(stores[0], nid)]
            assert ids == sorted(ids)
    finally:
        for s in stores:
            s.dispose()


# --- tampering with the decision records ----------------------------------------------------------


def _edit(store: Store) -> tuple[int, str]:
    row = record_rows(store, B)[4]  # turn 2, prepare
    changed = {**row.record, "dealdesk.figures": {"offer": "2.10", "floor": "2.65"}}
    with transaction(store.engine) as conn:
        conn.execute(update(t.decision_records).where(t.decision_records.c.id == row.id).values(record=changed))
    return 2, "edited"


def _delete(store: Store) -> tuple[int, str]:
    row = record_rows(store, B)[3]  # turn 2, begin
    with transaction(store.engine) as conn:
        conn.execute(delete(t.decision_records).where(t.decision_records.c.id == row.id))
    return 2, "deleted"


def _insert(store: Store) -> tuple[int, str]:
    forged = rec(B, 2, "approval", **{"dealdesk.approval.by": "nobody"})
    with transaction(store.engine) as conn:  # written around the store, so outside the chain
        conn.execute(insert(t.decision_records).values(negotiation_id=B, turn=2, node="approval", message_id=None,
                                                       ts=dt.datetime(2025, 1, 1), record=forged))
    return 2, "inserted"  # reported at the entry of the turn it claims


def _swap(store: Store, i: int, j: int) -> None:
    rows = record_rows(store, B)
    with transaction(store.engine) as conn:
        for a, b in ((rows[i], rows[j]), (rows[j], rows[i])):
            conn.execute(update(t.decision_records).where(t.decision_records.c.id == a.id).values(record=b.record))


def _reorder_within(store: Store) -> tuple[int, str]:
    _swap(store, 3, 5)  # turn 2: begin <-> commit
    return 2, "reordered"


def _reorder_across(store: Store) -> tuple[int, str]:
    _swap(store, 4, 7)  # turn 2's prepare <-> turn 3's prepare
    return 2, "reordered"


def _delete_entry(store: Store) -> tuple[int, str]:
    with transaction(store.engine) as conn:
        conn.execute(delete(t.audit_entries).where(and_(t.audit_entries.c.negotiation_id == B,
                                                        t.audit_entries.c.seq == 2)))
    return 2, "deleted"


def _reorder_entries(store: Store) -> tuple[int, str]:
    first, second = entries(store, B)[1:3]
    with transaction(store.engine) as conn:
        e = t.audit_entries.c
        conn.execute(update(t.audit_entries).where(e.id == first.id).values(seq=-1))
        conn.execute(update(t.audit_entries).where(e.id == second.id).values(seq=2))
        conn.execute(update(t.audit_entries).where(e.id == first.id).values(seq=3))
    return 2, "reordered"


def _insert_entry(store: Store) -> tuple[int, str]:
    """A forged turn slipped into the middle of the chain, its own hash computed, later entries renumbered."""
    chain = entries(store, B)
    with transaction(store.engine) as conn:
        e = t.audit_entries.c
        for x in reversed(chain[1:]):
            conn.execute(update(t.audit_entries).where(e.id == x.id).values(seq=x.seq + 1))
        ids = conn.execute(insert(t.decision_records).returning(t.decision_records.c.id), [
            {"negotiation_id": B, "turn": 9, "node": "commit", "message_id": None, "ts": dt.datetime(2025, 1, 1),
             "record": rec(B, 9, "commit")}]).scalars().all()
        forged = [rec(B, 9, "commit")]
        conn.execute(insert(t.audit_entries).values(
            negotiation_id=B, seq=2, turn=9, day=chain[0].day, record_ids=ids,
            record_digests=[audit.record_digest(r) for r in forged], prev_hash=chain[0].hash,
            hash=audit.chain_hash(chain[0].hash, forged), created_at=chain[0].created_at))
    return 2, "inserted"


TAMPER = {"edit": _edit, "delete": _delete, "insert": _insert, "reorder": _reorder_within,
          "reorder_across_turns": _reorder_across, "delete_entry": _delete_entry,
          "reorder_entries": _reorder_entries, "insert_entry": _insert_entry}


@pytest.mark.parametrize("case", list(TAMPER))
def test_verify_reports_the_first_tampered_entry_of_the_chain(ops_store, case) -> None:
    build(ops_store)
    assert verify(ops_store).ok
    seq, kind = TAMPER[case](ops_store)
    problem = only_problem(verify(ops_store))
    assert (problem.negotiation_id, problem.seq, problem.kind) == (B, seq, kind), str(problem)
    # the other chains are untouched, and checking one chain alone finds the same
    assert verify(ops_store, negotiation_id=A).ok
    assert only_problem(verify(ops_store, negotiation_id=B)) == problem


def test_a_consistent_rewrite_of_a_whole_chain_is_caught_by_a_published_head(ops_store) -> None:
    build(ops_store)
    published = head(ops_store)
    assert verify(ops_store, head=published).ok
    # rewrite turn 2's prepare of B, and recompute every hash and digest of B's chain after it
    _edit(ops_store)
    records = {r.id: r.record for r in record_rows(ops_store, B)}
    prev = audit.GENESIS
    chain = entries(ops_store, B)
    with transaction(ops_store.engine) as conn:
        for x in chain:
            recs = [records[i] for i in x.record_ids]
            new = audit.chain_hash(prev, recs)
            conn.execute(update(t.audit_entries).where(t.audit_entries.c.id == x.id).values(
                prev_hash=prev, hash=new, record_digests=[audit.record_digest(r) for r in recs]))
            prev = new
    assert verify(ops_store).ok  # the chains are consistent again...
    problem = only_problem(verify(ops_store, head=published))  # ...but no longer extend what was published
    assert problem.kind == "head" and problem.negotiation_id is None
    assert verify(ops_store, head=head(ops_store)).ok  # (a head taken after the rewrite proves nothing earlier)
    bare_root = published.split(":")[1]
    assert not verify(ops_store, head=bare_root).ok


def test_a_chain_that_grew_still_extends_an_earlier_head(ops_store) -> None:
    build(ops_store, turns=2)
    earlier = head(ops_store)
    build(ops_store, turns=1)  # more turns, on every chain
    ops_store.add_records(turn_records("neg-audit-d", 1))  # and a new chain
    report = verify(ops_store, head=earlier)
    assert report.ok and report.head_ok, report.problems
    assert str(report.head) != earlier
    position, root = audit.parse_head(earlier)
    assert not verify(ops_store, head=f"{position + 100}:{root}").ok  # a head beyond the last entry
    with pytest.raises(ValueError):
        audit.parse_head("12:not-a-root")


def test_backfill_chains_records_written_before_the_audit_trail(ops_url) -> None:
    store = Store(ops_url)
    try:
        with transaction(store.engine) as conn:  # records as an older dealdesk wrote them: no chain
            for turn in (1, 2):
                for nid in (A, B):
                    conn.execute(insert(t.decision_records), [
                        {"negotiation_id": nid, "turn": turn, "message_id": None, "node": r["node"],
                         "ts": dt.datetime(2025, 3, turn), "record": r} for r in turn_records(nid, turn)])
        assert only_problem(verify(store, negotiation_id=A)).kind == "inserted"
        # the v4 migration chains them: re-run it (and the later ones, which create only what is
        # missing) on a database at version 3
        with transaction(store.engine) as conn:
            conn.execute(delete(t.schema_version).where(t.schema_version.c.version >= 4))
            t.audit_published.drop(conn)
            t.audit_entries.drop(conn)
    finally:
        store.dispose()
    store = Store(ops_url)
    try:
        assert [(x.seq, x.turn, x.day) for x in entries(store, A)] == [(1, 1, "2025-03-01"), (2, 2, "2025-03-02")]
        assert verify(store).ok
        store.add_records(turn_records(A, 3))
        assert [x.seq for x in entries(store, A)] == [1, 2, 3] and verify(store).ok
    finally:
        store.dispose()


# --- daily roots and retention ------------------------------------------------------------------------


def _age(store: Store, nid: str, day: str, status: str = "closed") -> None:
    """Make a negotiation look as if it ran (and ended) on `day`."""
    when = dt.datetime.fromisoformat(day) + dt.timedelta(hours=10)
    store.create_negotiation(nid, buyer_org=f"org-{nid}", region="EU", segment="standard")
    with transaction(store.engine) as conn:
        conn.execute(update(t.negotiations).where(t.negotiations.c.id == nid).values(status=status, updated_at=when))
        conn.execute(update(t.audit_entries).where(t.audit_entries.c.negotiation_id == nid)
                     .values(day=day, created_at=when))
        conn.execute(update(t.decision_records).where(t.decision_records.c.negotiation_id == nid).values(ts=when))


def test_daily_roots_hash_the_heads_of_each_days_chains(ops_store) -> None:
    build(ops_store)
    _age(ops_store, A, "2025-01-01")
    _age(ops_store, B, "2025-01-02")
    with ops_store.engine.connect() as conn:
        h = audit.root_at(conn)
    days = [d for d, _, _ in h.days]
    assert days[:2] == ["2025-01-01", "2025-01-02"] and len(days) == 3
    head_a, head_b = entries(ops_store, A)[-1].hash, entries(ops_store, B)[-1].hash
    r1 = audit.day_root(audit.GENESIS, "2025-01-01", [(A, head_a)])
    r2 = audit.day_root(r1, "2025-01-02", [(B, head_b)])
    assert [r for _, r, _ in h.days[:2]] == [r1, r2]
    assert h.root == audit.day_root(r2, days[2], [(C, entries(ops_store, C)[-1].hash)])


def test_prune_keeps_every_chain_head_and_daily_root(ops_store) -> None:
    build(ops_store)
    _age(ops_store, A, "2025-01-01")
    _age(ops_store, B, "2025-01-01", status="open")  # still open: never pruned
    ops_store.add_records(turn_records(C, 4))
    published = head(ops_store)
    with ops_store.engine.connect() as conn:
        before = audit.root_at(conn)
    with transaction(ops_store.engine) as conn:
        dry = audit.prune(conn, dt.datetime(2025, 6, 1), dry_run=True)
    assert dry.negotiations == [A] and record_rows(ops_store, A)
    with transaction(ops_store.engine) as conn:
        report = audit.prune(conn, dt.datetime(2025, 6, 1))
    assert report.negotiations == [A] and report.records == 9
    assert record_rows(ops_store, A) == [] and len(record_rows(ops_store, B)) == 9
    kept = entries(ops_store, A)
    assert [x.seq for x in kept] == [3] and kept[0].pruned_at is not None  # its head stays behind
    with ops_store.engine.connect() as conn:
        after = audit.root_at(conn)
    assert after.root == before.root and after.days == before.days
    report = verify(ops_store, head=published)
    assert report.ok and report.pruned == 1, report.problems
    # a pruned head is still bound by the published root
    with transaction(ops_store.engine) as conn:
        conn.execute(update(t.audit_entries).where(t.audit_entries.c.id == kept[0].id).values(hash="f" * 64))
    assert only_problem(verify(ops_store, head=published)).kind == "head"


def test_prune_keeps_the_heads_a_published_root_needs(ops_store) -> None:
    ops_store.add_records(turn_records(A, 1))
    ops_store.add_records(turn_records(A, 2))
    mid_day = head(ops_store)  # published while A was still going
    ops_store.add_records(turn_records(A, 3))
    _age(ops_store, A, "2025-01-01")
    with ops_store.engine.connect() as conn:
        mid_root = audit.root_at(conn, audit.parse_head(mid_day)[0]).root
    # (the ageing above moved A's entries to another day, so compare against the recomputed root)
    with transaction(ops_store.engine) as conn:
        audit.prune(conn, dt.datetime(2025, 6, 1))
    assert [x.seq for x in entries(ops_store, A)] == [2, 3]
    with ops_store.engine.connect() as conn:
        assert audit.root_at(conn, audit.parse_head(mid_day)[0]).root == mid_root
    assert verify(ops_store).ok


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
    | st.decimals(allow_nan=False, allow_infinity=False) | st.datetimes() | st.dates(),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@given(_VALUES)
def test_a_record_is_stored_as_text_that_reads_back_as_its_normal_form(value) -> None:
    # The store hashes what it reads back from the text it stores; `verify` hashes what the column gives.
    text, read_back = audit.stored_json(value)
    assert json.loads(text) == read_back == audit.normalise(value)
    assert audit.canonical(read_back) == audit.canonical(audit.normalise(value))


@given(_VALUES | st.dictionaries(st.integers() | st.text(), _VALUES, max_size=4))
def test_the_text_a_record_is_stored_as_and_its_canonical_json_are_the_chains(value) -> None:
    # What the chain hashes at insert must be what `verify` hashes from the column's value.
    text, canonical_text = audit.stored_and_canonical(value)
    read_back = json.loads(text)
    assert read_back == audit.normalise(value)
    assert canonical_text == audit.canonical(read_back) == audit.canonical_of_json(read_back)


@pytest.mark.parametrize("value", [{"b": 1, "a": [Decimal("1.50"), dt.date(2026, 1, 2)]}, {"c": 2**70},
                                   {"x": 1e-05, "y": 1e300}, {"nan": float("nan")}, {1: "one", "2": "two"},
                                   {"s": "\ud800"}, {"t": ("a", 1)}])
def test_stored_and_canonical_at_the_values_orjson_writes_otherwise(value) -> None:
    text, canonical_text = audit.stored_and_canonical(value)
    read_back = json.loads(text)
    assert canonical_text == audit.canonical(read_back)
    assert audit.stored_json(value)[1] == read_back


def test_a_records_stored_text_is_its_canonical_json_when_orjson_writes_it_so() -> None:
    text, canonical_text = audit.stored_and_canonical({"b": [1, 2.5, "é"], "a": {"d": None, "c": True}})
    assert text is canonical_text and text == '{"a":{"c":true,"d":null},"b":[1,2.5,"é"]}'


def test_stored_json_writes_non_finite_floats_as_null_and_keeps_big_ints() -> None:
    assert audit.stored_json({"a": float("nan"), "b": [float("inf")]})[1] == {"a": None, "b": [None]}
    text, read_back = audit.stored_json({"c": 2**70, "d": Decimal("1.50")})
    assert json.loads(text) == read_back == {"c": 2**70, "d": "1.50"} and isinstance(read_back["c"], int)


def test_records_with_big_ints_and_non_finite_floats_still_verify(ops_store) -> None:
    ops_store.add_records([rec(A, 1, "begin", **{"dealdesk.inbound": {"quantity": 2**70, "x": 1e-05}}),
                           rec(A, 1, "commit", **{"dealdesk.inbound": {"price": float("nan"), "y": 1e300}})])
    report = verify(ops_store)
    assert report.ok, report.problems


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=25)


@given(_JSON_VALUES)
def test_canonical_of_json_values_is_the_canonical_text(value) -> None:
    assert audit.canonical_of_json(value) == audit.canonical(value)


@pytest.mark.parametrize("value", [1e-05, -7.1850441006303285e-09, 2.5e-05, 1e-07, 1e16, 1.5e300, 5e-324, 2**70,
                                   {"a": [0.00012, 1e-4, 123.456]}, {"text": "0.00001 or 1e-5"}, "\u2028\x1f\x7f"])
def test_canonical_of_json_at_the_float_forms_that_differ(value) -> None:
    assert audit.canonical_of_json(value) == audit.canonical(value)
