"""Product answers (agent/answers.py): every figure their words say is one of their facts, so the guardrail's
text check passes them, and the figures they record are the desk's."""

from __future__ import annotations

import datetime as dt

import pytest

from agent.answers import breaks_answer, limits_answer, terms_answer
from agent.guardrail.text import check_text
from tools.errors import DealdeskError
from tools.policy.breaks import price_breaks
from tools.policy.desk import Desk
from tools.pricing.models import BuyerContext


@pytest.fixture
def desk(dd_demo) -> Desk:
    catalog, policy = dd_demo
    return Desk(catalog, policy, BuyerContext(region="EU", on=dt.date(2026, 6, 1)))


@pytest.mark.parametrize("sku, quantity", [("BRG-6204", None), ("BRG-6204", 1000), ("BRG-6204", 30000),
                                           ("FST-M8X30-A2", 75), ("SNS-CBL-PUR-4C", 5), ("SAF-HRN-FALL", 4)])
def test_every_figure_of_a_breaks_answer_is_one_of_its_facts(desk: Desk, sku: str, quantity: int | None) -> None:
    answer = breaks_answer(desk, sku, quantity)
    assert check_text(answer.text, answer.facts) == [], answer.text
    pb = price_breaks(desk, sku)
    assert answer.figures["breaks"] == [{"quantity": b.quantity, "offer": b.unit_price} for b in pb.breaks]
    if quantity is not None and pb.moq <= quantity <= pb.max_order_quantity:
        assert answer.figures["asked"] == {"quantity": quantity, "offer": desk.surface(sku, quantity).opening_price}
        assert f"For {quantity} units: {desk.surface(sku, quantity).opening_price} EUR each." in answer.text


@pytest.mark.parametrize("sku", ["BRG-6204", "BRG-GRS-EP2", "SNS-CBL-PUR-4C", "SAF-HRN-FALL"])
def test_every_figure_of_a_limits_answer_is_one_of_its_facts(desk: Desk, sku: str) -> None:
    answer = limits_answer(desk, sku)
    surface = desk.surface(sku, 1)
    assert check_text(answer.text, answer.facts) == [], answer.text
    assert answer.figures == {"moq": surface.moq, "max_order_quantity": surface.max_order_quantity,
                              "max_hold_units": surface.max_hold_units}


def test_a_figure_the_answer_does_not_have_is_untraced(desk: Desk) -> None:
    answer = breaks_answer(desk, "BRG-6204")
    assert check_text(answer.text + " Or 2.99 EUR each for you.", answer.facts)


def test_an_unknown_product_is_the_desks_typed_error(desk: Desk) -> None:
    with pytest.raises(DealdeskError):
        breaks_answer(desk, "NOPE-1")


@pytest.mark.parametrize("sku", ["BRG-6204", "MTR-IE3-0K75", "SAF-HRN-FALL"])
def test_every_figure_of_a_terms_answer_is_one_of_its_facts(desk: Desk, sku: str) -> None:
    s = desk.surface(sku, 1)
    answer = terms_answer(s.allowed_terms, s.default_terms, dict(s.non_negotiable_terms), [sku])
    assert check_text(answer.text, answer.facts) == [], answer.text
    assert answer.text.startswith(f"For {sku}: Payment terms: ")
    assert all(t in answer.text for t in s.allowed_terms) and all(v in answer.text
                                                                  for v in s.non_negotiable_terms.values())
