"""Findings of the second plain-text QA pass: acceptance words whose object is not the offer, a deferral or another
request; an acceptance followed by a question or a delivery condition; rejections of a part; "SKU quantity" lines;
an acceptance at the offer's own figures; an impossible version.

Same catalog, `today` and contexts as test_qa_text.py.
"""

from __future__ import annotations

import pytest

from agent.intent import ACCEPT_WHICH_VERSION, CONDITIONAL_ACCEPT
from tests.offline.test_qa_text import BRG, BRG5, SCREW, lines, read

# --- 1. acceptance words that are no acceptance of the offer --------------------------------------------------

NOT_ACCEPTANCES = [
    # deferring
    "sounds good, let me check with finance",
    "sounds good, I'll check with finance and revert",
    "sounds good. Will revert next week.",
    "we'll take it to the board",
    "we'll take it into consideration",
    "we'll take it from here and come back",
    "I'll take it up with my manager",
    "I'll take it under advisement",
    "deal, pending management sign-off",
    "we will place the order next month",
    "sounds good, we'll get back to you",
    "we'll take it under consideration",
    "ok we'll go with it next month",
    # asking for something else
    "go ahead and send me a better offer",
    "go ahead and quote 1000 too",
    "go ahead and check stock for 2000",
    "go ahead, surprise me with a better price",
    "go ahead and tell me the lead time",
    "let's proceed with the evaluation",
    "go ahead and give me your best price",
    # receipt
    "I confirm receipt of your proposal",
    "we confirm we received the offer",
    "confirmed receipt, thanks",
    "we confirm receipt",
    # quoting, joking, retracting
    "you said 'accept'",
    "we accept... NOT",
    "I accidentally wrote accept earlier, ignore it",
    "we agree to disagree",
    "deal breaker: the price",
    "deal-breaker is the lead time",
    # about something else
    "our policy is to accept only 3 quotes",
    "we accept payment by card only",
    "we accept deliveries Mon-Fri only",
    "our dock accepts pallets only",
    "we agree to receive the goods at our Lyon plant",
    "we only accept deliveries with a delivery note",
]


@pytest.mark.parametrize("text", NOT_ACCEPTANCES)
@pytest.mark.parametrize("ctx", ["P12", "P12$"])
def test_acceptance_words_not_about_the_offer_book_nothing(text: str, ctx: str) -> None:
    result = read(text, ctx)
    assert result.kind not in ("accept", "reject"), (result.kind, result.notes)


# --- 2. an acceptance and a question, or a delivery condition --------------------------------------------------

@pytest.mark.parametrize("text", [
    "we accept, when will it ship?",
    "we accept your proposal, when can you deliver?",
    "I agree to the terms and the price",
    "we want to accept",
    "we'd be glad to accept",
    "we would be happy to accept",
    "we accept. When can you deliver?",
])
def test_an_acceptance_with_a_plain_question_accepts(text: str) -> None:
    result = read(text, "P12$")
    assert result.kind == "accept", (result.kind, result.notes)


@pytest.mark.parametrize("text", [
    "we accept, but please ship by Friday",
    "Accept, but we need it by 2026-12-15",
    "we accept but it must arrive before the 20th",
    "agreed, but deliver within 5 days",
])
def test_an_acceptance_with_a_delivery_condition_says_why_it_is_not_taken(text: str) -> None:
    result = read(text, "P12$")
    assert result.kind == "unknown", (result.kind, result.notes)
    assert CONDITIONAL_ACCEPT in result.notes


# --- 3. a rejection of a part is no rejection of the offer ---------------------------------------------------

PART_REJECTIONS = [
    ("no deal yet", "P12$"),
    ("no deal, but we will come back next month", "P12$"),
    ("we'll pass on the seals, just bearings", "BS$"),
    ("we pass on the grease", "BS$"),
    ("cancel the seals", "BS$"),
    ("reject the grease suggestion", "P12$"),
    ("we reject the alternatives, only BRG-6204", "P12$"),
    ("I'm not interested in the grease", "P12$"),
    ("not interested in the alternatives, just the 500 bearings", "P12$"),
    ("no thanks, we're good with 500", "P12$"),
    ("sorry, cancel that, I meant 600 units", "P12$"),
    ("I decline to comment on our budget", "P12$"),
    ("we'd hate to walk away", "P12$"),
    ("we decline the seals", "BS$"),
    ("we don't want to walk away", "P12$"),
]


@pytest.mark.parametrize(("text", "ctx"), PART_REJECTIONS)
def test_a_rejection_of_a_part_closes_nothing(text: str, ctx: str) -> None:
    result = read(text, ctx)
    assert result.kind not in ("accept", "reject"), (result.kind, result.notes)


@pytest.mark.parametrize("text", ["we reject your offer", "no deal", "we'll pass", "not interested",
                                  "we walk away", "not interested, close it", "we reject the offer",
                                  "we pass on this", "we decline your proposal", "cancel the order"])
def test_a_rejection_of_the_offer_still_rejects(text: str) -> None:
    assert read(text, "P12$").kind == "reject"


def test_a_line_cancelled_is_dropped() -> None:
    result = read("cancel the seals", "BS$")
    assert result.kind == "rfq" and lines(result) == [(BRG, 500)], (result.kind, result.notes)


# --- 4. "SKU quantity", one per line ----------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("Please quote:\nBRG-6204 500\nBRG-6205 300\nRegards", [(BRG, 500), (BRG5, 300)]),
    ("BRG-6204    500 pcs\nBRG-6205    300 pcs", [(BRG, 500), (BRG5, 300)]),
    ("* BRG-6204 x 500\n* FST-M8X30-A2 x 20\n\nTarget price for the bearings 3.00 EUR", [(BRG, 500), (SCREW, 20)]),
    ("BRG-6204 500 BRG-6205 300", [(BRG, 500), (BRG5, 300)]),
    ("BRG-6204 500 pcs BRG-6205 300 pcs", [(BRG, 500), (BRG5, 300)]),
    ("500 BRG-6204 300 BRG-6205", [(BRG, 500), (BRG5, 300)]),
    ("500 pcs BRG-6204, 300 pcs BRG-6205", [(BRG, 500), (BRG5, 300)]),
])
def test_a_quantity_after_its_sku_is_its_own(text: str, expected: list[tuple[str, int]]) -> None:
    result = read(text, "none")
    assert result.kind == "rfq", result.notes
    assert lines(result) == expected, result.notes


# --- 5. an acceptance at the offer's own figures is an acceptance ----------------------------------------------

@pytest.mark.parametrize("text", ["we accept at 3.23", "we accept your offer of 3.23 EUR", "we accept the 3.23 price",
                                  "we accept 500 x BRG-6204 at 3.23 EUR", "ok 3.23 works, we accept"])
def test_an_acceptance_at_the_offered_price_accepts(text: str) -> None:
    result = read(text, "P12$")
    assert result.kind == "accept", (result.kind, result.notes)


def test_an_acceptance_at_another_price_is_still_a_counter() -> None:
    result = read("we accept at 3.10", "P12$")
    assert result.kind == "counter_offer", (result.kind, result.notes)


# --- 6. an impossible version, or an id not this negotiation's, accepts nothing -----------------------------------

@pytest.mark.parametrize("text", ["we accept v0", "we accept version -1", "we accept P-12 version 0",
                                  "we accept P-12 version 1" + "0" * 11,
                                  "we accept P-" + "1" * 70 + " version 1"])
def test_an_impossible_version_accepts_nothing(text: str) -> None:
    result = read(text, "P12$")
    assert result.kind == "unknown", (result.kind, result.notes)
    assert ACCEPT_WHICH_VERSION in result.notes


# --- 7. prices misread -------------------------------------------------------------------------------------

def test_a_count_of_plants_is_no_price() -> None:
    result = read("6204 is the model we use at 3 plants", "P12$")
    assert result.asked_prices == [] and result.kind != "counter_offer", (result.kind, result.notes)


def test_a_price_with_ghz_is_no_price() -> None:
    result = read("500 x BRG-6204, 2.95 GHz", "none")
    assert result.asked_prices == [], result.notes


def test_max_each_after_two_lines_applies_to_both() -> None:
    result = read("500 x BRG-6204 and 500 x BRG-6205, max 3.00 each", "none")
    assert [(a.sku, str(a.unit_price)) for a in result.asked_prices] == [(BRG, "3.00"), (BRG5, "3.00")], result.notes


def test_the_price_wanted_now_is_the_ask_not_the_last_one() -> None:
    result = read("our last price was 3.40, now we want 3.00", "P12$")
    assert result.kind == "counter_offer", (result.kind, result.notes)
    assert [str(i.unit_price) for i in result.message.items] == ["3.00"], result.notes


def test_a_price_for_both_lines_applies_to_both() -> None:
    result = read("500 x BRG-6204 and 500 x BRG-6205 at 3.00 EUR for both", "none")
    assert [(a.sku, str(a.unit_price)) for a in result.asked_prices] == [(BRG, "3.00"), (BRG5, "3.00")], result.notes


def test_a_price_each_right_after_the_last_line_stays_there() -> None:
    result = read("500 x BRG-6204 and 200 x FST-M8X30-A2 at 3.10 each", "none")
    assert [(a.sku, str(a.unit_price)) for a in result.asked_prices] == [(SCREW, "3.10")], result.notes


def test_a_conditional_acceptance_is_answered_with_why(tmp_path) -> None:
    """QA finding 2: "we accept, but please ship by Friday" booked nothing and the buyer was not told why; a plain
    question after an acceptance ("we accept, when will it ship?") books the deal."""
    from agent.config import load_data
    from agent.service import Buyer, Seller

    seller = Seller.open(*load_data(), f"sqlite:///{tmp_path / 'c.db'}")
    try:
        nid = seller.start(Buyer(org="qa-conditional", region="EU"))
        seller.send(nid, text="500 x BRG-6204")
        reply = seller.send(nid, text="Accept, but we need it by 2026-12-15")
        told = "An acceptance takes the proposal as offered, so nothing is accepted yet"
        assert reply.type != "deal" and told in reply.text, reply.text
        assert seller.send(nid, text="we accept, when will it ship?").type == "deal"
    finally:
        seller.close()
