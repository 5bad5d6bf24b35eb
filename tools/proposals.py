"""Proposal logic: turn the strategy's moves into a wire proposal, and decide its approval routing.

Pure functions. A proposal is several lines, one strategy move each, sharing
currency and payment terms; its approval level is the highest any line needs,
and the autonomy check uses the proposal's total.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from agent.contract import Alternative, Pending, PendingItem, Proposal, ProposalItem
from tools.money import round_percent
from tools.policy.surface import DecisionSurface, Finding, check_offer
from tools.strategy.models import Move

ALT_KIND = {"suggest_tier": "next_tier", "suggest_related": "related_sku", "trade_terms": "longer_terms",
            "trade_quantity": "larger_quantity"}


@dataclass(frozen=True)
class Routing:
    """Whether a set of lines may be offered, and who must approve it."""

    allowed: bool
    level: str  # the first chain level (auto) when no approval is needed
    needs_approval: bool
    findings: tuple[Finding, ...]


def route(moves: Sequence[Move], surfaces: Sequence[DecisionSurface]) -> Routing:
    """The approval routing of a proposal: the strictest line, autonomy judged on the total."""
    total = sum((m.unit_price * m.quantity for m in moves), Decimal(0))
    findings: list[Finding] = []
    rank = 0
    level = surfaces[0].levels[0].name if surfaces else "auto"
    allowed = True
    for move, surface in zip(moves, surfaces):
        decision = check_offer(surface, move.unit_price, quantity=move.quantity,
                               payment_terms=move.payment_terms, deal_value=total)
        findings.extend(f for f in decision.finding_models() if f not in findings)  # a deal's reason once, not per line
        if not decision.allowed:
            allowed = False
            continue
        names = [lv.name for lv in surface.levels]
        r = names.index(decision.level) if decision.level in names else len(names)
        if r > rank:
            rank, level = r, decision.level or "operator"
    needs = allowed and any(f.code in ("approval_level", "outside_autonomy") for f in findings)
    return Routing(allowed=allowed, level=level, needs_approval=needs, findings=tuple(findings))


def proposal_item(move: Move, name: str, delivery_date: dt.date | None = None) -> ProposalItem:
    return ProposalItem(sku=move.sku, name=name, quantity=move.quantity, unit_price=move.unit_price,
                        list_price=move.list_price, discount_percent=round_percent(move.discount_percent),
                        line_total=move.line_total, lead_time_days=move.lead_time_days, delivery_date=delivery_date)


def alternative(move: Move, name: str) -> Alternative:
    return Alternative(kind=ALT_KIND[move.kind], sku=move.sku, name=name, quantity=move.quantity,
                       unit_price=move.unit_price, line_total=move.line_total, payment_terms=move.payment_terms,
                       lead_time_days=move.lead_time_days, note=move.rationale)


def build_proposal(*, proposal_id: str, version: int, moves: Sequence[Move], names: dict[str, str], region: str,
                   terms: dict[str, str], valid_until: dt.datetime, alternatives: Sequence[Move] = (),
                   pending: Sequence[Move] = (), pending_since: dt.datetime | None = None,
                   delivery_dates: dict[str, dt.date] | None = None, awaiting: bool = False) -> Proposal:
    """The wire proposal for `moves` (one per line); `pending` are the requested lines awaiting approval.

    Its status says whether this proposal may be accepted: `pending_approval` only when it awaits an operator
    itself (`awaiting`: approval-only, or an operator's edit in flight), else `offered`, also while a better
    offer for the request awaits approval (`pending`), as the stored row says and an acceptance finds."""
    delivery_dates = delivery_dates or {}
    items = [proposal_item(m, names[m.sku], delivery_dates.get(m.sku)) for m in moves]
    pend = None
    if pending:
        pend = pending_of(pending, pending_since or dt.datetime.now(dt.UTC).replace(tzinfo=None))
    return Proposal(
        proposal_id=proposal_id, version=version, status="pending_approval" if awaiting else "offered",
        currency=moves[0].currency, region=region, payment_terms=moves[0].payment_terms, valid_until=valid_until,
        items=items, total=sum((i.line_total for i in items), Decimal(0)), terms=dict(terms),
        alternatives=[alternative(m, names.get(m.sku, m.sku)) for m in alternatives] or None, pending=pend,
    )


def pending_of(moves: Sequence[Move], since: dt.datetime) -> Pending:
    """What awaits approval, as a proposal shows it: the requested lines and since when."""
    return Pending(items=[PendingItem(sku=m.sku, quantity=m.quantity, unit_price=m.unit_price) for m in moves],
                   total=sum((m.line_total for m in moves), Decimal(0)), since=since)


def valid_until(now: dt.datetime, surfaces: Sequence[DecisionSurface]) -> dt.datetime:
    """Validity: the shortest any line's policy allows, ending at the end of a whole second."""
    days = min(s.proposal_validity_days for s in surfaces)
    return (now + dt.timedelta(days=days)).replace(microsecond=0)
