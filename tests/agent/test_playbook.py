"""The playbook's words around an offer (agent/playbook.py): the lead that says what the seller did with the
buyer's price, and that it never carries a figure of its own."""

from __future__ import annotations

import re

from agent.playbook import move_lead, offer_text

PROPOSAL = {"proposal_id": "P-12", "version": 3, "currency": "EUR", "total": "1545.00", "payment_terms": "NET30",
            "valid_until": "2026-12-11T00:00:00Z",
            "items": [{"sku": "BRG-6204", "quantity": "500", "unit_price": "3.09", "line_total": "1545.00",
                       "lead_time_days": 2}]}


def move(kind: str, sku: str = "BRG-6204", price: str = "3.09") -> dict:
    return {"kind": kind, "sku": sku, "unit_price": price}


def test_each_kind_of_move_has_its_words() -> None:
    assert move_lead([move("concede")], {"BRG-6204": "2.00"}) == "We have improved our price for BRG-6204."
    assert move_lead([move("hold")], {"BRG-6204": "0.50"}) == "We are holding our price for BRG-6204."
    assert move_lead([move("final")], {"BRG-6204": "2.00"}) == "This is our final offer for BRG-6204."
    assert move_lead([move("accept", price="3.10")], {"BRG-6204": "3.10"}) == "We can meet your price for BRG-6204."


def test_an_accept_below_the_price_asked_says_the_offer_already_meets_it() -> None:
    # The buyer asked 3.30 while 3.25 was on offer: the seller keeps 3.25 and does not claim to take 3.30.
    assert move_lead([move("accept", price="3.25")], {"BRG-6204": "3.30"}) == \
        "Our offer for BRG-6204 is already at or below your price."
    assert move_lead([move("accept", price="3.1")], {"BRG-6204": "3.10"}) == "We can meet your price for BRG-6204."


def test_an_opening_or_a_trade_needs_no_words() -> None:
    assert move_lead([move("open")], {"BRG-6204": None}) == ""
    assert move_lead([move("trade_terms"), move("trade_quantity", sku="BRG-6205")], {}) == ""
    assert move_lead([], {}) == ""


def test_lines_are_grouped_by_what_happened_to_them() -> None:
    moves = [move("hold", "BRG-6205"), move("concede", "BRG-6204"), move("hold", "BRG-6206"),
             move("hold", "BRG-6205")]
    assert move_lead(moves, {}) == ("We have improved our price for BRG-6204. "
                                    "We are holding our price for BRG-6205 and BRG-6206.")
    three = [move("concede", s) for s in ("A-1", "B-2", "C-3")]
    assert move_lead(three, {}) == "We have improved our price for A-1, B-2 and C-3."


def test_the_lead_comes_first_and_adds_no_figure() -> None:
    plain = offer_text(PROPOSAL)
    led = offer_text(PROPOSAL, lead="We are holding our price for BRG-6204.")
    assert plain.startswith("Proposal P-12 version 3: 500 x BRG-6204 at 3.09 EUR each")
    assert led == "We are holding our price for BRG-6204. " + plain
    for kind in ("accept", "concede", "hold", "final"):
        words = move_lead([move(kind), move(kind, "X-1")], {"BRG-6204": "9.99"})
        assert not re.search(r"\d", words.replace("BRG-6204", "").replace("X-1", "")), words
