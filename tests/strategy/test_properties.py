"""Property tests of the strategy over random catalogs, policies and negotiation histories.

The oracle recomputes each limit from the policy decision surface of the
move's own line, and the discount from the move's figures, rather than
trusting the move's own fields.
"""

from __future__ import annotations

from decimal import Decimal

import gen
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tools.catalog.loader import parse_catalog
from tools.errors import DealdeskError
from tools.money import quantum
from tools.policy.desk import Desk
from tools.policy.loader import parse_policy
from tools.pricing.models import BuyerContext
from tools.strategy.concession import NoValidOffer, plan
from tools.strategy.models import Offer, StrategyConfig

HUNDRED = Decimal(100)


def check_move(desk: Desk, move) -> None:
    s = desk.surface(move.sku, move.quantity, move.payment_terms)
    p = move.unit_price
    assert p == p.quantize(quantum(s.currency)), "on the currency's minor-unit grid"
    assert move.line_total == p * move.quantity, "money sums exactly"
    assert p >= s.floor_price, f"{move.kind} {p} below floor {s.floor_price}"
    assert p >= s.walk_away_price, f"{move.kind} {p} beyond max discount (walk-away {s.walk_away_price})"
    names = [lv.name for lv in s.levels]
    level = s.levels[-1] if move.approval_level == "operator" else s.levels[names.index(move.approval_level)]
    discount = (s.list_price - p) * HUNDRED / s.list_price if s.list_price else Decimal(0)
    assert discount <= level.max_discount_percent, (
        f"{move.kind} at {discount}% filed under {level.name} (max {level.max_discount_percent}%)")
    if move.approval_level == s.levels[0].name and s.autonomous:
        assert not move.needs_approval or (
            s.autonomy_max_deal_value is not None and move.line_total > s.autonomy_max_deal_value)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_move_is_below_the_floor_or_beyond_its_approval_level(data):
    catalog = parse_catalog(data.draw(gen.catalogs()))
    policy = parse_policy(data.draw(gen.policies(catalog)), catalog=catalog)
    kw = data.draw(gen.buyer_contexts(catalog))
    kw.pop("stock", None)
    sku, qty = kw.pop("sku"), kw.pop("quantity")
    desk = Desk(catalog, policy, BuyerContext(**kw))
    try:
        surface = desk.surface(sku, qty)
    except DealdeskError:
        assume(False)
    curve = data.draw(st.sampled_from(["boulware", "linear", "conceder"]))
    multipliers = data.draw(st.lists(st.integers(min_value=20, max_value=130), max_size=10))
    history = [Offer(side="buyer", quantity=qty)]
    sent: list[Decimal] = []
    for m in [None, *multipliers]:
        if m is not None:
            bid = (surface.list_price * m / HUNDRED).quantize(quantum(surface.currency))
            history.append(Offer(side="buyer", unit_price=bid, quantity=qty))
        try:
            p = plan(surface, history, config=StrategyConfig(curve=curve), surface_for=desk.surface)
        except NoValidOffer:
            assume(False)
        for move in p.moves:
            check_move(desk, move)
        rec = p.recommended_move
        if rec.kind in ("accept", "final"):
            break
        offer = p.move(p.standing) if p.standing else rec
        sent.append(offer.unit_price)
        history.append(Offer(side="seller", unit_price=offer.unit_price, list_price=offer.list_price, quantity=qty))
    assert sent == sorted(sent, reverse=True), "the seller never raises its own offer"
