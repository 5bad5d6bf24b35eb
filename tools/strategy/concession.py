"""The concession strategy: from a decision surface and the negotiation so far, the seller's moves.

Deterministic and pure. The strategy works in discount space (share off the
current list price), so offers made at other quantities or in earlier
negotiations of the same buyer organisation compare on one scale:

- aspiration(t) runs from the target discount to the walk-away discount along
  the configured curve; t is the round's progress (or the clock's);
- reciprocity: the seller concedes at most what the buyer moved since their
  previous counter (their first priced counter may be met down to target),
  and nothing on a round whose message names no price (a re-quote);
- a buyer counter at or above the aspiration (or the seller's own next
  offer) is accepted;
- never below the walk-away price (floor and maximum discount); after the
  maximum rounds the last valid offer stands and the seller closes;
- memory: the buyer organisation's recent negotiations on the SKU are merged
  into the history, so restarting or opening several negotiations continues
  the same curve instead of resetting it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal

from tools.errors import DealdeskError
from tools.money import ceil_money, quantum
from tools.policy.surface import DecisionSurface, check_offer, evaluate_offer, level_for
from tools.strategy.curves import conceded_share, progress
from tools.strategy.models import ALTERNATIVE_KINDS, Move, MoveKind, Offer, Plan, StrategyConfig
from tools.strategy.playbook import alternatives, trades

SurfaceFn = Callable[[str, int, str], DecisionSurface]
ZERO = Decimal(0)
ONE = Decimal(1)


class NoValidOffer(DealdeskError):
    """The line itself is outside the policy (quantity, terms): no price can be offered."""

    code = "no_valid_offer"


def _field_of(findings) -> str | None:
    codes = {f.code for f in findings}
    if codes & {"below_moq", "above_max_quantity"}:
        return "quantity"
    if "terms_not_allowed" in codes:
        return "payment_terms"
    return None


def discount_of(price: Decimal, list_price: Decimal) -> Decimal:
    """Share off `list_price` (0.15 for 15 %), exact."""
    return (list_price - price) / list_price if list_price else ZERO


def price_at(surface: DecisionSurface, share: Decimal) -> Decimal:
    """The smallest grid price whose discount is at most `share`, never under walk-away.

    The exact price is first snapped to a nano-unit grid, so that the 28th-digit
    residue of dividing by the list price never rounds a price up by a whole cent.
    """
    raw = surface.list_price * (ONE - share)
    snapped = raw.quantize(quantum(surface.currency).scaleb(-9), rounding=ROUND_HALF_EVEN)
    return max(ceil_money(snapped, surface.currency), surface.walk_away_price)


def move_id(round_: int, kind: str, sku: str, quantity: int, price: Decimal, terms: str) -> str:
    digest = hashlib.sha256(f"{round_}|{kind}|{sku}|{quantity}|{price}|{terms}".encode()).hexdigest()[:10]
    return f"mv-r{round_}-{kind}-{digest}"


def make_move(surface: DecisionSurface, round_: int, kind: MoveKind, price: Decimal, rule_ids: Sequence[str],
              rationale: str) -> Move | None:
    """A move at `price` on `surface`, filed under its approval level; None if the policy forbids it."""
    decision = check_offer(surface, price)
    if not decision.allowed:
        return None
    rules = tuple(dict.fromkeys([*rule_ids, decision.rule_id]))
    # model_validate of a dict is Move(...)'s validation without BaseModel.__init__'s overhead (a round
    # makes several moves); model_construct would skip validation yet costs more in pydantic 2.
    return Move.model_validate({
        "id": move_id(round_, kind, surface.sku, surface.quantity, price, surface.payment_terms),
        "kind": kind, "sku": surface.sku, "quantity": surface.quantity, "currency": surface.currency,
        "payment_terms": surface.payment_terms, "unit_price": price, "list_price": surface.list_price,
        "line_total": price * surface.quantity, "discount_percent": decision.discount_percent,
        "approval_level": decision.level or "", "needs_approval": decision.needs_approval,
        "lead_time_days": surface.lead_time_days, "alternative": kind in ALTERNATIVE_KINDS, "rule_ids": rules,
        "rationale": rationale,
    })


def _share(offer: Offer, fallback_list: Decimal) -> Decimal:
    assert offer.unit_price is not None
    return discount_of(offer.unit_price, offer.list_price or fallback_list)


def _elapsed(events: Sequence[Offer], config: StrategyConfig, now: dt.datetime | None) -> Decimal | None:
    if config.horizon is None or now is None:
        return None
    times = [e.at for e in events if e.at is not None]
    if not times:
        return None
    return Decimal((now - min(times)).total_seconds()) / Decimal(config.horizon.total_seconds())


def plan(surface: DecisionSurface, history: Sequence[Offer], *, memory: Sequence[Offer] = (),
         config: StrategyConfig = StrategyConfig(), surface_for: SurfaceFn | None = None,
         now: dt.datetime | None = None) -> Plan:
    """The seller's moves for this round of the negotiation on `surface`'s line."""
    merged = [*memory, *history]
    L = surface.list_price
    buyer = [e for e in merged if e.side == "buyer"]
    priced_buyer = [e for e in buyer if e.unit_price is not None]
    seller = [e for e in merged if e.side == "seller" and e.unit_price is not None]
    # A round is a priced buyer message (and the first message, priced or not): re-quotes and questions in
    # between move neither the clock of rounds nor the price.
    round_ = max(len(priced_buyer) + (1 if buyer and buyer[0].unit_price is None else 0), 1)
    closing = round_ > surface.max_rounds

    t = progress(round_, surface.max_rounds, _elapsed(merged, config, now))
    d_target = discount_of(surface.target_price, L)
    d_walk = discount_of(surface.walk_away_price, L)
    d_open = discount_of(surface.opening_price, L)
    aspiration = d_target + (d_walk - d_target) * conceded_share(t, Decimal(config.exponents[config.curve]))
    aspiration_price = price_at(surface, aspiration)

    def on_list(e: Offer) -> Decimal:  # a priced offer on today's list (exact when it was made on the same list)
        return e.unit_price if e.list_price in (None, L) else price_at(surface, _share(e, L))

    def this_line(e: Offer) -> bool:  # an offer for this line: the same quantity and terms
        return e.quantity == surface.quantity and e.payment_terms in (None, surface.payment_terms)

    # The seller's lowest offer so far, on today's list.
    prev_price = min((on_list(e) for e in seller), default=None)
    prev = None if prev_price is None else discount_of(prev_price, L)
    if prev_price is None:
        prev_price = surface.opening_price
    prev_price = max(prev_price, surface.walk_away_price)
    prev_share = discount_of(prev_price, L)

    current = [e for e in history if e.side == "buyer" and e.unit_price is not None]
    buyer_price = current[-1].unit_price if current else None
    # The buyer's best price in this negotiation for this line (quantity and terms; on today's list): never offered
    # below, nor accepted below, whatever the buyer asks later. A buyer who offered 3.10, then 0.01, 1.00, 2.00
    # would otherwise be conceded below 3.10 on the strength of "moves" back up from a price already beaten.
    best_ask = max((on_list(e) for e in current if this_line(e)), default=None)
    # This round's buyer message (the last of `history`) named no price: the buyer moved nothing, so the
    # seller concedes nothing (a re-quote at another quantity keeps the discount; repeated quotes would
    # otherwise walk the price down the curve without a counter).
    unmoved = prev is not None and bool(history) and history[-1].side == "buyer" and history[-1].unit_price is None
    if unmoved:
        cap, cap_rule = ZERO, "strategy.no_new_counter"
    elif len(priced_buyer) >= 2:
        cap = max(_share(priced_buyer[-2], L) - _share(priced_buyer[-1], L), ZERO)
        cap_rule = "strategy.reciprocity"
    elif priced_buyer:
        cap, cap_rule = max(d_target - d_open, ZERO), "strategy.opening_concession"
    else:
        cap, cap_rule = ZERO, "strategy.no_counter_yet"
    share = max(min(aspiration, prev_share + cap, d_walk), prev_share)
    offer_price = min(price_at(surface, share), prev_price)
    # Bounded by the seller's own offers on this same line only: a concession made on other terms or another
    # quantity (normalised into `prev_price`) must not lower the bound when the buyer comes back to this line.
    line_prev = min((on_list(e) for e in seller if this_line(e)), default=surface.opening_price)
    bound = None if best_ask is None else min(best_ask, line_prev)
    held_at_ask = bound is not None and offer_price < bound

    def up(price: Decimal) -> Decimal:  # a price the seller repeats from its offers: never below the bound either
        return price if bound is None else max(price, bound)

    if held_at_ask:
        offer_price = bound
        share = discount_of(offer_price, L)

    curve_rule = f"strategy.aspiration.{config.curve}"
    moves: list[Move] = []

    def add(kind: MoveKind, price: Decimal, rules: Sequence[str], why: str, on: DecisionSurface = surface) -> Move | None:
        m = make_move(on, round_, kind, price, rules, why)
        if m is not None and all(x.id != m.id for x in moves):
            moves.append(m)
        return m

    accept = None
    if buyer_price is not None and (buyer_price >= offer_price or buyer_price >= aspiration_price) \
            and (bound is None or buyer_price >= bound):
        accept = add("accept", min(buyer_price, up(prev_price)), [curve_rule, "strategy.accept_at_aspiration"],
                     f"buyer's {buyer_price} is at or above the aspiration {aspiration_price}")
    if closing:
        main = add("final", up(prev_price), ["strategy.max_rounds", surface.rule_ids["max_rounds"]],
                   f"round {round_} is past the maximum of {surface.max_rounds}; the last offer stands")
    else:
        kind: MoveKind = "open" if prev is None else ("concede" if offer_price < prev_price else "hold")
        rules = [curve_rule] + ([cap_rule] if share == prev_share + cap else []) + \
            (["strategy.buyer_best_price"] if held_at_ask else [])
        if offer_price == surface.walk_away_price:
            rules.append(surface.rule_ids["floor_price"] if surface.walk_away_price == surface.floor_price
                         else surface.rule_ids["max_discount_percent"])
        main = add(kind, offer_price, rules, f"aspiration {aspiration_price} at t={t:.3f}; previous offer {prev_price}")
        if prev is not None and kind != "hold":
            add("hold", up(prev_price), ["strategy.hold"], "repeat the standing offer")
        if buyer_price is not None and accept is None and surface_for is not None:
            for trade in trades(surface, offer_price, share, surface_for):
                add(trade.kind, trade.price, trade.rule_ids, trade.rationale, trade.surface)
    if surface_for is not None:
        for alt in alternatives(surface, max(share, ZERO), config, surface_for):
            add(alt.kind, alt.price, alt.rule_ids, alt.rationale, alt.surface)

    recommended = accept or main
    if recommended is None:  # the standing offer is no longer allowed: hold at walk-away
        recommended = add("hold", surface.walk_away_price, ["strategy.walk_away"], "walk-away price")
    if recommended is None:
        findings = evaluate_offer(surface, surface.walk_away_price).findings
        raise NoValidOffer("; ".join(f.message for f in findings), field=_field_of(findings))
    standing = None
    if level_for(surface, recommended.unit_price):
        base = main if main is not None and main.kind != "final" else recommended
        standing_price = min(up(prev_price), max(base.unit_price, surface.auto_limit_price))
        kind = "open" if prev is None else ("hold" if standing_price == prev_price else "concede")
        st = add(kind, standing_price, ["strategy.standing_offer", surface.levels[0].rule_id],
                 "best offer within auto authority while the better one awaits approval")
        standing = st.id if st is not None else None
    offered_before = any(e.side == "seller" and e.unit_price is not None and e.quantity == surface.quantity
                         and e.payment_terms in (None, surface.payment_terms) for e in history)
    return Plan(round=round_, t=t, curve=config.curve, aspiration_price=aspiration_price, buyer_price=buyer_price,
                closing=closing, moves=tuple(moves), recommended=recommended.id, standing=standing,
                offered_before=offered_before)
