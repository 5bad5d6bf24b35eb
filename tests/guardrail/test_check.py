"""check_message on the demo data: the offered lines against the strategy's moves, the secrets of each line, and
the words against the offer (or the accepted proposal of a deal) and the tool facts.

An offer of BRG-6204 x 120 with a related SKU as an alternative (BRG-6205), priced from the EU desk.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from agent.answers import breaks_answer
from agent.config import load_data
from agent.guardrail import check
from agent.contract import Deal, DealItem, Proposal
from agent.guardrail.check import GuardContext, check_message, secrets_of
from agent.guardrail.text import Fact, Secret, check_text, facts_from_proposal
from agent.playbook import offer_text
from tools.memo import BoundedMemo
from tools.money import round_percent
from tools.policy.desk import Desk
from tools.policy.surface import DecisionSurface
from tools.pricing.models import BuyerContext
from tools.proposals import build_proposal, valid_until
from tools.strategy.models import Move

NOW = dt.datetime(2026, 11, 20, 9, 0)


@pytest.fixture(scope="module")
def desk() -> Desk:
    catalog, policy = load_data()
    return Desk(catalog, policy, BuyerContext(region="EU", on=NOW.date()))


def move(s: DecisionSurface, price: D | None = None, *, alternative: bool = False, terms: str = "NET30") -> Move:
    price = s.list_price if price is None else price
    return Move(id=f"mv-{s.sku}-{price}-{terms}", kind="suggest_related" if alternative else "open", sku=s.sku,
                quantity=s.quantity, currency=s.currency, payment_terms=terms, unit_price=price,
                list_price=s.list_price, line_total=price * s.quantity,
                discount_percent=round_percent((s.list_price - price) * 100 / s.list_price), approval_level="auto",
                needs_approval=False, lead_time_days=s.lead_time_days, alternative=alternative, rule_ids=(),
                rationale="test")


def offer(desk: Desk, line: Move, alternatives: list[Move], pending: list[Move] = ()) -> dict:
    s = desk.surface(line.sku, line.quantity, line.payment_terms)
    names = {sku: p.name for sku, p in desk.catalog.products.items()}
    return build_proposal(proposal_id="P-TEST1", version=1, moves=[line], names=names, region="EU",
                          terms=s.non_negotiable_terms, valid_until=valid_until(NOW, [s]), alternatives=alternatives,
                          pending=pending, pending_since=NOW).model_dump(mode="json")


def verdict(desk: Desk, data: dict, moves: list[Move]):
    ctx = GuardContext(region="EU", currency="EUR", surface_for=desk.surface, moves=moves, now=NOW,
                       in_play=[desk.surface(i["sku"], int(i["quantity"]), data["payment_terms"])
                                for i in data["items"]])
    return check_message(data, offer_text(data), ctx)


def off_strategy(v) -> list[str | None]:
    return [x.field for x in v.violations if x.code == "off_strategy"]


def test_the_offer_built_from_the_moves_passes(desk: Desk) -> None:
    line, related = move(desk.surface("BRG-6204", 120)), move(desk.surface("BRG-6205", 120), alternative=True)
    v = verdict(desk, offer(desk, line, [related]), [line, related])
    assert v.passed, v.violations
    assert "off_strategy" in v.checks


def test_an_offered_line_must_be_a_move_that_is_not_an_alternative(desk: Desk) -> None:
    s = desk.surface("BRG-6204", 120)
    line = move(s)
    as_alternative = move(s, alternative=True)  # the same figures, but only shown beside the offer
    assert off_strategy(verdict(desk, offer(desk, line, []), [as_alternative])) == ["items[0].unit_price"]
    assert off_strategy(verdict(desk, offer(desk, line, []), [as_alternative, line])) == []
    other_price = move(s, s.list_price - D("0.01"))
    assert off_strategy(verdict(desk, offer(desk, line, []), [other_price])) == ["items[0].unit_price"]
    other_terms = move(s, terms="NET60")
    assert off_strategy(verdict(desk, offer(desk, line, []), [other_terms])) == ["items[0].unit_price"]


def test_alternatives_and_pending_lines_may_be_any_move(desk: Desk) -> None:
    s4, s5 = desk.surface("BRG-6204", 120), desk.surface("BRG-6205", 120)
    line, related = move(s4), move(s5, alternative=True)
    data = offer(desk, line, [related])
    assert off_strategy(verdict(desk, data, [line, related])) == []
    # an alternative that is the strategy's main move (not flagged alternative) is still one of its moves
    assert off_strategy(verdict(desk, data, [line, move(s5)])) == []
    assert off_strategy(verdict(desk, data, [line])) == ["alternatives[0]"]
    assert off_strategy(verdict(desk, data, [line, move(s5, alternative=True, terms="NET60")])) == ["alternatives[0]"]
    requested = move(s4, s4.list_price - D("0.50"), alternative=True)
    pending = offer(desk, line, [], pending=[requested])
    assert off_strategy(verdict(desk, pending, [line, requested])) == []
    assert off_strategy(verdict(desk, pending, [line])) == ["pending.items[0]"]


def expected_secrets(s: DecisionSurface) -> list[Secret]:
    out = [Secret("cost", s.cost, s.currency), Secret("floor", s.floor_price, s.currency),
           Secret("walk_away", s.walk_away_price, s.currency), Secret("target", s.target_price, s.currency),
           Secret("max_discount", s.max_discount_percent)]
    for level in s.levels:
        out += [Secret("approval_limit", level.min_unit_price, s.currency),
                Secret("approval_limit", level.max_discount_percent)]
    return out


def test_secrets_of_each_surface_in_order(desk: Desk) -> None:
    s4, s5 = desk.surface("BRG-6204", 120), desk.surface("BRG-6205", 120)
    for _ in range(2):  # the second time from the memo
        assert secrets_of([s4, s5, s4]) == expected_secrets(s4) + expected_secrets(s5) + expected_secrets(s4)
    assert secrets_of([]) == []


def test_secrets_follow_the_surface_not_its_line(desk: Desk) -> None:
    s = desk.surface("BRG-6204", 120)
    assert secrets_of([s]) == expected_secrets(s)
    cheaper = s.model_copy(update={"cost": s.cost - D("0.10"), "floor_price": s.floor_price - D("0.10")})
    assert secrets_of([cheaper]) == expected_secrets(cheaper) != expected_secrets(s)
    assert secrets_of([s]) == expected_secrets(s)


def test_the_secrets_memo_is_bounded(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check, "_SECRETS", BoundedMemo(3))
    s = desk.surface("BRG-6204", 120)
    copies = [s.model_copy(update={"cost": s.cost + i}) for i in range(5)]
    for c in copies:
        assert secrets_of([c]) == expected_secrets(c)
    assert len(check._SECRETS) == 3
    assert [entry[0] for entry in check._SECRETS.values()] == copies[2:]  # first in, first out
    assert secrets_of([copies[0]]) == expected_secrets(copies[0])


def test_the_words_are_checked_against_the_offer_and_the_tool_facts(desk: Desk) -> None:
    s = desk.surface("BRG-6204", 120)
    line = move(s)
    data = offer(desk, line, [])
    tool = [Fact("number", D(20), "tool:catalog_lookup:BRG-6204.bore_mm")]
    ctx = GuardContext(region="EU", currency="EUR", surface_for=desk.surface, moves=[line], now=NOW, tool_facts=tool,
                       in_play=[s])
    facts = tool + facts_from_proposal(Proposal.model_validate(data), now=NOW)
    for text in [offer_text(data), f"{offer_text(data)} The bore is 20 mm.", "The bore is 21 mm.",
                 f"We can go to {s.floor_price} EUR.", "Our margin is thin."]:
        words = [(v.rule_id, v.message) for v in check_text(text, facts, secrets_of([s, s]))]
        assert [(v.rule_id, v.message) for v in check_message(data, text, ctx).violations] == words


def test_a_deal_may_state_the_accepted_figures_its_id_and_date(desk: Desk) -> None:
    line = move(desk.surface("BRG-6204", 120))
    accepted = Proposal.model_validate(offer(desk, line, []))
    item = accepted.items[0]
    deal = Deal(deal_id="D-TEST1", proposal_id=accepted.proposal_id, version=accepted.version,
                items=[DealItem(sku=item.sku, name=item.name, quantity=item.quantity, unit_price=item.unit_price,
                                line_total=item.line_total)],
                total=accepted.total, currency="EUR", payment_terms="NET30", accepted_at=NOW)
    ctx = GuardContext(region="EU", currency="EUR", surface_for=desk.surface, moves=[], now=NOW, accepted=accepted)
    said = (f"Deal D-TEST1 confirmed on {NOW.date()}: {item.quantity} x {item.sku} at {item.unit_price} EUR, "
            f"total {accepted.total} EUR, payment NET30.")
    assert check_message(deal.model_dump(mode="json"), said, ctx).passed
    v = check_message(deal.model_dump(mode="json"), f"{said} Delivery in 9 days.", ctx)
    assert [(x.code, x.field) for x in v.violations] == [("untraced_figure", "text")]
    cost = desk.surface("BRG-6204", 120).cost
    v = check_message(deal.model_dump(mode="json"), f"{said} That is {cost} EUR over our cost.", ctx)
    assert {x.code for x in v.violations} == {"leak_figure", "leak_term"}


def test_an_answer_says_only_the_figures_it_was_built_from(desk: Desk) -> None:
    """An `answer` data part (volume breaks, order limits): each price a money fact of this turn in the answer's
    currency, each count a counted fact; a figure the answer was not built from is blocked, naming the field."""
    answered = breaks_answer(desk, "BRG-6204", 1000)
    ctx = GuardContext(region="EU", currency="EUR", surface_for=desk.surface, moves=[], now=NOW,
                       tool_facts=answered.facts)
    data = {"type": "answer", "topic": "price", "products": [answered.part[1]]}
    verdict = check_message(data, answered.text, ctx)
    assert verdict.passed and "answer" in verdict.checks
    breaks = data["products"][0]["price_breaks"]
    forged = [{**data["products"][0], "price_breaks": [*breaks[:-1], {**breaks[-1], "unit_price": "0.01"}]},
              {**data["products"][0], "currency": "USD"},
              {**data["products"][0], "max_order_quantity": "999999"}]
    fields = []
    for product in forged:
        v = check_message({**data, "products": [product]}, answered.text, ctx)
        assert {x.code for x in v.violations} == {"untraced_figure"}
        fields.append(sorted({x.field for x in v.violations}))
    assert fields[0] == [f"products[0].price_breaks[{len(breaks) - 1}].unit_price"]
    assert "products[0].unit_price" in fields[1]  # a price in another currency is no price of the buyer's book
    assert fields[2] == ["products[0].max_order_quantity"]
