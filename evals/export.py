"""`dealdesk conversations export`: turn negotiations stored in the database into an eval suite (JSONL).

Where each turn comes from:
- the buyer's message: the turn's `begin` decision record (`dealdesk.inbound`, kept in full in the
  store), exactly as sent (data part, text or both); when the records are gone (pruned), the
  checkpoint thread, if the database keeps checkpoints (a SQLite file's `*.checkpoints.sqlite`,
  PostgreSQL), with the seller's internal delimiters taken off again; otherwise it is rebuilt from the
  negotiation's events (rfq, counter, accept) and decision records (reject), as a data part;
- operator decisions: the decision records of the turn (`operator_decision`);
- the seller's replies: the proposals and deals of the turn, recorded normalised
  (type, status, lines), so a replay can tell when the seller answers differently.

Proposal ids and versions in buyer turns become `$proposal_id` / `$version`, so the
case replays on a fresh database. With `pseudonymise` the buyer organisation is
replaced by a keyed digest (stable within one export, not reversible without the key),
and in the buyer's messages (text and the strings of data parts) e-mail addresses, phone
numbers and the organisation's own name (its id and the obvious spellings of it: "acme-gmbh",
"Acme GmbH", "ACME_GMBH", and "Acme" alone) become stable placeholders (`Scrubber`). Names of
people, street addresses and anything else written in free text are NOT found: they stay as
the buyer wrote them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from decimal import Decimal
from typing import Any

from agent.prompts import DELIMITED_BUYER_TEXT
from agent.service import Seller
from evals.case import Bounds, BuyerSpec, BuyerTurn, Case, Expect, Fixture, OperatorTurn, RecordedReply
from evals.session import normalise


def _letters(key: str, value: str, n: int = 10) -> str:
    """A keyed digest of `value` in lowercase letters only (a placeholder the text reader takes for no figure)."""
    number = int(hashlib.sha256(f"{key}:{value}".encode()).hexdigest(), 16)
    out = []
    for _ in range(n):
        number, r = divmod(number, 26)
        out.append(chr(ord("a") + r))
    return "".join(out)


def _pseudonym(org: str, key: str) -> str:
    return "org-" + _letters(key, org)


_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
# Phone numbers in the common written forms; bare runs of figures (quantities, prices, dates) are left alone.
_PHONE = re.compile(r"""
    (?<![\w.,/+-])
    (?:
        \+\d{1,3}(?:[ ./-]?(?:\(\d{1,5}\)|\d{1,5})){2,6}  # +49 30 1234567, +1 (555) 123-4567, +44-20-7946-0958
      | \(\d{2,5}\)[ ]?\d{2,5}(?:[ ./-]?\d{2,5}){0,3}     # (030) 1234567, (555) 123-4567
      | 0\d{1,4}(?:[ /-]\d{2,8}){1,4}                     # 030 1234 5678, 0171-1234567, 030/123456
      | \d{3}[-.]\d{3}[-.]\d{4}                           # 555-123-4567, 555.123.4567
    )
    (?!\w)(?![.,]\d)
""", re.X)
# Or any run of figures right after "tel", "phone", "mobile", "fax" ... ("Tel.: 30 1234567").
_PHONE_AFTER = re.compile(r"(?i)\b(?:tel|telephone|phone|mobile|mob|cell|fax)\b\.?:?[ ]*"
                          r"(\d[\d ()./-]{5,}\d)(?!\w)(?![.,]\d)")
_DATE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")
_LEGAL_FORMS = frozenset({"gmbh", "ag", "kg", "ohg", "ug", "se", "ltd", "limited", "inc", "llc", "llp", "plc", "corp",
                          "co", "company", "sa", "sas", "sarl", "srl", "spa", "bv", "nv", "oy", "ab", "as", "aps",
                          "kk", "pty", "sp", "zoo", "sro", "group", "holding", "holdings"})
# Keys of a data part whose strings are the contract's own (ids, SKUs, figures, codes), never scrubbed.
_STRUCTURAL = frozenset({"type", "sku", "proposal_id", "version", "quantity", "unit_price", "payment_terms",
                         "currency", "region", "segment", "topic", "code", "field"})


class Scrubber:
    """Replace e-mail addresses, phone numbers and the buyer organisation's own name in buyer text by
    placeholders, keyed (stable within one export: the same address, number or name, the same placeholder).

    What is NOT scrubbed: names of people, street addresses, other organisations' names, and any other
    personal data in free text (no pattern finds them reliably); a phone number written as a bare run of
    figures (no '+', brackets, leading 0, 3-3-4 grouping or "tel"/"phone" before it) is left too, as it cannot
    be told from a quantity. `words` are never replaced as the organisation's short name (the catalog's own
    vocabulary: "Bearings Ltd" is scrubbed whole, "bearings" alone is not).
    """

    def __init__(self, key: str, org: str, pseudonym: str, *, words: frozenset[str] = frozenset()):
        self.key = key
        self.pseudonym = pseudonym
        parts = [p for p in re.split(r"[\W_]+", org.lower()) if p]
        names = []
        if parts and not (len(parts) == 1 and parts[0] in words):
            names.append(r"[\s._-]*".join(re.escape(p) for p in parts))  # acme-gmbh, Acme GmbH, ACME_GMBH, AcmeGmbH
            core = list(parts)
            while len(core) > 1 and core[-1] in _LEGAL_FORMS:
                core.pop()
            short = " ".join(core)
            if core != parts and len(short) >= 3 and short not in words:
                names.append(r"[\s._-]*".join(re.escape(p) for p in core))  # "Acme" alone
        self._org = re.compile(r"(?<!\w)(?:" + "|".join(names) + r")(?!\w)", re.I) if names else None

    def text(self, text: str) -> str:
        text = _EMAIL.sub(lambda m: f"email-{_letters(self.key, m.group(0).lower(), 8)}@example.invalid", text)
        text = _PHONE_AFTER.sub(lambda m: m.group(0)[:m.start(1) - m.start(0)] + self._phone(m, 1), text)
        text = _PHONE.sub(self._phone, text)
        if self._org is not None:
            text = self._org.sub(self.pseudonym, text)
        return text

    def _phone(self, m: re.Match[str], group: int = 0) -> str:
        found = m.group(group)
        digits = re.sub(r"\D", "", found)
        # E.164: at most 15 digits; fewer than 7 is no phone number; 01/12/2026 is a date
        if not 7 <= len(digits) <= 15 or _DATE.fullmatch(found):
            return found
        return f"phone-{_letters(self.key, digits, 8)}"

    def data(self, data: Any, key: str | None = None) -> Any:
        if isinstance(data, dict):
            return {k: self.data(v, k) for k, v in data.items()}
        if isinstance(data, list):
            return [self.data(v, key) for v in data]
        if isinstance(data, str) and key not in _STRUCTURAL:
            return self.text(data)
        return data

    def message(self, msg: dict[str, Any]) -> dict[str, Any]:
        out = dict(msg)
        if out.get("text") is not None:
            out["text"] = self.text(out["text"])
        if out.get("data") is not None:
            out["data"] = self.data(out["data"])
        return out


def _catalog_words(seller: Seller) -> frozenset[str]:
    """The catalog's own words (categories, product names, SKUs), which an organisation's short name must not be."""
    catalog = getattr(seller, "catalog", None)
    if catalog is None:
        return frozenset()
    words = {c.lower() for c in catalog.categories}
    for p in catalog.products.values():
        words.update(w for w in re.split(r"[\W_]+", f"{p.sku} {p.name} {p.category}".lower()) if w)
    return frozenset(words)


def _inbound_messages(records: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """turn -> the buyer's message as sent ({"data"}, {"text"} or both), from the begin records."""
    out: dict[int, dict[str, Any]] = {}
    for r in records:
        if r.get("node") != "begin":
            continue
        inbound = r.get("dealdesk.inbound")
        if not isinstance(inbound, dict) or "operator" in inbound or not ({"data", "text"} & set(inbound)):
            continue
        turn = int(r.get("turn") or 0)
        if turn not in out:
            out[turn] = {k: inbound[k] for k in ("data", "text") if k in inbound}
    return out


def _from_checkpoint(content: str) -> dict[str, Any]:
    """A checkpointed buyer message back as sent: the data part's JSON, and the text taken out of the
    delimiters the seller put around it for the model (agent/prompts.py `delimit_buyer_text`)."""
    found = DELIMITED_BUYER_TEXT.search(content)
    head = (content[:found.start()] if found else content).strip()
    msg: dict[str, Any] = {}
    if head:
        try:
            data = json.loads(head)
        except (json.JSONDecodeError, ValueError):
            data = None
        if isinstance(data, dict) and "type" in data:
            msg["data"] = data
        elif found is None:
            return {"text": content}
        else:
            msg["text"] = head + "\n" + found.group(1)
            return msg
    if found is not None:
        msg["text"] = found.group(1)
    return msg or {"text": content}


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
        out[turn] = _from_checkpoint(content)
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
    sent = _inbound_messages(records)
    texts = _checkpoint_messages(seller, nid) if any(t not in sent for t in range(1, neg.turn + 1)) else {}
    pids = {p.id for p in proposals}
    org = neg.buyer_org if pseudonymise_key is None else _pseudonym(neg.buyer_org, pseudonymise_key)
    scrub = None if pseudonymise_key is None else Scrubber(pseudonymise_key, neg.buyer_org, org,
                                                           words=_catalog_words(seller))
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
        msg = sent.get(turn) or texts.get(turn) or _from_events(events, recs, turn)
        if msg is None:
            skipped += 1
            continue
        msg = _placeholders(msg, pids)
        if scrub is not None:
            msg = scrub.message(msg)
        turns.append(BuyerTurn(role="buyer", data=msg.get("data"), text=msg.get("text"), seller=recorded))
    if not turns:
        return None
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


FIRST_PAGE = 100  # negotiations read at first; each further page is four times the last


def _matches_outcome(status: str, outcome: str | None) -> bool:
    return outcome is None or outcome in (status, "deal" if status == "deal" else "no_deal")


def export(seller: Seller, *, since: dt.datetime | None = None, buyer: str | None = None,
           outcome: str | None = None, pseudonymise: bool = False, limit: int = 1000) -> list[Case]:
    """The `limit` newest negotiations that match the filters (buyer, outcome, since) and have a turn to export,
    oldest first. The filters apply before the limit: the store is read newest first, in growing pages, until
    `limit` cases are found, the negotiations are older than `since`, or there are no more."""
    key = secrets.token_hex(8) if pseudonymise else None
    status = outcome if outcome not in (None, "no_deal") else None  # one status: the store filters it
    found: list[tuple[Any, Case]] = []
    seen: set[str] = set()
    page = max(limit, FIRST_PAGE)
    done = False
    while not done:
        rows = seller.store.list_negotiations(buyer_org=buyer, status=status, limit=page)
        for neg in rows:  # newest first
            if neg.id in seen:
                continue
            seen.add(neg.id)
            if since is not None and neg.created_at < since:
                done = True  # all that follow are older
                break
            if not _matches_outcome(neg.status, outcome):
                continue
            case = export_negotiation(seller, neg.id, pseudonymise_key=key)
            if case is not None:
                found.append((neg, case))
                if len(found) >= limit:
                    done = True
                    break
        if len(rows) < page:
            done = True
        page *= 4
    found.reverse()  # oldest first, as the store lists them reversed (ties too)
    found.sort(key=lambda nc: nc[0].created_at)
    return [case for _, case in found]
