"""`audit verify` beyond the chains: the tables operators read must agree with the chained decision records.

The chains prove the decision records; operators read proposals, deals and approvals from their own tables
(`approvals show`, `deals list`, the console). A row edited there (a deal's total, a proposal's price, who
decided an approval) changed what operators see without touching a record. So each row is tied to the record
that made it, whose content the chain proves:

- a proposal version's body is what its turn's commit record digested (`dealdesk.input.digest`: the outgoing
  proposal; `dealdesk.stored.digest`: the proposal a shadow turn kept for the operator), and its id, version,
  total, currency, payment terms and validity columns are the body's; its status is one its history allows: a
  version held for an approval (its body `pending_approval`) is never `offered` (an approval sends a new version),
  nor is a version with a later one (which superseded it), and the latest version is never `superseded`; a version
  is `accepted` exactly when a deal row is on it (so a superseded or held version set back to `offered`, which
  the buyer could then accept, is reported);
- a deal's body is what the accepting turn's commit record digested, and its columns (id, proposal, version,
  total, currency, acceptance time) are the body's;
- every approval request (whatever its status) is the one its turn's approval record filed: its level, reasons
  and requested lines (with their limits) are what that record digested (`dealdesk.input.digest` of the
  approval node's `route` record with routing `operator`), so a request's level, which decides the operator
  keys that may decide it, cannot be lowered in the table;
- a decided approval (approved, rejected, edited) has the operator's decision record, with the same outcome,
  decider, note and edited prices, and its decided_at is when that record was written (the decision and its
  record are one transaction: decided_at is at most `DECIDED_SLACK` before the record's time and the time of the
  chain entry appended for it, never after them), on that entry's day (which the daily roots hash); and an
  approval that has a decision record is decided as it says (not set back to pending, which would let it be
  decided again, nor to canceled, which hides the decision).

- a SKU's on-hand count (dd_inventory.on_hand) is what the last operator change of it left
  (`dealdesk.inventory.on_hand` of its `ops:inventory` record): only those changes move on_hand (deals and holds
  move allocated and held), so more stock to sell than was ever received is reported; a SKU no operator changed
  is not checked (the catalog seeds it with no record).

Rows of pruned negotiations are not checked (their records are gone by design).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from agent.store import schema as t

INPUT_DIGEST = "dealdesk.input.digest"
STORED_DIGEST = "dealdesk.stored.digest"
DECIDED = ("approved", "rejected", "edited")
PROPOSAL_STATUSES = ("offered", "pending_approval", "superseded", "accepted", "rejected", "canceled")
LIVE = ("offered", "pending_approval")
# How long before its chain entry an approval's decided_at may be: `Store.decide_approval` takes the time, then
# (in the same transaction, after any wait for the write lock) writes the decision record and its entry.
DECIDED_SLACK = dt.timedelta(seconds=60)


def _instant(value: Any) -> str | None:
    """A stored instant (naive UTC, or aware, or ISO text) as the bodies say it: UTC to the second with Z
    (`review.utc_text`); text that is no time is returned as it is."""
    from agent.review import utc_text

    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return utc_text(value)


def _request_digests(row: Any) -> set[str]:
    """The digests an approval row's request may have had when its approval record filed it: the graph's request
    {moves, level, reasons, limits} (requests filed before limits were recorded have none)."""
    from agent.records import digest

    requested = row.requested or {}
    base = {"moves": requested.get("moves"), "level": row.level, "reasons": row.reasons}
    return {digest({**base, "limits": requested.get("limits") or {}}), digest(base)}


def _naive(value: Any) -> dt.datetime | None:
    """A stored instant as a naive UTC datetime (SQLite may give text); None for anything else."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, dt.datetime):
        return None
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def _status_problem(p: Any, latest: int, dealt: bool) -> str | None:
    """What is wrong with a proposal version's status, given its proposal's latest version and whether a deal row
    is on it (see the module doc); None when its history allows it."""
    sent_as = (p.body or {}).get("status")
    if p.status not in PROPOSAL_STATUSES:
        return f"its status {p.status!r} is none a proposal version takes"
    if dealt != (p.status == "accepted"):
        return (f"its status is {p.status!r}, but a deal was made on it" if dealt else
                "its status is 'accepted', but no deal was made on it")
    if p.status in LIVE and p.version < latest:
        return f"its status is {p.status!r}, but version {latest} superseded it"
    if p.status == "superseded" and p.version >= latest:
        return "its status is 'superseded', but no later version was made"
    if p.status in LIVE and sent_as in LIVE and p.status != sent_as:
        return (f"its status is {p.status!r}, but it was made {sent_as!r}"
                + (" (held for an approval: an approval sends a new version)" if sent_as == "pending_approval" else ""))
    return None


def _differs(pairs: Iterable[tuple[str, Any, Any]]) -> list[str]:
    return [f"{name} {column!r} (its body: {body!r})" for name, column, body in pairs if column != body]


@dataclass(frozen=True)
class TableProblem:
    negotiation_id: str
    table: str
    row: str
    detail: str


def check_tables(conn: Connection, records: dict[str, dict[int, Any]], *, skip: Iterable[str] = (),
                 negotiation_id: str | None = None) -> list[TableProblem]:
    """Every row of dd_proposals, dd_deals and dd_approvals (of one negotiation, or all) against the
    negotiation's decision records (`records`: negotiation -> record id -> record, as `audit.verify` read them)."""
    from agent.records import digest

    skipped = set(skip)
    committed: dict[str, set[str]] = {}
    filed: dict[str, set[str]] = {}
    decisions: dict[str, dict[str, Any]] = {}
    record_ids: dict[str, int] = {}  # approval id -> its decision record's id
    for nid, by_id in records.items():
        digests = committed.setdefault(nid, set())
        requests = filed.setdefault(nid, set())
        for rid, record in by_id.items():
            if record.get("node") == "commit":
                digests.update(d for d in (record.get(INPUT_DIGEST), record.get(STORED_DIGEST)) if d)
            elif record.get("gen_ai.operation.name") == "decide_approval" and record.get("dealdesk.approval.id"):
                decisions[record["dealdesk.approval.id"]] = record
                record_ids[record["dealdesk.approval.id"]] = rid
            elif record.get("node") == "approval" and record.get("dealdesk.approval.routing") == "operator" \
                    and record.get(INPUT_DIGEST):
                requests.add(record[INPUT_DIGEST])
    problems: list[TableProblem] = []

    def rows(table: Any) -> Any:
        q = select(table)
        return conn.execute(q if negotiation_id is None else q.where(table.c.negotiation_id == negotiation_id))

    proposals = [p for p in rows(t.proposals) if p.negotiation_id not in skipped]
    deals = [d for d in rows(t.deals) if d.negotiation_id not in skipped]
    latest: dict[str, int] = {}
    for p in proposals:
        latest[p.id] = max(latest.get(p.id, 0), p.version)
    dealt = {(d.proposal_id, d.version) for d in deals}
    for p in proposals:
        where = f"{p.id} v{p.version}"
        body = p.body or {}
        if digest(body) not in committed.get(p.negotiation_id, ()):
            problems.append(TableProblem(p.negotiation_id, "proposals", where,
                                         "its body is not the proposal any commit record of the negotiation made"))
        elif (body.get("proposal_id"), body.get("version"), body.get("total")) != (p.id, p.version, p.total):
            problems.append(TableProblem(p.negotiation_id, "proposals", where,
                                         f"its columns (total {p.total}) differ from its body "
                                         f"(total {body.get('total')})"))
        elif wrong := _differs((("currency", p.currency, body.get("currency")),
                                ("payment_terms", p.payment_terms, body.get("payment_terms")),
                                ("valid_until", _instant(p.valid_until), _instant(body.get("valid_until"))))):
            problems.append(TableProblem(p.negotiation_id, "proposals", where,
                                         "its columns differ from its body: " + ", ".join(wrong)))
        elif wrong_status := _status_problem(p, latest[p.id], (p.id, p.version) in dealt):
            problems.append(TableProblem(p.negotiation_id, "proposals", where, wrong_status))
    for d in deals:
        body = d.body or {}
        if digest(body) not in committed.get(d.negotiation_id, ()):
            problems.append(TableProblem(d.negotiation_id, "deals", d.id,
                                         "its body is not the deal any commit record of the negotiation made"))
        elif (body.get("deal_id"), body.get("proposal_id"), body.get("version"), body.get("total")) != (
                d.id, d.proposal_id, d.version, d.total):
            problems.append(TableProblem(d.negotiation_id, "deals", d.id,
                                         f"its columns (total {d.total}) differ from its body (total {body.get('total')})"))
        elif wrong := _differs((("currency", d.currency, body.get("currency")),
                                ("accepted_at", _instant(d.accepted_at), _instant(body.get("accepted_at"))))):
            problems.append(TableProblem(d.negotiation_id, "deals", d.id,
                                         "its columns differ from its body: " + ", ".join(wrong)))
    entries = _entries_of(conn, record_ids.values())
    for a in rows(t.approvals):
        if a.negotiation_id in skipped:
            continue
        if not _request_digests(a) & filed.get(a.negotiation_id, set()):
            problems.append(TableProblem(a.negotiation_id, "approvals", a.id,
                                         f"its request (level {a.level}, its lines and reasons) is not the one any "
                                         "approval record of the negotiation filed"))
            continue
        record = decisions.get(a.id)
        if a.status not in DECIDED:
            if record is not None:
                problems.append(TableProblem(a.negotiation_id, "approvals", a.id,
                                             f"the row says {a.status}; the decision record says "
                                             f"{record.get('dealdesk.approval.outcome')} by "
                                             f"{record.get('dealdesk.approval.by')!r}"))
            continue
        if record is None:
            problems.append(TableProblem(a.negotiation_id, "approvals", a.id,
                                         f"{a.status} by {a.decided_by}, but no operator decision record says so"))
            continue
        said = (record.get("dealdesk.approval.outcome"), record.get("dealdesk.approval.by"),
                record.get("dealdesk.approval.note"))
        if said != (a.status, a.decided_by, a.note):
            problems.append(TableProblem(a.negotiation_id, "approvals", a.id,
                                         f"the row says {a.status} by {a.decided_by!r} (note {a.note!r}); the "
                                         f"decision record says {said[0]} by {said[1]!r} (note {said[2]!r})"))
            continue
        row_prices = (a.decision or {}).get("prices") or None
        said_prices = record.get("dealdesk.approval.prices") or None
        if row_prices != said_prices:
            problems.append(TableProblem(a.negotiation_id, "approvals", a.id,
                                         f"the row says {a.status} at prices {row_prices!r}; the decision record "
                                         f"says prices {said_prices!r}"))
            continue
        said_at = record.get("dealdesk.approval.decided_at")
        row_at = _naive(a.decided_at)
        if said_at is not None and (row_at is None or _naive(said_at) != row_at.replace(microsecond=0)):
            row_text = _instant(row_at) if row_at else repr(a.decided_at)
            problems.append(TableProblem(a.negotiation_id, "approvals", a.id,
                                         f"the row says decided at {row_text}; the decision record says {said_at}"))
            continue
        entry = entries.get(record_ids.get(a.id, -1))
        if entry is not None and (wrong_time := _decided_at_problem(a.decided_at, entry)):
            problems.append(TableProblem(a.negotiation_id, "approvals", a.id, wrong_time))
    problems.extend(_inventory_problems(conn, records, negotiation_id))
    return problems


def _inventory_problems(conn: Connection, records: dict[str, dict[int, Any]],
                        negotiation_id: str | None) -> list[TableProblem]:
    """Each SKU's on-hand count against the last operator change of it (`dealdesk.inventory.on_hand`: the count
    after it). Only an operator's change moves on_hand (deals and holds move allocated and held; the catalog seeds a
    SKU once, with no record), so a SKU an operator changed counts what the last change left, or the row was
    edited. A SKU no operator changed (or whose changes were pruned) is not checked: its seed has no record."""
    from agent.store.inventory import AUDIT_CONVERSATION

    if negotiation_id not in (None, AUDIT_CONVERSATION) or not records.get(AUDIT_CONVERSATION):
        return []
    changes = records[AUDIT_CONVERSATION]
    last: dict[str, tuple[int, Any]] = {}
    for rid in sorted(changes):
        record = changes[rid]
        if isinstance(record, dict) and record.get("dealdesk.inventory.sku") is not None:
            last[record["dealdesk.inventory.sku"]] = (rid, record.get("dealdesk.inventory.on_hand"))
    inv, r = t.inventory.c, t.decision_records.c
    counted = dict(conn.execute(select(inv.sku, inv.on_hand).where(inv.sku.in_(sorted(last)))).all())
    # A change committed after the records were read (before the counts were, or after) adds a record (a change and
    # its record are one transaction): then the counts are not judged against records that may be stale.
    now_recorded = conn.execute(select(func.count()).select_from(t.decision_records)
                                .where(r.negotiation_id == AUDIT_CONVERSATION)).scalar()
    if now_recorded != len(changes):
        return []
    problems = []
    for sku, (rid, said) in sorted(last.items()):
        if sku not in counted:
            problems.append(TableProblem(AUDIT_CONVERSATION, "inventory", sku,
                                         f"no row counts it; its last change (record {rid}) left {said} on hand"))
        elif counted[sku] != said:
            problems.append(TableProblem(AUDIT_CONVERSATION, "inventory", sku,
                                         f"the row says {counted[sku]} on hand; its last change (record {rid}) left "
                                         f"{said}, and only an operator's change moves it"))
    return problems


def _entries_of(conn: Connection, record_ids: Iterable[int]) -> dict[int, tuple[Any, Any]]:
    """Each of these decision records' write time and the chain entry holding it: id -> (ts, entry)."""
    wanted = set(record_ids)
    if not wanted:
        return {}
    r, e = t.decision_records.c, t.audit_entries.c
    written = dict(conn.execute(select(r.id, r.ts).where(r.id.in_(sorted(wanted)))).all())
    found: dict[int, tuple[Any, Any]] = {}
    for row in conn.execute(select(e.record_ids, e.day, e.created_at).where(e.pruned_at.is_(None))):
        for rid in row.record_ids or ():
            if rid in wanted and rid in written:
                found[rid] = (written[rid], row)
    return found


def _decided_at_problem(decided_at: Any, found: tuple[Any, Any]) -> str | None:
    """A decided approval's decided_at against its decision record (see the module doc): no later than the record's
    write, nor more than `DECIDED_SLACK` before it; and so against the chain entry `Store.decide_approval` appends
    for that record alone: its time, and its day, which the daily roots hash (an entry `audit.backfill` made for
    older records holds its turn's other records too, and bears the first one's time)."""
    ts, entry = found
    at = _naive(decided_at)
    said = f"its decision record was written {_instant(ts)}, in a chain entry of {entry.day}"
    if at is None:
        return f"its decided_at {decided_at!r} is no time; {said}"
    for written in (_naive(ts), _naive(entry.created_at) if len(entry.record_ids or ()) == 1 else None):
        if written is not None and not written - DECIDED_SLACK <= at <= written + dt.timedelta(seconds=1):
            return f"the row says decided at {_instant(at)}; {said}"
    day = dt.datetime.fromisoformat(entry.day)
    if len(entry.record_ids or ()) == 1 and not day - DECIDED_SLACK <= at < day + dt.timedelta(days=1) + DECIDED_SLACK:
        return f"the row says decided at {_instant(at)}; {said}"
    return None
