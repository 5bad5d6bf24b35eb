"""The playbook's words (agent/playbook.py): the lead around an offer, which says what the seller did with the
buyer's price and never carries a figure of its own, and the volume breaks a price question is answered with."""

from __future__ import annotations

import re

from decimal import Decimal

from agent.playbook import move_lead, offer_text, price_breaks_text
from tools.policy.breaks import PriceBreak, PriceBreaks

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


def test_an_accept_with_no_price_asked_this_turn_says_the_offer_already_meets_the_earlier_one() -> None:
    # "what if we take 500?" after an ask of 11.00 for 200: the strategy accepts that ask at the new quantity's
    # lower price; the buyer named no price this time, so the seller does not say it meets one.
    assert move_lead([move("accept", price="10.20")], {"BRG-6204": None}) == \
        "Our offer for BRG-6204 is already at or below your price."


def test_a_hold_or_a_concession_on_a_line_asked_at_no_price_needs_no_words() -> None:
    # "500 then" on an offer for 1500: an rfq for the new quantity; its price follows the volume tiers, so
    # "holding" (or "improved") would describe a price the buyer did not ask about.
    assert move_lead([move("hold")], {"BRG-6204": None}) == ""
    assert move_lead([move("concede")], {"BRG-6204": None}) == ""
    assert move_lead([move("final")], {"BRG-6204": None}) == "This is our final offer for BRG-6204."
    assert move_lead([move("hold"), move("concede", "BRG-6205")], {"BRG-6204": None, "BRG-6205": "2.00"}) == \
        "We have improved our price for BRG-6205."


def test_one_day_is_a_day() -> None:
    for one in (1, "1"):  # as the wire contract's JSON carries it, or as a number
        item = {**PROPOSAL["items"][0], "lead_time_days": one}
        assert "ships in 1 day)" in offer_text({**PROPOSAL, "items": [item]})
    assert "ships in 2 days)" in offer_text(PROPOSAL)


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


def breaks(mode: str = "range", moq: int = 1, most: int | None = 25000, *steps: tuple[int, str]) -> PriceBreaks:
    return PriceBreaks(sku="BRG-6204", currency="EUR", payment_terms="NET30", tier_mode=mode, moq=moq,
                       max_order_quantity=most, breaks=tuple(PriceBreak(q, Decimal(p)) for q, p in steps))


def test_range_breaks_say_from_which_quantity_each_price_holds() -> None:
    pb = breaks("range", 1, 25000, (1, "3.50"), (100, "3.40"), (2000, "3.05"))
    assert price_breaks_text(pb) == "Volume prices for BRG-6204 in EUR per unit on NET30: 3.50 from 1 unit, 3.40 " \
        "from 100, 3.05 from 2000."
    assert price_breaks_text(pb, (1000, Decimal("3.40"))).endswith(" For 1000 units: 3.40 EUR each.")
    assert price_breaks_text(pb, (30000, None)).endswith(" We take at most 25000 units of BRG-6204 per order.")


def test_slab_breaks_say_they_are_the_average_of_an_order_and_the_moq_is_named() -> None:
    text = price_breaks_text(breaks("slab", 10, None, (10, "1.42"), (100, "1.42"), (500, "1.30")), (5, None))
    assert text == ("Volume prices for BRG-6204 in EUR per unit on NET30, each slab of an order at its own rate (the "
                    "average unit price of an order of that size): 1.42 for 10 units, 1.42 for 100, 1.30 for 500. "
                    "The minimum order is 10 units.")


def test_one_break_is_one_price() -> None:
    assert price_breaks_text(breaks("slab", 1, 5, (1, "77.00"))) == \
        "BRG-6204 is 77.00 EUR per unit on NET30, with no volume breaks."


def test_a_message_the_reader_could_tell_what_was_wrong_with_gets_that_said() -> None:
    from agent.intent import NO_PRODUCT_NAMED, NO_PROPOSAL_TO_ACCEPT, NO_PROPOSAL_TO_REJECT, WHICH_LINE
    from agent.playbook import UNCLEAR_REPLIES, respond

    for note in (NO_PROPOSAL_TO_ACCEPT, NO_PROPOSAL_TO_REJECT, NO_PRODUCT_NAMED, WHICH_LINE):
        reply = respond({"intent": {"kind": "unknown", "notes": ["instruction-like text", note]}}, [])
        assert reply.content == UNCLEAR_REPLIES[note] and not re.search(r"\d", reply.content)
    assert respond({"intent": {"kind": "unknown", "notes": ["no request recognised"]}}, []).content.startswith(
        "I can help with product questions")


def test_an_acceptance_with_nothing_on_offer_is_told_so(dd_seller_factory) -> None:
    from agent.service import Buyer

    seller = dd_seller_factory()
    nid = seller.start(Buyer(org="acme-eu", region="EU"))
    assert seller.send(nid, text="ok, we accept").text.startswith("There is no proposal to accept yet.")
    assert seller.send(nid, text="no thanks").text.startswith("There is no proposal to reject")
