"""`audit verify` beyond the chains: the tables operators read must agree with the chained decision records.

The chains prove the decision records; operators read proposals, deals and approvals from their own tables
(`approvals show`, `deals list`, the console). A row edited there (a deal's total, a proposal's price, who
decided an approval) changed what operators see without touching a record. So each row is tied to the record
that made it, whose content the chain proves:

- a proposal version's body is what its turn's commit record digested (`dealdesk.input.digest`: the outgoing
  proposal; `dealdesk.stored.digest`: the proposal a shadow turn kept for the operator), and its id, version
  and total columns are the body's;
- a deal's body is what the accepting turn's commit record digested, and its columns are the body's;
- a decided approval (approved, rejected, edited) has the operator's decision record, with the same outcome,
  decider and note.

Rows of pruned negotiations are not checked (their records are gone by design).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from agent.store import schema as t

INPUT_DIGEST = "dealdesk.input.digest"
STORED_DIGEST = "dealdesk.stored.digest"


@dataclass(frozen=True)
class TableProblem:
    negotiation_id: str
    table: str
    row: str
    detail: str


def check_tables(conn: Connection, records: dict[str, dict[int, Any]], *, skip: Iterable[str] = (),
                 negotiation_id: str | None = None) -> list[TableProblem]:
    """Every row of dd_proposals, dd_deals and decided dd_approvals (of one negotiation, or all) against the
    negotiation's decision records (`records`: negotiation -> record id -> record, as `audit.verify` read them)."""
    from agent.records import digest

    skipped = set(skip)
    committed: dict[str, set[str]] = {}
    decisions: dict[str, dict[str, Any]] = {}
    for nid, by_id in records.items():
        digests = committed.setdefault(nid, set())
        for record in by_id.values():
            if record.get("node") == "commit":
                digests.update(d for d in (record.get(INPUT_DIGEST), record.get(STORED_DIGEST)) if d)
            elif record.get("gen_ai.operation.name") == "decide_approval" and record.get("dealdesk.approval.id"):
                decisions[record["dealdesk.approval.id"]] = record
    problems: list[TableProblem] = []

    def rows(table: Any) -> Any:
        q = select(table)
        return conn.execute(q if negotiation_id is None else q.where(table.c.negotiation_id == negotiation_id))

    for p in rows(t.proposals):
        if p.negotiation_id in skipped:
            continue
        where = f"{p.id} v{p.version}"
        body = p.body or {}
        if digest(body) not in committed.get(p.negotiation_id, ()):
            problems.append(TableProblem(p.negotiation_id, "proposals", where,
                                         "its body is not the proposal any commit record of the negotiation made"))
        elif (body.get("proposal_id"), body.get("version"), body.get("total")) != (p.id, p.version, p.total):
            problems.append(TableProblem(p.negotiation_id, "proposals", where,
                                         f"its columns (total {p.total}) differ from its body "
                                         f"(total {body.get('total')})"))
    for d in rows(t.deals):
        if d.negotiation_id in skipped:
            continue
        body = d.body or {}
        if digest(body) not in committed.get(d.negotiation_id, ()):
            problems.append(TableProblem(d.negotiation_id, "deals", d.id,
                                         "its body is not the deal any commit record of the negotiation made"))
        elif (body.get("deal_id"), body.get("proposal_id"), body.get("version"), body.get("total")) != (
                d.id, d.proposal_id, d.version, d.total):
            problems.append(TableProblem(d.negotiation_id, "deals", d.id,
                                         f"its columns (total {d.total}) differ from its body (total {body.get('total')})"))
    for a in rows(t.approvals):
        if a.negotiation_id in skipped or a.status not in ("approved", "rejected", "edited"):
            continue
        record = decisions.get(a.id)
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
    return problems
