"""`dealdesk conversations export`: turn negotiations stored in the database into an eval suite (JSONL).

Where each turn comes from:
- the buyer's message: the checkpoint thread, when the database keeps checkpoints
  (a SQLite file's `*.checkpoints.sqlite`, PostgreSQL), exactly as sent (data part
  or text); otherwise it is rebuilt from the negotiation's events (rfq, counter,
  accept) and decision records (reject), as a data part;
- operator decisions: the decision records of the turn (`operator_decision`);
- the seller's replies: the proposals and deals of the turn, recorded normalised
  (type, status, lines), so a replay can tell when the seller answers differently.

Proposal ids and versions in buyer turns become `$proposal_id` / `$version`, so the
case replays on a fresh database. With `pseudonymise` the buyer organisation is
replaced by a keyed digest (stable within one export, not reversible without the key).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from decimal import Decimal
from typing import Any

from agent.service import Seller
from evals.case import Bounds, BuyerSpec, BuyerTurn, Case, Expect, Fixture, OperatorTurn, RecordedReply
from evals.session import normalise


def _pseudonym(org: str, key: str) -> str:
    return "org-" + hashlib.sha256(f"{key}:{org}".encode()).hexdigest()[:10]


def _checkpoint_messages(seller: Seller, nid: str) -> dict[int, dict[str, Any]]:
    """turn -> {"data": ...} | {"text": ...} from the checkpoint thread, if the database keeps one."""
    try:
        conversation = seller.graph.conversation(nid)
    except Exception:
        return {}
    out: dict[int, dict[str, Any]] = {}
    for msg in conversation:
        if getattr(msg, "type", None) != "human" or getattr(msg, "name", None) != "buyer":
            continue
        mid = str(getattr(msg, "id", "") or "")
        if not mid.startswith("in-"):
            continue
        try:
            turn = int(mid.split("-")[1])
        except (IndexError, ValueError):
            continue
        content = msg.content if isinstance(msg.content, str) else json.dumps(msg.content)
        try:
            data = json.loads(content)
            out[turn] = {"data": data} if isinstance(data, dict) and "type" in data else {"text": content}
        except (json.JSONDecodeError, ValueError):
            out[turn] = {"text": content}
    return out


def _placeholders(data: Any, proposal_ids: set[str]) -> Any:
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            if k == "proposal_id" and isinstance(v, str) and v in proposal_ids:
                out[k] = "$proposal_id"
            elif k == "version" and "proposal_id" in data and data.get("proposal_id") in proposal_ids:
                out[k] = "$version"
            else:
                out[k] = _placeholders(v, proposal_ids)
        return out
    if isinstance(data, list):
        return [_placeholders(v, proposal_ids) for v in data]
    if isinstance(data, str):
        for pid in proposal_ids:
            data = data.replace(pid, "$proposal_id")
    return data


def _from_events(events: list[Any], records: list[dict[str, Any]], turn: int) -> dict[str, Any] | None:
    """A data part rebuilt from the turn's buyer events and records (text buyers become data parts)."""
    mine = [e for e in events if e.turn == turn and e.side == "buyer"]
    kinds = {e.kind for e in mine}
    if "accept" in kinds:
        return {"data": {"type": "accept", "proposal_id": "$proposal_id", "version": "$version"}}
    if "counter" in kinds:
        return {"data": {"type": "counter_offer", "proposal_id": "$proposal_id", "version": "$version",
                         "items": [{"sku": e.sku, "quantity": str(e.quantity), "unit_price": str(e.unit_price)}
                                   for e in mine if e.kind == "counter"],
                         **({"payment_terms": mine[0].payment_terms} if mine[0].payment_terms else {})}}
    if mine:
        data: dict[str, Any] = {"type": "rfq", "items": [{"sku": e.sku, "quantity": str(e.quantity)} for e in mine]}
        if mine[0].payment_terms:
            data["payment_terms"] = mine[0].payment_terms
        return {"data": data}
    for r in records:
        if r.get("turn") == turn and r.get("dealdesk.close") == "buyer_rejected":
            return {"data": {"type": "reject", "proposal_id": "$proposal_id"}}
        if r.get("turn") == turn and r.get("node") == "understand" and r.get("dealdesk.intent") == "catalog_query":
            return None
    return None


def export_negotiation(seller: Seller, nid: str, *, pseudonymise_key: str | None = None) -> Case | None:
    store = seller.store
    neg = store.get_negotiation(nid)
    if neg is None or neg.turn == 0:
        return None
    records = store.records(nid)
    events = store.events(nid)
    proposals = store.proposals(nid)
    deals = store.deals(negotiation_id=nid)
    approvals = {a.id: a for a in store.approvals(negotiation_id=nid)}
    texts = _checkpoint_messages(seller, nid)
    pids = {p.id for p in proposals}
    by_turn: dict[int, list[dict[str, Any]]] = {}
    for r in records:
        by_turn.setdefault(int(r.get("turn") or 0), []).append(r)
    turns: list[Any] = []
    skipped = 0
    for turn in range(1, neg.turn + 1):
        recs = by_turn.get(turn, [])
        op = next((r for r in recs if r.get("gen_ai.operation.name") == "operator_decision"), None)
        reply = _reply_of(recs, events, deals, turn)
        recorded = RecordedReply(**reply) if reply else None
        if op is not None:
            outcome = op.get("dealdesk.approval.outcome")
            action = {"approved": "approve", "rejected": "reject", "edited": "edit"}.get(outcome)
            if action is None:
                continue
            a = approvals.get(op.get("dealdesk.approval.id"))
            prices = (a.decision or {}).get("prices") if a is not None and a.decision else None
            turns.append(OperatorTurn(role="operator", action=action, prices=prices, seller=recorded))
            continue
        msg = texts.get(turn) or _from_events(events, recs, turn)
        if msg is None:
            skipped += 1
            continue
        msg = _placeholders(msg, pids)
        turns.append(BuyerTurn(role="buyer", data=msg.get("data"), text=msg.get("text"), seller=recorded))
    if not turns:
        return None
    org = neg.buyer_org if pseudonymise_key is None else _pseudonym(neg.buyer_org, pseudonymise_key)
    deal = deals[-1] if deals else None
    expect = Expect(outcome="deal" if deal else ("no_deal" if neg.status != "open" or proposals else None),
                    final_status=neg.status if neg.status in ("deal", "closed", "rejected") else None,
                    unit_price={i["sku"]: Bounds(min=Decimal(str(i["unit_price"]))) for i in deal.body["items"]}
                    if deal else None,
                    approval=True if approvals else None)
    tags = ["exported", f"status:{neg.status}", f"region:{neg.region}", f"segment:{neg.segment}"]
    return Case(id=f"exported-{nid}", description=f"exported {neg.created_at:%Y-%m-%d} from {neg.status} negotiation"
                + (f"; {skipped} turn(s) not recoverable" if skipped else ""), tags=tags,
                fixture=Fixture(buyer=BuyerSpec(org=org, region=neg.region, segment=neg.segment,
                                                currency=neg.currency, payment_terms=neg.payment_terms)),
                turns=turns, on_divergence="replay", expect=expect)


def _reply_of(recs: list[dict[str, Any]], events: list[Any], deals: list[Any], turn: int) -> dict[str, Any] | None:
    """The seller's reply of a turn, normalised: its type, and the lines of a new proposal or a deal."""
    commit = next((r for r in recs if r.get("node") == "commit" and r.get("gen_ai.operation.name") == "commit"), None)
    if commit is None:
        return None
    kind = commit.get("dealdesk.outgoing.type")
    if kind == "deal":
        deal = next((d for d in deals if any(e.turn == turn and e.kind == "accept" for e in events)), None)
        return normalise(deal.body) if deal is not None else {"type": "deal"}
    if kind == "proposal":
        offers = [e for e in events if e.turn == turn and e.side == "seller" and e.kind == "offer"]
        if offers:
            return {"type": "proposal", "items": [{"sku": e.sku, "quantity": str(e.quantity),
                                                   "unit_price": str(e.unit_price)} for e in offers]}
        return {"type": "proposal"}
    if kind in ("error", "closed", "catalog_results", "answer"):
        return {"type": kind}
    return None


def export(seller: Seller, *, since: dt.datetime | None = None, buyer: str | None = None,
           outcome: str | None = None, pseudonymise: bool = False, limit: int = 1000) -> list[Case]:
    key = secrets.token_hex(8) if pseudonymise else None
    cases = []
    for neg in reversed(seller.store.list_negotiations(buyer_org=buyer, limit=limit)):
        if since is not None and neg.created_at < since:
            continue
        if outcome is not None:
            status = "deal" if neg.status == "deal" else "no_deal"
            if outcome not in (neg.status, status):
                continue
        case = export_negotiation(seller, neg.id, pseudonymise_key=key)
        if case is not None:
            cases.append(case)
    return cases
