"""The operators' read model: what the bot offered, why, what it refused to say, who approved what.

A read-only view over the store (negotiations, events, proposals, approvals, deals and the
decision records), shared by the CLI (`dealdesk deals ...`, `agent/cli_ops.py`) and the web
console (`/console`). Nothing here writes.

Stable API (every function takes a `Store` first; results are pydantic models, so
`model_dump(mode="json")` gives JSON with decimals as strings and instants as REST says them, UTC with Z to
the second, "2026-11-27T20:43:59Z" (`utc_text`); in Python they stay naive UTC datetimes):

- `list_deals(store, *, buyer=None, outcome=None, since=None, blocked=None, limit=100, validity=None)
  -> list[DealSummary]`
  negotiations, most recently active first. `outcome`: "deal" | "no_deal" | "open" (no_deal is
  closed, rejected or canceled); `since`: activity (updated_at) at or after it (datetime, date or
  text, see `parse_since`); `blocked`: True for only negotiations where the guardrail blocked a
  draft, False for only those where it never did.
- `summary(store, negotiation_id) -> DealSummary | None`
- `timeline(store, negotiation_id) -> Timeline | None` (None for an unknown negotiation): per turn
  the buyer's message, the offer with its rule ids and figures, the guardrail verdict (what was
  blocked and why) and the approvals (who, when, the decision).
- `concession_series(store, negotiation_id) -> list[Point]`: one point per seller offer and SKU
  (round, offer, list_price, target, floor, ...), for the concession chart.
- `guardrail_blocks(store, *, since=None, limit=100, negotiation_id=None) -> list[Block]`: drafts the
  guardrail stopped, newest first.
- `approvals(store, *, status=None, validity=None) -> list[ApprovalView]`: approval requests, newest first, as
  REST's `/v1/approvals` and the console list them (`dealdesk approvals list`).
- `validity_days(catalog, policy)`: a SKU's `proposal_validity_days`, the days a request may wait (`validity`
  above; by default the configured files', `agent.config.load_data`).
- `approval_detail(store, approval_id) -> ApprovalDetail | None`: one approval with its
  negotiation's context (the inbox's detail page, `dealdesk approvals show`): the version the request
  was filed on and what that version was (offered to the buyer, or held for the approval), and what the
  decision sent the buyer (the version it wrote, each line's price against the requested and decided ones).
- `decision_rows(store, *, since=None, negotiation_id=None) -> Iterator[dict]`: every decision
  record in write order, for `dealdesk decisions export`.
- `parse_since(text) -> datetime`: "2025-01-31", "2025-01-31T12:00", "90m", "24h", "7d".
- `utc_text(instant) -> str`: an instant as the CLI and REST say it ("2026-11-27T20:43:59Z").

An approval's `requested` lines and `reasons` are the operator's view of the stored request: percentages
to two decimals (the stored request keeps full precision), each reason once (a reason found on several
lines is filed once per line), with the figures the request recorded behind it (`reason_figures`): for a
discount, each line's price, list price, discount and level, and the bot's own authority on the line; for the
deal value the bot may close alone, the deal value (the sum of the requested line totals) and the limit. The
limits are recorded with requests filed since they are (`requested.limits`); older ones give the rule id that
names them.

An approval request still pending past the validity of the offers it is about (requested_at plus the longest
`proposal_validity_days` of its lines, as `Seller.decide` reads it) is shown as `expired` (`status`), with
`expires_at`: deciding it is refused (`approval_expired`) and cancels it, and nothing is sent to the buyer.
The store keeps it `pending` until then.

Where the buyer's message comes from: the store keeps the prices the buyer put on the table
(`dd_events`) and the intent the bot understood (the `understand` record); the begin record holds
the message's digest. When the begin record also carries the inbound message itself
(`dealdesk.inbound`: {"data": ..., "text": ...}), the timeline shows it in full.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from sqlalchemy import String, and_, cast, or_, select

from agent.contract import naive_utc
from agent.store import Store
from agent.store import schema as t
from tools.types import Dec

Outcome = Literal["deal", "no_deal", "open"]
NO_DEAL = ("closed", "rejected", "canceled")
TRIPWIRE_KEY = "gen_ai.guardrail.tripwire"


def utc_text(value: dt.datetime) -> str:
    """An instant as REST says it (agent/server/rest.py): UTC to the second, with Z ("2026-11-27T20:43:59Z");
    a naive value is UTC, as the store keeps it."""
    return naive_utc(value).replace(microsecond=0).isoformat() + "Z"


# A stored instant (naive UTC): a datetime in Python, `utc_text` in JSON.
Instant = Annotated[dt.datetime, PlainSerializer(utc_text, return_type=str, when_used="json")]
PERCENT_PLACES = Decimal("0.01")


def percent_text(value: Any) -> Any:
    """A percentage as operators read it: two decimals, half up ("22.41379310..." -> "22.41"); anything that is
    not a number is given back as it is."""
    try:
        return format(Decimal(str(value)).quantize(PERCENT_PLACES, rounding=ROUND_HALF_UP), "f")
    except ArithmeticError:
        return value


def outcome_of(status: str) -> Outcome:
    return "deal" if status == "deal" else "open" if status == "open" else "no_deal"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- types ----------------------------------------------------------------------------------------


class DealSummary(_Model):
    """One negotiation in the deals list."""

    negotiation_id: str
    buyer_org: str
    region: str
    segment: str
    status: str  # open | deal | closed | rejected | canceled
    outcome: Outcome
    turns: int
    created_at: Instant
    updated_at: Instant
    currency: str | None = None
    skus: list[str] = Field(default_factory=list)
    proposal_id: str | None = None  # the current proposal
    proposal_version: int | None = None
    proposal_status: str | None = None
    first_total: Dec | None = None  # the first offer's total: the first version sent to the buyer as an offer (not
    # one held for an approval, in shadow mode never shown), None while none was
    last_total: Dec | None = None  # the current proposal's total
    deal_id: str | None = None
    deal_total: Dec | None = None
    approvals: int = 0
    pending_approvals: int = 0  # still to decide (not expired)
    expired_approvals: int = 0  # pending in the store past their offers' validity (see `approvals`)
    blocks: int = 0  # guardrail tripwires (drafts that were never sent)


class BuyerLine(_Model):
    sku: str | None
    quantity: int | None
    unit_price: Dec | None = None  # the price the buyer asked for, if any
    kind: str  # rfq | counter | accept | reject ...


class BuyerMessage(_Model):
    intent: str | None = None  # rfq | counter_offer | accept | reject | catalog_query | question ... | invalid
    source: str | None = None  # data | offline | model (who understood it)
    digest: str | None = None  # sha256 of the inbound message (what the log keeps)
    text: str | None = None  # the buyer's free text, when the store keeps it
    data: dict[str, Any] | None = None  # the buyer's data part, when the store keeps it
    lines: list[BuyerLine] = Field(default_factory=list)  # the prices the buyer put on the table
    notes: list[str] = Field(default_factory=list)  # how its text was read (the understanding's notes)


class OperatorAction(_Model):
    approval_id: str | None = None
    decision: str | None = None  # approved | rejected | edited | moot
    by: str | None = None
    level: str | None = None


class OfferLine(_Model):
    sku: str
    quantity: int
    unit_price: Dec
    list_price: Dec | None = None
    discount_percent: Dec | None = None
    line_total: Dec | None = None
    # the strategy's figures for the line this round (from the prepare record), when known
    target: Dec | None = None
    floor: Dec | None = None
    walk_away: Dec | None = None
    aspiration: Dec | None = None
    asked: Dec | None = None
    round: int | None = None


class Offer(_Model):
    proposal_id: str
    version: int
    status: str  # the version's status now: offered | pending_approval | superseded | accepted | rejected ...
    sent_as: str | None = None  # what it was when written: offered (to the buyer) | pending_approval (held)
    currency: str
    payment_terms: str
    total: Dec
    valid_until: Instant | None = None
    lines: list[OfferLine]
    rule_ids: list[str] = Field(default_factory=list)  # the rules behind the plan and the approval routing
    moves: list[str] = Field(default_factory=list)  # the strategy move ids behind the proposal
    pending: dict[str, Any] | None = None  # a better offer awaiting approval, as shown to the buyer


class Violation(_Model):
    rule_id: str
    code: str | None = None
    message: str
    field: str | None = None


class GuardrailVerdict(_Model):
    checked: bool = False  # a guardrail record exists for the turn
    tripwire: bool = False  # at least one draft was blocked this turn
    blocked: list[Violation] = Field(default_factory=list)  # every violation of every blocked draft
    drafts: list[str] = Field(default_factory=list)  # the blocked drafts' text (never sent)
    revisions: int = 0  # blocked drafts the model was asked to revise
    fallback: bool = False  # the safe deterministic reply was sent instead


class ApprovalView(_Model):
    id: str
    proposal_id: str
    level: str
    # pending | expired (pending in the store, past its offers' validity: deciding it cancels it) | approved |
    # rejected | edited | canceled
    status: str
    # sku, quantity, currency, unit_price, list_price, line_total, discount_percent (two decimals), payment_terms,
    # approval_level (the line's own), rule_ids
    requested: list[dict[str, Any]]
    reasons: list[dict[str, Any]]  # code, rule_id, message, figures (`reason_figures`); each reason once
    requested_at: Instant
    decided_by: str | None = None
    decided_at: Instant | None = None
    note: str | None = None
    decision: dict[str, Any] | None = None  # edited prices
    negotiation_id: str | None = None
    buyer_org: str | None = None
    # a pending request: when it can no longer be decided (requested_at + its lines' longest validity); None when
    # decided, or when the policy gives no validity for its lines
    expires_at: Instant | None = None


class Turn(_Model):
    turn: int
    at: Instant | None = None
    actor: Literal["buyer", "operator", "system"]
    message_id: str | None = None
    buyer: BuyerMessage | None = None
    operator: OperatorAction | None = None
    offer: Offer | None = None  # the proposal version this turn put on the table
    outgoing: str | None = None  # the reply's type: proposal | deal | error | closed | catalog_results ...
    guardrail: GuardrailVerdict = Field(default_factory=GuardrailVerdict)
    approvals_requested: list[ApprovalView] = Field(default_factory=list)
    approvals_decided: list[ApprovalView] = Field(default_factory=list)
    routing: str | None = None  # operator | already_pending: the approval node's decision
    answered: str | None = None  # a question answered in prepare with no model: the playbook rule
    answer_figures: dict[str, Any] | None = None  # ... and the figures it said
    error: str | None = None  # a typed error code the reply carried
    close: str | None = None  # why the negotiation closed this turn (buyer_rejected, max_rounds)
    deal_id: str | None = None
    # the policy and catalog versions the turn was decided under (its records'), to hold against
    # `dealdesk policy explain --json`'s: "why this price?" is answered by the rules as they were then
    policy_version: str | None = None
    catalog_version: str | None = None
    records: list[dict[str, Any]] = Field(default_factory=list)  # the raw decision records of the turn


class Timeline(_Model):
    summary: DealSummary
    turns: list[Turn]
    approvals: list[ApprovalView]
    deal: dict[str, Any] | None = None  # the wire Deal body


class Point(_Model):
    """One seller offer on one SKU: the concession chart's x = round, y = offer."""

    round: int  # the strategy's round for the line (1 = opening), else the offer's ordinal
    offer: Dec
    list_price: Dec | None = None
    target: Dec | None = None
    floor: Dec | None = None
    sku: str
    turn: int
    buyer_bid: Dec | None = None  # the buyer's asked price in the same turn, if any
    proposal_id: str | None = None
    version: int | None = None
    approved_by: str | None = None  # an operator approved this offer


class Block(_Model):
    negotiation_id: str
    buyer_org: str | None
    turn: int
    at: Instant
    violations: list[Violation]
    draft: str | None  # the text that was stopped
    draft_type: str | None = None  # the stopped data part's type
    resolution: Literal["revised", "fallback", "unknown"] = "unknown"
    record_id: int


class DecidedLine(_Model):
    """One requested line: the price asked for, the price the operator decided, what the buyer was sent."""

    sku: str
    quantity: int
    requested: Dec  # the request's price
    decided: Dec | None = None  # approved: the requested price; edited: the operator's; else None
    sent: Dec | None = None  # the price on the version the decision sent (None: no version, or not on it)
    standing: Dec | None = None  # the price the version offered while the request waited gave the line, if any


class ApprovalDetail(_Model):
    approval: ApprovalView
    negotiation: DealSummary | None
    # the proposal version the request was filed with: offered to the buyer while the request waited
    # (`sent_as` offered), or held for the approval and never offered (`sent_as` pending_approval)
    offer: Offer | None
    series: list[Point] = Field(default_factory=list)
    result: Offer | None = None  # the version the decision's turn sent the buyer (None: none was sent)
    result_turn: int | None = None  # the decision's turn, once decided (not for a canceled request)
    result_reply: str | None = None  # that turn's reply: proposal | error | ... (None: nothing was sent)
    lines: list[DecidedLine] = Field(default_factory=list)
    # the policy and catalog versions the request was filed under (its turn's records)
    policy_version: str | None = None
    catalog_version: str | None = None


# --- helpers ---------------------------------------------------------------------------------------

_REL = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")


def parse_since(value: str | dt.datetime | dt.date | None, *, now: dt.datetime | None = None) -> dt.datetime | None:
    """A point in time (naive UTC): a datetime, a date (its midnight), ISO text, or "90m" / "24h" / "7d" / "2w" ago."""
    if value is None or isinstance(value, dt.datetime):
        return _naive(value) if value is not None else None
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    m = _REL.match(value)
    if m:
        unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[m.group(2)]
        base = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
        try:
            return base - dt.timedelta(**{unit: int(m.group(1))})
        except OverflowError:  # "99999999999d": before any date there is
            raise ValueError(f"not a time: {value!r} (too far back; use 2025-01-31, 90m, 24h or 7d)") from None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        return _naive(dt.datetime.fromisoformat(text))
    except ValueError:
        raise ValueError(f"not a time: {value!r} (use 2025-01-31, 2025-01-31T12:00, 90m, 24h or 7d)") from None


def _naive(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


REQUESTED_KEYS = ("sku", "quantity", "currency", "unit_price", "list_price", "line_total", "discount_percent",
                  "payment_terms", "approval_level", "rule_ids")


# A SKU's proposal_validity_days: how long a request on it may wait for a decision.
ValidityDays = Callable[[str], int]


def validity_days(catalog: Any, policy: Any) -> ValidityDays:
    """A SKU's `proposal_validity_days` under the policy (0 for a SKU the catalog lacks), read as `Seller.decide`
    reads it to refuse a request older than that, so a request listed as expired is one it refuses."""
    from tools.policy.resolve import resolve

    def days(sku: str) -> int:
        product = catalog.products.get(sku)
        return resolve(policy, sku, product.category).proposal_validity_days if product is not None else 0

    return days


def _configured_validity() -> ValidityDays | None:
    """`validity_days` of the configured catalog and policy (`agent.config.load_data`: the environment's files, else
    the demo's, as the CLI's seller loads them); None when they cannot be read (then nothing shows as expired)."""
    from agent.config import load_data
    from tools.datafile import DataFileError

    try:
        return validity_days(*load_data())
    except DataFileError:
        return None


def expires_at(a: Any, validity: ValidityDays | None) -> dt.datetime | None:
    """When a request can no longer be decided: requested_at plus the longest validity of its lines (as
    `Seller.decide`); None without a validity."""
    if validity is None:
        return None
    days = max((validity(m["sku"]) for m in (a.requested or {}).get("moves") or () if m.get("sku")), default=0)
    return a.requested_at + dt.timedelta(days=days) if days else None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _approval_view(a, validity: ValidityDays | None = None, now: dt.datetime | None = None) -> ApprovalView:
    moves = (a.requested or {}).get("moves") or []
    req = [{k: (percent_text(m.get(k)) if k == "discount_percent" and m.get(k) is not None else m.get(k))
            for k in REQUESTED_KEYS} for m in moves]
    status, expires = a.status, None
    if status == "pending":  # past its offers' validity: what `Seller.decide` refuses (and cancels)
        expires = expires_at(a, validity)
        if expires is not None and (now or _now()) > expires:
            status = "expired"
    return ApprovalView(id=a.id, proposal_id=a.proposal_id, level=a.level, status=status, requested=req,
                        reasons=[{**r, "figures": reason_figures(r, req, (a.requested or {}).get("limits"))}
                                 for r in unique_reasons(a.reasons)],
                        requested_at=a.requested_at, decided_by=a.decided_by, decided_at=a.decided_at, note=a.note,
                        decision=a.decision, negotiation_id=getattr(a, "negotiation_id", None),
                        buyer_org=getattr(a, "buyer_org", None), expires_at=expires)


def unique_reasons(reasons: Iterable[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Each reason once, in order (a reason found on several lines is filed once per line)."""
    seen: set[tuple[Any, Any, Any]] = set()
    out = []
    for r in reasons or []:
        key = (r.get("code"), r.get("rule_id"), r.get("message"))
        if key not in seen:
            seen.add(key)
            out.append(dict(r))
    return out


def reason_figures(reason: dict[str, Any], requested: list[dict[str, Any]],
                   limits: dict[str, Any] | None = None) -> dict[str, Any]:
    """The figures behind a reason, from the request's lines as recorded (nothing is looked up in today's policy):

    - a discount that needs a level (`approval_level`): {"lines": [{sku, quantity, unit_price, list_price,
      discount_percent, approval_level}]}, the lines whose own level is not auto (all, if none is recorded);
    - the deal value the bot may close alone (`outside_autonomy` by `...autonomy_max_deal_value`):
      {"deal_value", "currency"}, the sum of the requested line totals.
    With the limits a request filed since they are recorded (`limits`, agent/graph.py `_limits`), a line also
    gives the bot's own authority (`auto_max_discount_percent`, `auto_min_unit_price`), and the deal value the
    most the bot may close alone (`autonomy_max_deal_value`).
    Other reasons (a product the bot may not close alone, a paused autonomy): {} (the rule id says it all)."""
    code, rule = reason.get("code"), str(reason.get("rule_id") or "")
    limits = limits or {}
    own = {ln.get("sku"): ln for ln in limits.get("lines") or []}
    if code == "approval_level":
        keys = ("sku", "quantity", "unit_price", "list_price", "discount_percent", "approval_level")
        leveled = [m for m in requested if m.get("approval_level") not in (None, "auto")] or requested
        return {"lines": [{**{k: m.get(k) for k in keys},
                           **{k: own[m.get("sku")].get(k) for k in ("auto_max_discount_percent", "auto_min_unit_price")
                              if m.get("sku") in own}} for m in leveled]}
    if code == "outside_autonomy" and rule.endswith("autonomy_max_deal_value"):
        totals = [_dec(m.get("line_total")) for m in requested]
        currencies = {m.get("currency") for m in requested}
        if requested and None not in totals and len(currencies) == 1:
            return {"deal_value": format(sum(totals, Decimal(0)), "f"), "currency": currencies.pop(),
                    **({"autonomy_max_deal_value": limits["autonomy_max_deal_value"]}
                       if limits.get("autonomy_max_deal_value") else {})}
    return {}


def _is_tripwire(record: dict[str, Any]) -> bool:
    return record.get("node") == "guardrail" and bool(record.get(TRIPWIRE_KEY))


def _tripwire_filter():
    """A cheap SQL prefilter for records that may be guardrail tripwires (confirmed in Python)."""
    r = t.decision_records.c
    text = cast(r.record, String)
    return and_(r.node == "guardrail", or_(text.like('%"gen_ai.guardrail.tripwire": true%'),
                                           text.like('%"gen_ai.guardrail.tripwire":true%')))


def _blocked_counts(conn, ids: Iterable[str] | None = None) -> dict[str, int]:
    r = t.decision_records.c
    q = select(r.negotiation_id, r.record).where(_tripwire_filter())
    if ids is not None:
        q = q.where(r.negotiation_id.in_(list(ids)))
    counts: dict[str, int] = defaultdict(int)
    for nid, rec in conn.execute(q):
        if _is_tripwire(rec):
            counts[nid] += 1
    return counts


# --- the deals list --------------------------------------------------------------------------------


def list_deals(store: Store, *, buyer: str | None = None, outcome: Outcome | None = None,
               since: str | dt.datetime | dt.date | None = None, blocked: bool | None = None,
               limit: int = 100, validity: ValidityDays | None = None) -> list[DealSummary]:
    """Negotiations with their outcome, most recently active first (see the module doc). `validity`: which pending
    requests have expired, as `approvals`."""
    n = t.negotiations.c
    q = select(t.negotiations).order_by(n.updated_at.desc(), n.id)
    if buyer:
        q = q.where(n.buyer_org == buyer)
    if outcome is not None:
        if outcome == "deal":
            q = q.where(n.status == "deal")
        elif outcome == "open":
            q = q.where(n.status == "open")
        elif outcome == "no_deal":
            q = q.where(n.status.in_(NO_DEAL))
        else:
            raise ValueError(f"outcome must be deal, no_deal or open, not {outcome!r}")
    start = parse_since(since)
    if start is not None:
        q = q.where(n.updated_at >= start)
    with store.engine.connect() as conn:
        if blocked is not None:
            hit = set(_blocked_counts(conn))
            if blocked:
                q = q.where(n.id.in_(sorted(hit)) if hit else n.id.is_(None))
            elif hit:
                q = q.where(n.id.not_in(sorted(hit)))
        rows = conn.execute(q.limit(limit)).all()
        return _summaries(conn, rows, validity)


def _sent_as(proposal: Any) -> str | None:
    """What a version was when written (its body's status): offered to the buyer, or pending_approval (held for an
    approval: shown as awaiting it, or in shadow mode never shown)."""
    return (proposal.body or {}).get("status")


def summary(store: Store, negotiation_id: str, validity: ValidityDays | None = None) -> DealSummary | None:
    with store.engine.connect() as conn:
        rows = conn.execute(select(t.negotiations).where(t.negotiations.c.id == negotiation_id)).all()
        found = _summaries(conn, rows, validity)
    return found[0] if found else None


def _summaries(conn, rows, validity: ValidityDays | None = None) -> list[DealSummary]:
    if not rows:
        return []
    ids = [r.id for r in rows]
    p = t.proposals.c
    props: dict[str, list[Any]] = defaultdict(list)
    for row in conn.execute(select(p.negotiation_id, p.id, p.version, p.status, p.total, p.currency, p.body,
                                   p.created_at).where(p.negotiation_id.in_(ids))
                            .order_by(p.created_at, p.version)):
        props[row.negotiation_id].append(row)
    deals = {row.negotiation_id: row for row in conn.execute(
        select(t.deals.c.negotiation_id, t.deals.c.id, t.deals.c.total).where(t.deals.c.negotiation_id.in_(ids)))}
    a = t.approvals.c
    approvals: dict[str, list[str]] = defaultdict(list)
    validity, now = (validity if validity is not None else _configured_validity()), _now()
    for row in conn.execute(select(a.negotiation_id, a.status, a.requested, a.requested_at)
                            .where(a.negotiation_id.in_(ids))):
        expires = expires_at(row, validity) if row.status == "pending" else None
        approvals[row.negotiation_id].append("expired" if expires is not None and now > expires else row.status)
    blocks = _blocked_counts(conn, ids)
    out = []
    for r in rows:
        mine = props.get(r.id, [])
        current = [x for x in mine if x.id == r.current_proposal]
        last = current[-1] if current else (mine[-1] if mine else None)
        deal = deals.get(r.id)
        offered = [x for x in mine if _sent_as(x) == "offered"]  # never a version held for an approval
        skus = [i["sku"] for i in (last.body.get("items") or [])] if last is not None else []
        out.append(DealSummary(
            negotiation_id=r.id, buyer_org=r.buyer_org, region=r.region, segment=r.segment, status=r.status,
            outcome=outcome_of(r.status), turns=r.turn, created_at=r.created_at, updated_at=r.updated_at,
            currency=(last.currency if last is not None else r.currency), skus=skus,
            proposal_id=last.id if last is not None else None, proposal_version=last.version if last is not None else None,
            proposal_status=last.status if last is not None else None,
            first_total=_dec(offered[0].total) if offered else None,
            last_total=_dec(last.total) if last is not None else None,
            deal_id=deal.id if deal else None, deal_total=_dec(deal.total) if deal else None,
            approvals=len(approvals.get(r.id, [])), pending_approvals=approvals.get(r.id, []).count("pending"),
            expired_approvals=approvals.get(r.id, []).count("expired"),
            blocks=blocks.get(r.id, 0)))
    return out


# --- one negotiation's timeline --------------------------------------------------------------------


def _record_rows(conn, negotiation_id: str) -> list[Any]:
    r = t.decision_records.c
    return conn.execute(select(r.id, r.turn, r.node, r.ts, r.record).where(r.negotiation_id == negotiation_id)
                        .order_by(r.id)).all()


def timeline(store: Store, negotiation_id: str, *, with_records: bool = True,
             validity: ValidityDays | None = None) -> Timeline | None:
    """Every turn of a negotiation, in order; None for an unknown negotiation. `validity`: as `approvals`."""
    days = validity if validity is not None else _configured_validity()
    head = summary(store, negotiation_id, days)
    if head is None:
        return None
    with store.engine.connect() as conn:
        rows = _record_rows(conn, negotiation_id)
    events = store.events(negotiation_id)
    proposals = store.proposals(negotiation_id)
    approvals = store.approvals(negotiation_id=negotiation_id)
    deals = store.deals(negotiation_id=negotiation_id)
    by_turn: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_turn[int((row.record or {}).get("turn", row.turn) or 0)].append(row)
    ev_turn: dict[int, list[Any]] = defaultdict(list)
    for e in events:
        ev_turn[e.turn].append(e)
    prop_at = {(p.created_at): p for p in proposals}
    now = _now()
    views = {a.id: _approval_view(a, days, now) for a in approvals}
    approvals_at: dict[dt.datetime, list[ApprovalView]] = defaultdict(list)
    for a in approvals:
        approvals_at[a.requested_at].append(views[a.id])
    deal_of = {d.proposal_id: d for d in deals}
    last_figures: dict[str, dict[str, Any]] = {}
    turns = []
    for number in sorted(set(by_turn) | set(ev_turn)):
        turns.append(_turn(number, by_turn.get(number, []), ev_turn.get(number, []), prop_at, approvals_at, views,
                           deal_of, last_figures, with_records))
    deal = deals[0].body if deals else None
    return Timeline(summary=head, turns=turns, approvals=[views[a.id] for a in approvals], deal=deal)


# The prepare operations that answer a question with no model (agent/graph.py, agent/answers.py).
ANSWERS = frozenset({"standing_offer", "status", "deal_status", "delivery", "price_breaks", "order_limits", "terms"})


def _turn(number: int, rows: list[Any], events: list[Any], prop_at: dict, approvals_at: dict, views: dict,
          deal_of: dict, last_figures: dict, with_records: bool) -> Turn:
    recs = [row.record or {} for row in rows]
    at = rows[0].ts if rows else (events[0].at if events else None)
    begin = next((r for r in recs if r.get("node") == "begin"), {})
    understand = next((r for r in recs if r.get("node") == "understand"), {})
    prepares = [r for r in recs if r.get("node") == "prepare"]
    intent = understand.get("dealdesk.intent")
    operator = None
    for r in prepares:
        if r.get("gen_ai.operation.name") == "operator_decision":
            operator = OperatorAction(approval_id=r.get("dealdesk.approval.id"),
                                      decision=r.get("dealdesk.approval.outcome"), by=r.get("dealdesk.approval.by"),
                                      level=r.get("dealdesk.approval.level"))
    actor: Literal["buyer", "operator", "system"] = "operator" if (intent == "operator" or operator) else \
        ("buyer" if begin or events else "system")
    buyer = None
    if actor == "buyer":
        inbound = begin.get("dealdesk.inbound") or {}
        lines = [BuyerLine(sku=e.sku, quantity=e.quantity, unit_price=e.unit_price, kind=e.kind)
                 for e in events if e.side == "buyer"]
        buyer = BuyerMessage(intent=intent, source=understand.get("dealdesk.intent.source"),
                             digest=begin.get("dealdesk.input.digest"),
                             text=inbound.get("text") if isinstance(inbound, dict) else None,
                             data=inbound.get("data") if isinstance(inbound, dict) else None, lines=lines,
                             notes=understand.get("dealdesk.intent.notes") or [])
    # the strategy's figures of this turn, per SKU (operator turns reuse the last known ones)
    figures: dict[str, dict[str, Any]] = {}
    rule_ids: list[str] = []
    error = close = None
    for r in prepares:
        for ln in (r.get("dealdesk.figures") or {}).get("lines") or []:
            figures[ln.get("sku")] = ln
        rule_ids += r.get("dealdesk.rule_ids") or []
        error = error or r.get("dealdesk.error")
        close = close or r.get("dealdesk.close")
    error = error or understand.get("dealdesk.error")
    if any(r.get("node") == "cancel" for r in recs):  # the buyer canceled after this turn (A2A CancelTask)
        close = close or "buyer_canceled"
    answer = next((r for r in prepares if r.get("gen_ai.operation.name") in ANSWERS), None)
    for sku, ln in figures.items():
        last_figures[sku] = ln
    # the guardrail
    checks = [r for r in recs if r.get("node") == "guardrail"]
    blocked = [r for r in checks if _is_tripwire(r)]
    violations = [Violation(**{k: v.get(k) for k in ("rule_id", "code", "message", "field")})
                  for r in blocked for v in r.get("gen_ai.guardrail.violations") or []]
    drafts = [str((r.get("dealdesk.draft") or {}).get("text") or "") for r in blocked]
    fallback = any(r.get("dealdesk.fallback") for r in checks)
    guard = GuardrailVerdict(checked=bool(checks), tripwire=bool(blocked), blocked=violations, drafts=drafts,
                             revisions=len(blocked) - (1 if fallback and blocked else 0), fallback=fallback)
    # approval routing
    routing = None
    for r in recs:
        if r.get("node") == "approval":
            routing = r.get("dealdesk.approval.routing")
            rule_ids += r.get("dealdesk.rule_ids") or []
    commit = [r for r in recs if r.get("node") == "commit"]
    outgoing = next((r.get("dealdesk.outgoing.type") for r in commit if r.get("gen_ai.operation.name") == "commit"),
                    None)
    failed = next((r for r in commit if r.get("gen_ai.operation.name") == "commit_failed"), None)
    if failed is not None:
        error, outgoing = failed.get("dealdesk.error") or error, "error"
    # the proposal version written this turn: its seller events share the proposal's created_at
    offer = None
    requested: list[ApprovalView] = []
    seller = [e for e in events if e.side == "seller"]
    proposal = prop_at.get(seller[0].at) if seller else None
    if proposal is not None:
        offer = _offer(proposal, figures or {k: v for k, v in last_figures.items()}, rule_ids)
        requested = list(approvals_at.get(proposal.created_at, []))
    decided = [views[operator.approval_id]] if operator and operator.approval_id in views else []
    deal_id = None
    if outgoing == "deal":
        deal_id = next(iter(deal_of.values())).id if deal_of else None
    versioned = next((r for r in recs if r.get("dealdesk.policy.version") or r.get("dealdesk.catalog.version")), {})
    return Turn(turn=number, at=at, actor=actor, message_id=begin.get("message_id"), buyer=buyer, operator=operator,
                offer=offer, outgoing=outgoing, guardrail=guard, approvals_requested=requested,
                approvals_decided=decided, routing=routing, error=error, close=close, deal_id=deal_id,
                answered=(", ".join(answer.get("dealdesk.rule_ids") or []) or None) if answer else None,
                answer_figures=answer.get("dealdesk.figures") if answer else None,
                policy_version=versioned.get("dealdesk.policy.version"),
                catalog_version=versioned.get("dealdesk.catalog.version"),
                records=recs if with_records else [])


def _offer(p, figures: dict[str, dict[str, Any]], rule_ids: list[str]) -> Offer:
    lines = []
    for i in p.body.get("items") or []:
        f = figures.get(i["sku"]) or {}
        lines.append(OfferLine(sku=i["sku"], quantity=int(i["quantity"]), unit_price=i["unit_price"],
                               list_price=_dec(i.get("list_price")), discount_percent=_dec(i.get("discount_percent")),
                               line_total=_dec(i.get("line_total")), target=_dec(f.get("target")),
                               floor=_dec(f.get("floor")), walk_away=_dec(f.get("walk_away")),
                               aspiration=_dec(f.get("aspiration")), asked=_dec(f.get("asked")),
                               round=f.get("round")))
    valid = p.valid_until if isinstance(p.valid_until, dt.datetime) else None
    return Offer(proposal_id=p.id, version=p.version, status=p.status, sent_as=p.body.get("status"),
                 currency=p.currency,
                 payment_terms=p.payment_terms, total=p.total, valid_until=valid, lines=lines,
                 rule_ids=sorted(set(rule_ids)), moves=list(p.moves or []), pending=p.body.get("pending"))


# --- the concession chart ----------------------------------------------------------------------------


def concession_series(store: Store, negotiation_id: str) -> list[Point]:
    """One point per seller offer and SKU, in turn order (empty for an unknown negotiation)."""
    tl = timeline(store, negotiation_id, with_records=False)
    if tl is None:
        return []
    return _series(tl)


def _series(tl: Timeline) -> list[Point]:
    points: list[Point] = []
    last_round: dict[str, int] = defaultdict(int)
    for turn in tl.turns:
        if turn.offer is None:
            continue
        bids = {ln.sku: ln.unit_price for ln in (turn.buyer.lines if turn.buyer else []) if ln.unit_price is not None}
        for ln in turn.offer.lines:
            # the strategy's round on a buyer's turn; an operator's offer is the next point on the chart
            rnd = ln.round if ln.round and turn.actor == "buyer" and ln.round > last_round[ln.sku] \
                else last_round[ln.sku] + 1
            last_round[ln.sku] = rnd
            points.append(Point(round=rnd,
                                offer=ln.unit_price, list_price=ln.list_price, target=ln.target, floor=ln.floor,
                                sku=ln.sku, turn=turn.turn, buyer_bid=bids.get(ln.sku),
                                proposal_id=turn.offer.proposal_id, version=turn.offer.version,
                                approved_by=turn.operator.by if turn.operator else None))
    return points


# --- guardrail blocks --------------------------------------------------------------------------------


def guardrail_blocks(store: Store, *, since: str | dt.datetime | dt.date | None = None, limit: int = 100,
                     negotiation_id: str | None = None) -> list[Block]:
    """Drafts the guardrail stopped (never sent), newest first, with what was blocked and why."""
    r = t.decision_records.c
    q = select(r.id, r.negotiation_id, r.turn, r.ts, r.record).where(_tripwire_filter()).order_by(r.id.desc())
    start = parse_since(since)
    if start is not None:
        q = q.where(r.ts >= start)
    if negotiation_id is not None:
        q = q.where(r.negotiation_id == negotiation_id)
    out: list[Block] = []
    with store.engine.connect() as conn:
        for row in conn.execute(q):
            rec = row.record or {}
            if not _is_tripwire(rec):
                continue
            out.append(Block(negotiation_id=row.negotiation_id, buyer_org=None, turn=int(rec.get("turn", row.turn)),
                             at=row.ts, violations=[Violation(**{k: v.get(k) for k in ("rule_id", "code", "message",
                                                                                        "field")})
                                                    for v in rec.get("gen_ai.guardrail.violations") or []],
                             draft=(rec.get("dealdesk.draft") or {}).get("text"),
                             draft_type=((rec.get("dealdesk.draft") or {}).get("data") or {}).get("type"),
                             record_id=row.id))
            if len(out) >= limit:
                break
        if out:
            nids = sorted({b.negotiation_id for b in out})
            orgs = dict(conn.execute(select(t.negotiations.c.id, t.negotiations.c.buyer_org)
                                     .where(t.negotiations.c.id.in_(nids))).all())
            # what followed each block in its turn: another guardrail pass (revised) or the fallback
            after = defaultdict(list)
            for row in conn.execute(select(r.id, r.negotiation_id, r.turn, r.record).where(and_(
                    r.negotiation_id.in_(nids), r.node == "guardrail"))):
                after[(row.negotiation_id, int((row.record or {}).get("turn", row.turn)))].append(row)
            done = []
            for b in out:
                later = [x for x in after[(b.negotiation_id, b.turn)] if x.id > b.record_id]
                res = "unknown"
                if later:
                    res = "fallback" if (later[0].record or {}).get("dealdesk.fallback") else "revised"
                done.append(b.model_copy(update={"buyer_org": orgs.get(b.negotiation_id), "resolution": res}))
            out = done
    return out


# --- approvals -----------------------------------------------------------------------------------------


def approvals(store: Store, *, status: str | None = None, validity: ValidityDays | None = None) -> list[ApprovalView]:
    """Approval requests (all, or those with `status` in the store: `pending` includes the expired), newest first,
    as REST's `/v1/approvals` and the console list them (requests filed in the same instant by id), so an operator
    sees one order wherever they look. `validity`: see `validity_days` (default: the configured files')."""
    days = validity if validity is not None else _configured_validity()
    now = _now()
    return [_approval_view(a, days, now) for a in store.approvals(status=status, newest_first=True)]


def approval_detail(store: Store, approval_id: str, *, validity: ValidityDays | None = None) -> ApprovalDetail | None:
    a = store.get_approval(approval_id)
    if a is None:
        return None
    tl = timeline(store, a.negotiation_id, with_records=False, validity=validity)
    offer = result = None
    result_turn = result_reply = None
    versions: dict[str, str | None] = {}
    if tl is not None:
        for turn in tl.turns:
            if any(v.id == a.id for v in turn.approvals_requested) and turn.offer is not None:
                offer = turn.offer
                versions = {"policy_version": turn.policy_version, "catalog_version": turn.catalog_version}
            if turn.operator is not None and turn.operator.approval_id == a.id:  # the decision's own turn
                result, result_turn, result_reply = turn.offer, turn.turn, turn.outgoing
    view = next((v for v in tl.approvals if v.id == a.id), None) if tl is not None else None
    view = view or _approval_view(a, validity if validity is not None else _configured_validity())
    return ApprovalDetail(approval=view, negotiation=tl.summary if tl else None, offer=offer,
                          series=_series(tl) if tl else [], result=result, result_turn=result_turn,
                          result_reply=result_reply, lines=_decided_lines(a, offer, result), **versions)


def _decided_lines(a, offer: Offer | None, result: Offer | None) -> list[DecidedLine]:
    edited = (a.decision or {}).get("prices") or {}
    sent = {(ln.sku, ln.quantity): ln.unit_price for ln in result.lines} if result is not None else {}
    standing = {(ln.sku, ln.quantity): ln.unit_price for ln in offer.lines} \
        if offer is not None and offer.sent_as == "offered" else {}
    out = []
    for m in (a.requested or {}).get("moves") or []:
        key = (m["sku"], int(m["quantity"]))
        decided = _dec(edited.get(m["sku"], m["unit_price"])) if a.status in ("approved", "edited") else None
        out.append(DecidedLine(sku=m["sku"], quantity=int(m["quantity"]), requested=m["unit_price"], decided=decided,
                               sent=sent.get(key), standing=standing.get(key)))
    return out


# --- the decision records as rows ------------------------------------------------------------------------


def decision_rows(store: Store, *, since: str | dt.datetime | dt.date | None = None,
                  negotiation_id: str | None = None, batch: int = 1000) -> Iterator[dict[str, Any]]:
    """Every decision record in write order: {"id", "negotiation_id", "turn", "node", "ts", "record"}."""
    r = t.decision_records.c
    start = parse_since(since)
    last = 0
    while True:
        q = select(r.id, r.negotiation_id, r.turn, r.node, r.ts, r.record).where(r.id > last).order_by(r.id).limit(batch)
        if start is not None:
            q = q.where(r.ts >= start)
        if negotiation_id is not None:
            q = q.where(r.negotiation_id == negotiation_id)
        with store.engine.connect() as conn:
            rows = conn.execute(q).all()
        for row in rows:
            yield {"id": row.id, "negotiation_id": row.negotiation_id, "turn": row.turn, "node": row.node,
                   "ts": row.ts, "record": row.record}
        if len(rows) < batch:
            return
        last = rows[-1].id


def buyers(store: Store) -> list[str]:
    """The buyer organisations that have negotiated, for a filter's choices."""
    with store.engine.connect() as conn:
        return list(conn.execute(select(t.negotiations.c.buyer_org).distinct().order_by(t.negotiations.c.buyer_org))
                    .scalars())


__all__ = [
    "ApprovalDetail", "ApprovalView", "Block", "BuyerLine", "BuyerMessage", "DealSummary", "DecidedLine",
    "GuardrailVerdict", "Instant", "Offer", "OfferLine", "OperatorAction", "Point", "Timeline", "Turn", "Violation",
    "ValidityDays", "approval_detail", "approvals", "buyers", "concession_series", "decision_rows", "expires_at",
    "guardrail_blocks", "list_deals", "outcome_of", "parse_since", "percent_text", "reason_figures", "summary",
    "timeline", "unique_reasons", "utc_text", "validity_days",
]
