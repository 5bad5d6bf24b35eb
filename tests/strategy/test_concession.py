"""The concession strategy on the mini fixture: curve, reciprocity, acceptance, floors, memory, playbook."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from pathlib import Path

import pytest

from tools.catalog import load_catalog
from tools.policy.desk import Desk
from tools.policy.loader import load_policy
from tools.pricing.models import BuyerContext
from tools.strategy.concession import discount_of, plan
from tools.strategy.models import Offer, StrategyConfig

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ON = dt.date(2026, 11, 10)  # outside the fixture's November promotion


@pytest.fixture(scope="module")
def desk() -> Desk:
    catalog = load_catalog(FIXTURES / "mini_catalog.yaml")
    policy = load_policy(FIXTURES / "mini_policy.yaml", catalog)
    return Desk(catalog, policy, BuyerContext(region="EU", on=ON))


def rfq(qty: int = 450) -> list[Offer]:
    return [Offer(side="buyer", quantity=qty)]


def haggle(desk: Desk, bids: list[str], *, sku: str = "BRG-6204", qty: int = 450, memory=(), config=StrategyConfig()):
    """Play `bids` against the strategy, sending the standing offer when one is pending; returns the plans."""
    surface = desk.surface(sku, qty)
    history = rfq(qty)
    plans = []
    for bid in [None, *bids]:
        if bid is not None:
            history.append(Offer(side="buyer", unit_price=D(bid), quantity=qty))
        p = plan(surface, history, memory=memory, config=config, surface_for=desk.surface)
        plans.append(p)
        move = p.recommended_move
        if move.kind in ("accept", "final"):
            break
        sent = p.move(p.standing) if p.standing else move
        history.append(Offer(side="seller", unit_price=sent.unit_price, list_price=sent.list_price, quantity=qty))
    return surface, plans, history


def test_opens_at_list_on_an_rfq(desk):
    surface = desk.surface("BRG-6204", 450)
    p = plan(surface, rfq())
    move = p.recommended_move
    assert (move.kind, move.unit_price, move.approval_level, move.needs_approval) == ("open", surface.list_price, "auto", False)
    assert p.round == 1 and p.t == 0 and not p.closing
    assert move.line_total == move.unit_price * 450


def test_first_priced_counter_may_be_met_down_to_target(desk):
    surface = desk.surface("BRG-6204", 450)
    history = [*rfq(), Offer(side="seller", unit_price=surface.list_price, list_price=surface.list_price, quantity=450),
               Offer(side="buyer", unit_price=D("2.00"), quantity=450)]
    move = plan(surface, history).recommended_move
    assert move.kind == "concede"
    assert move.unit_price == surface.target_price


def test_reciprocity_never_concedes_more_than_the_buyer_moved(desk):
    surface, plans, history = haggle(desk, ["2.00", "2.01", "2.02", "2.03", "2.04"])
    seller = [e for e in history if e.side == "seller"]
    buyer = [e for e in history if e.side == "buyer" and e.unit_price is not None]
    L = surface.list_price
    for i in range(2, len(seller)):
        seller_step = discount_of(seller[i].unit_price, L) - discount_of(seller[i - 1].unit_price, L)
        buyer_step = discount_of(buyer[i - 2].unit_price, L) - discount_of(buyer[i - 1].unit_price, L)
        # one minor unit of slack: prices round up to the grid
        assert seller_step <= buyer_step + D("0.01") / L


def test_accepts_a_counter_at_or_above_aspiration(desk):
    surface = desk.surface("BRG-6204", 450)
    history = [*rfq(), Offer(side="buyer", unit_price=surface.target_price, quantity=450)]
    p = plan(surface, history)
    assert p.recommended_move.kind == "accept"
    assert p.recommended_move.unit_price == surface.target_price


def test_never_below_walk_away_and_closes_after_max_rounds(desk):
    surface, plans, history = haggle(desk, ["0.50"] * 12)
    for p in plans:
        for m in p.moves:
            if m.sku == surface.sku and m.quantity == surface.quantity and m.payment_terms == surface.payment_terms:
                assert m.unit_price >= surface.walk_away_price
    last = plans[-1]
    assert last.closing and last.recommended_move.kind == "final"
    sent = [e.unit_price for e in history if e.side == "seller"]
    assert last.recommended_move.unit_price == min(sent), "the last valid offer stands"
    assert sent == sorted(sent, reverse=True), "offers never go back up"


def test_a_buyer_who_meets_the_curve_gets_a_deal(desk):
    _, plans, _ = haggle(desk, ["2.30", "2.40", "2.50", "2.55", "2.60"])
    assert plans[-1].recommended_move.kind == "accept"


def test_offers_beyond_auto_authority_come_with_a_standing_offer(desk):
    surface = desk.surface("BRG-6204", 450)
    seller_price = surface.auto_limit_price + D("0.05")
    history = [*rfq()]
    for bid in ["2.20", "2.30", "2.40", "2.45", "2.50"]:
        history += [Offer(side="seller", unit_price=seller_price, list_price=surface.list_price, quantity=450),
                    Offer(side="buyer", unit_price=D(bid), quantity=450)]
    p = plan(surface, history)
    rec = p.recommended_move
    assert rec.needs_approval and rec.approval_level in ("manager", "director")
    assert p.standing is not None
    standing = p.move(p.standing)
    assert standing.approval_level == "auto" and not standing.needs_approval
    assert surface.auto_limit_price <= standing.unit_price <= seller_price


def test_memory_continues_the_curve_instead_of_resetting_it(desk):
    surface, plans, history = haggle(desk, ["2.00", "2.10", "2.20"])
    last_sent = min(e.unit_price for e in history if e.side == "seller")
    restart = plan(surface, rfq(), memory=history)
    assert restart.round == plans[-1].round, "an rfq names no price: the round stays where the haggling left it"
    assert restart.recommended_move.unit_price <= last_sent, "a restart does not reopen at list"
    bid = plan(surface, [*rfq(), Offer(side="buyer", unit_price=D("2.30"), quantity=450)], memory=history)
    assert bid.round == plans[-1].round + 1
    fresh = plan(surface, rfq())
    assert fresh.recommended_move.unit_price == surface.list_price


def test_memory_counts_parallel_negotiations_towards_max_rounds(desk):
    surface = desk.surface("BRG-6204", 450)
    others = []
    for _ in range(surface.max_rounds):
        others += [Offer(side="buyer", unit_price=D("1.00"), quantity=450),
                   Offer(side="seller", unit_price=surface.list_price, list_price=surface.list_price, quantity=450)]
    p = plan(surface, [*rfq(), Offer(side="buyer", unit_price=D("1.00"), quantity=450)], memory=others)
    assert p.closing and p.recommended_move.kind == "final"


@pytest.mark.parametrize("round_", [3, 4, 5])
def test_boulware_holds_firmer_than_linear_and_conceder(desk, round_):
    surface = desk.surface("BRG-6204", 450)
    history = [Offer(side="buyer", unit_price=D("1.00"), quantity=450)] * round_
    asp = {c: plan(surface, history, config=StrategyConfig(curve=c)).aspiration_price
           for c in ("boulware", "linear", "conceder")}
    assert asp["boulware"] >= asp["linear"] >= asp["conceder"]
    assert asp["boulware"] > asp["conceder"]


def test_a_requote_naming_no_price_concedes_nothing_and_moves_no_round(desk):
    cfg = StrategyConfig(curve="conceder")
    surface, plans, history = haggle(desk, ["2.00", "2.02"], config=cfg)
    last = plans[-1]
    assert last.recommended_move.kind == "concede" and "strategy.reciprocity" in last.recommended_move.rule_ids
    assert last.aspiration_price < last.recommended_move.unit_price, "the buyer's small move held the seller back"
    for _ in range(3):  # the same quantity asked for again, and again: no counter, no concession
        history.append(Offer(side="buyer", quantity=450))
        p = plan(surface, history, config=cfg, surface_for=desk.surface)
        assert p.round == last.round
        assert p.recommended_move.kind == "hold"
        assert p.recommended_move.unit_price == last.recommended_move.unit_price
        assert "strategy.no_new_counter" in p.recommended_move.rule_ids
        history.append(Offer(side="seller", unit_price=p.recommended_move.unit_price, list_price=surface.list_price,
                             quantity=450))
    other = desk.surface("BRG-6204", 1000)  # another tier: the same discount on its list
    p = plan(other, [*history, Offer(side="buyer", quantity=1000)], config=cfg, surface_for=desk.surface)
    assert p.round == last.round
    share = discount_of(last.recommended_move.unit_price, surface.list_price)
    assert abs(p.recommended_move.unit_price - other.list_price * (1 - share)) < D("0.01"), (
        p.recommended_move, other.list_price, share)


def test_time_horizon_drives_the_curve(desk):
    surface = desk.surface("BRG-6204", 450)
    start = dt.datetime(2026, 11, 1, 12, 0)
    history = [Offer(side="buyer", quantity=450, at=start)]
    cfg = StrategyConfig(curve="linear", horizon=dt.timedelta(days=10))
    early = plan(surface, history, config=cfg, now=start + dt.timedelta(days=1))
    late = plan(surface, history, config=cfg, now=start + dt.timedelta(days=10))
    assert early.t == D("0.1") and late.t == 1
    assert late.aspiration_price == surface.walk_away_price < early.aspiration_price


def test_low_stock_allows_no_concession():
    catalog = load_catalog(FIXTURES / "mini_catalog.yaml")
    policy = load_policy(FIXTURES / "mini_policy.yaml", catalog)
    desk = Desk(catalog, policy, BuyerContext(region="US", on=ON))
    surface, plans, history = haggle(desk, ["1.00", "2.00", "3.00"], sku="BRG-6205", qty=10)
    assert surface.no_discounts_rule == "stock-low"
    assert {e.unit_price for e in history if e.side == "seller"} == {surface.list_price}


def test_playbook_moves(desk):
    surface = desk.surface("BRG-6204", 450)
    history = [*rfq(), Offer(side="seller", unit_price=surface.list_price, list_price=surface.list_price, quantity=450),
               Offer(side="buyer", unit_price=D("2.00"), quantity=450)]
    p = plan(surface, history, surface_for=desk.surface)
    kinds = {m.kind: m for m in p.moves}
    # The fixture's EU book is in slab mode: 500 units blend to the same price a unit as 450 at this share, so
    # the next tier is no saving and is not suggested (test_the_next_tier_is_suggested_only_when_it_is_cheaper...)
    assert "suggest_tier" not in kinds
    assert "suggest_related" not in kinds  # BRG-6205 has 40 on hand: 450 of it could not be offered
    small = plan(desk.surface("BRG-6204", 20), rfq(20), surface_for=desk.surface)
    # 20 of the 40 on hand could be offered (one buyer may hold 20)
    assert [m.sku for m in small.moves if m.kind == "suggest_related"] == ["BRG-6205"]
    assert kinds["trade_terms"].payment_terms == "NET60"
    assert kinds["trade_terms"].unit_price == kinds["concede"].unit_price
    assert kinds["trade_quantity"].quantity == 500
    assert kinds["trade_quantity"].unit_price < kinds["concede"].unit_price
    for m in p.moves:
        assert m.rule_ids, m.kind
    far = plan(desk.surface("BRG-6204", 200), rfq(200), surface_for=desk.surface)
    assert "suggest_tier" not in {m.kind for m in far.moves}


def test_a_plan_says_whether_the_seller_offered_this_line_before_in_the_negotiation(desk):
    surface = desk.surface("BRG-6204", 450)
    offered = Offer(side="seller", unit_price=surface.list_price, list_price=surface.list_price, quantity=450,
                    payment_terms=surface.payment_terms)
    later = [*rfq(450), offered, Offer(side="buyer", unit_price=D("2.00"), quantity=450)]
    assert not plan(surface, rfq(450), surface_for=desk.surface).offered_before
    again = plan(surface, later, surface_for=desk.surface)
    assert again.offered_before and "trade_terms" in {m.kind for m in again.moves}  # still the strategy's
    assert not plan(desk.surface("BRG-6204", 300), later, surface_for=desk.surface).offered_before
    assert not plan(desk.surface("BRG-6204", 450, "NET60"), later, surface_for=desk.surface).offered_before
    # The organisation's earlier negotiations (memory) are not this one: their offers were other messages.
    assert not plan(surface, rfq(450), memory=[offered], surface_for=desk.surface).offered_before


def test_move_ids_are_deterministic_and_unique(desk):
    surface = desk.surface("BRG-6204", 450)
    history = [*rfq(), Offer(side="buyer", unit_price=D("2.00"), quantity=450)]
    a = plan(surface, history, surface_for=desk.surface)
    b = plan(surface, history, surface_for=desk.surface)
    assert [m.id for m in a.moves] == [m.id for m in b.moves]
    assert len({m.id for m in a.moves}) == len(a.moves)


def test_never_offers_below_a_price_the_buyer_already_offered(desk):
    """QA: a buyer who offered a price the seller met, then 'moved' up again from far below it (0.01, 1.00, 2.00,
    2.50), was conceded below their own first offer. The buyer's best price in the negotiation bounds every offer."""
    surface = desk.surface("BRG-6204", 450)
    first_bid = surface.target_price  # met at once (a proposal at the buyer's price): the first counter may be
    history = rfq()                   # met down to the target
    offered = []
    for bid in (None, first_bid, D("0.01"), D("1.00"), D("2.00"), D("2.50")):
        if bid is not None:
            history.append(Offer(side="buyer", unit_price=bid, quantity=450))
        move = plan(surface, history, surface_for=desk.surface).recommended_move
        offered.append(move.unit_price)
        history.append(Offer(side="seller", unit_price=move.unit_price, list_price=move.list_price, quantity=450))
    assert offered[1] == first_bid and min(offered) == first_bid, offered
    assert "strategy.buyer_best_price" in move.rule_ids



def test_the_next_tier_is_suggested_only_when_it_is_cheaper_a_unit():
    """QA: in a slab book, 500 x BRG-6205 blends to the same 3.85 as 480 units, and '500 units reach the next
    volume tier' at 3.85 was offered anyway. A range book's next tier is cheaper: suggested."""
    from agent.config import load_data

    catalog, policy = load_data()
    eu = Desk(catalog, policy, BuyerContext(region="EU", on=ON))

    def tiers(sku: str, qty: int) -> list:
        return [m for m in plan(eu.surface(sku, qty), rfq(qty), surface_for=eu.surface).moves
                if m.kind == "suggest_tier"]

    slab = eu.surface("BRG-6205", 480)
    assert catalog.tier_mode(catalog.products["BRG-6205"], catalog.price_books["EU-EUR"]) == "slab"
    assert eu.surface("BRG-6205", slab.next_tier_min).list_price == slab.list_price and tiers("BRG-6205", 480) == []
    (tier,) = tiers("BRG-6204", 480)
    assert tier.quantity == 500 and tier.unit_price < eu.surface("BRG-6204", 480).list_price


def test_a_made_to_order_product_is_suggested_beyond_any_stock():
    # BRG-6205 made to order: 450 of it can be offered (nothing to hold), so it is suggested beside BRG-6204.
    from tools.catalog.models import Catalog, Inventory

    catalog = load_catalog(FIXTURES / "mini_catalog.yaml")
    doc = catalog.doc.model_copy(update={"products": tuple(
        p.model_copy(update={"inventory": Inventory(on_hand=0, made_to_order=True)}) if p.sku == "BRG-6205" else p
        for p in catalog.doc.products)})
    made = Catalog(doc)
    policy = load_policy(FIXTURES / "mini_policy.yaml", made)
    desk = Desk(made, policy, BuyerContext(region="EU", on=ON))
    surface = desk.surface("BRG-6204", 450)
    p = plan(surface, rfq(450), surface_for=desk.surface)
    assert [m.sku for m in p.moves if m.kind == "suggest_related"] == ["BRG-6205"]
    assert desk.surface("BRG-6205", 450).made_to_order
