"""Findings of the plain-text QA pass (binding actions read from hedged words, quantities and prices read from
signatures, lines dropped): tables of phrasings and what they must (and must never) be read as.

Same catalog, `today` and contexts as test_understand.py, plus offers of two lines in EUR.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from agent.offline.context import TextContext
from agent.offline.understand import understand
from tests.offline.test_understand import CATALOG, CONTEXTS, TODAY

BRG, BRG5, SEAL, SCREW = "BRG-6204", "BRG-6205", "BRG-SEAL-20477", "FST-M8X30-A2"

CTX = {
    **CONTEXTS,
    # 500 bearings and 1000 seals (the QA's f4)
    "BS$": TextContext(catalog=CATALOG, proposal_id="P-60", proposal_version=1, proposal_skus=(BRG, SEAL),
                       proposal_quantities=(500, 1000), proposal_prices=(Decimal("3.25"), Decimal("0.87")),
                       proposal_terms="NET30", region="EU", currency="EUR"),
    # 500 x BRG-6204 and 200 x BRG-6205 (the QA's f5a)
    "BB$": TextContext(catalog=CATALOG, proposal_id="P-70", proposal_version=2, proposal_skus=(BRG, BRG5),
                       proposal_quantities=(500, 200), proposal_prices=(Decimal("3.25"), Decimal("3.92")),
                       proposal_terms="NET30", region="EU", currency="EUR"),
}


def read(text: str, ctx: str):
    return understand(text, CTX[ctx], today=TODAY)


def lines(result) -> list[tuple[str, int]]:
    return [(i.sku, i.quantity) for i in result.message.items]


# --- 1. acceptance words with doubt are no acceptance --------------------------------------------------------

DOUBTFUL_ACCEPTANCES = [
    # the QA's
    "we accept the terms but not the price",
    "before we accept, what is the lead time?",
    "we agree with the lead time, price is too high",
    "accept? not yet",
    "our manager will accept tomorrow probably",
    # negation after
    "we accept, but not at this price",
    "we accept but not yet",
    "I agree, but not with the delivery date",
    "accepted? not so fast",
    # conditionals, future, hypothetical
    "we would accept",
    "we would probably accept",
    "we might accept next week",
    "maybe we accept, let me check",
    "we may agree later",
    "we will accept once finance approves",
    "we will accept after the call",
    "if the lead time is ok we accept",
    "when the budget is approved we will accept",
    "we could accept that",
    "we should be able to accept soon",
    "we'll likely accept",
    "probably a deal",
    "perhaps we'll take it",
    "we hope to accept by Friday",
    "we plan to accept tomorrow",
    "we are going to accept next week",
    "we want to accept, but need approval first",
    # someone else decides
    "my boss will agree, I think",
    "finance has to accept first",
    "the board needs to agree to it",
    # questions on the acceptance
    "can we accept later?",
    "should we accept?",
    "do we accept now or wait?",
    "accept?",
    "ok to accept by Monday?",
    # a part accepted with an objection
    "we accept the payment terms, the price is too high",
    "we agree on the quantity but the price is too high",
    "we accept the delivery date",
    "agreed on the terms, now the price",
    "ok for the lead time, but too expensive",
    "we accept everything except the price",
    "deal on the terms, not on the price",
]


@pytest.mark.parametrize("text", DOUBTFUL_ACCEPTANCES)
@pytest.mark.parametrize("ctx", ["P12", "P12$", "BS$"])
def test_doubtful_acceptance_books_nothing(text: str, ctx: str) -> None:
    result = read(text, ctx)
    assert result.kind not in ("accept", "reject"), (result.kind, result.notes)


@pytest.mark.parametrize(("text", "kind", "topic"), [
    ("before we accept, what is the lead time?", "question", "lead_time"),
    ("we agree with the lead time, price is too high", "question", "price"),
    ("we accept the terms but not the price", "question", None),
])
def test_doubtful_acceptance_is_answered(text: str, kind: str, topic: str | None) -> None:
    result = read(text, "P12$")
    assert result.kind == kind, result.notes
    if topic is not None:
        assert result.question.topic == topic


TRUE_ACCEPTANCES = [
    ("we accept", "P12"), ("deal", "P12"), ("Deal.", "P12"), ("ok go ahead", "P12"), ("we accept P-12 v2", "P12"),
    ("accepted, thanks", "P12"), ("yes, let's do it", "P12"), ("we'll take it", "P12"),
    ("We'd like to accept proposal P-12 version 2.", "P12"), ("OK, we accept. Please send the invoice.", "P12"),
    ("we accept, no more haggling", "P30$"), ("sounds good, go ahead", "P12"), ("agreed", "P12"),
    ("we accept the offer", "P12"), ("we accept your proposal", "P12"), ("we accept the 500 units", "P12"),
    ("accepted", "P12$"), ("we accept the bearings and the seals", "P30$"), ("we will take it", "P12"),
    ("great, we accept your offer. thanks!", "P12"), ("please confirm the order", "P12"),
]


@pytest.mark.parametrize(("text", "ctx"), TRUE_ACCEPTANCES)
def test_true_acceptances_still_accept(text: str, ctx: str) -> None:
    result = read(text, ctx)
    assert result.kind == "accept", result.notes


# --- 2. an acceptance that names another quantity is a re-quote ----------------------------------------------

@pytest.mark.parametrize(("text", "qty"), [
    ("we accept but only 100 units", 100),
    ("we accept, but we need 1000 units", 1000),
    ("accepted, 300 pcs please", 300),
    ("we accept P-12 version 2 but only 100 units", 100),
    ("ok deal, but make it 800", 800),
    ("we'll take it, 250 pieces", 250),
    ("agreed for 1000 units", 1000),
    ("we accept 700 x BRG-6204", 700),
])
def test_acceptance_with_another_quantity_is_a_requote(text: str, qty: int) -> None:
    result = read(text, "P12$")
    assert result.kind in ("rfq", "counter_offer"), result.notes
    assert lines(result) == [(BRG, qty)]


def test_acceptance_of_version_1_with_another_quantity() -> None:
    result = read("we accept P-30 version 1 but only 100 units of the bearings", "P30$")
    assert result.kind not in ("accept", "reject"), result.notes


# --- 3. hesitation closes nothing; a rejection is clear -----------------------------------------------------

HESITATIONS = [
    "don't accept yet, still checking with finance",
    "I can't agree to that yet",
    "no thanks to the grease, just the bearings",
    "no, thank you for the quick answer! what about 1000 pcs?",
    "we cannot accept yet",
    "we can't agree to this price",
    "we cannot accept these terms",
    "not yet, we are still comparing",
    "we won't accept before Monday",
    "I can't accept until my manager signs",
    "no thanks for now, we will come back",
    "no thanks on the seals, just the bearings please",
    "no thank you for the suggestion, 500 bearings are enough",
    "we can't accept at the moment",
    "don't agree just yet",
]


@pytest.mark.parametrize("text", HESITATIONS)
@pytest.mark.parametrize("ctx", ["P12", "P12$"])
def test_hesitation_is_no_rejection(text: str, ctx: str) -> None:
    result = read(text, ctx)
    assert result.kind not in ("accept", "reject"), (result.kind, result.notes)


def test_no_thanks_with_another_quantity_is_that_quantity() -> None:
    result = read("no, thank you for the quick answer! what about 1000 pcs?", "P12$")
    assert result.kind == "rfq" and lines(result) == [(BRG, 1000)], result.notes


CLEAR_REJECTIONS = ["we reject", "no deal", "we'll pass", "not interested, close it", "we reject your offer",
                    "no thanks, too expensive, we'll pass", "we can't accept this offer", "sorry, we have to cancel",
                    "We will not proceed.", "no thanks", "No, thank you.", "we decline"]


@pytest.mark.parametrize("text", CLEAR_REJECTIONS)
def test_clear_rejections_still_reject(text: str) -> None:
    assert read(text, "P12").kind == "reject"


# --- 4. a line dropped while another is priced is dropped ------------------------------------------------------

@pytest.mark.parametrize(("text", "ctx", "kept", "price"), [
    ("drop the seals and do 3.05 for the bearings", "BS$", (BRG, 500), "3.05"),
    ("drop the seals and do 3.20 for the bearings", "P30$", (BRG, 300), "3.20"),
    ("without the seals we can do 3.20", "P30$", (BRG, 300), "3.20"),
    ("remove the seals, and 3.00 for the bearings please", "BS$", (BRG, 500), "3.00"),
])
def test_a_dropped_line_leaves_the_offer(text: str, ctx: str, kept: tuple[str, int], price: str) -> None:
    """The seller keeps a line a counter-offer does not name (agent/graph.py): a line dropped is an rfq for the
    others, with the price asked."""
    result = read(text, ctx)
    assert result.kind == "rfq", result.notes
    assert lines(result) == [kept]
    assert [(a.sku, str(a.unit_price)) for a in result.asked_prices] == [(kept[0], price)]


# --- 5. a line more never drops the others -------------------------------------------------------------------

@pytest.mark.parametrize(("text", "ctx", "expected"), [
    ("and 100 FST-M8X30-A2 too", "BB$", [(BRG, 500), (BRG5, 200), (SCREW, 100)]),
    ("100 FST-M8X30-A2 as well", "BB$", [(BRG, 500), (BRG5, 200), (SCREW, 100)]),
    ("and 100 FST-M8X30-A2 too", "P12", [(BRG, 500), (SCREW, 100)]),
    ("what about 300 BRG-6205?", "P30$", [(BRG, 300), (SEAL, 100), (BRG5, 300)]),
    ("how about 300 x BRG-6205 too?", "P30$", [(BRG, 300), (SEAL, 100), (BRG5, 300)]),
])
def test_a_line_more_keeps_the_others(text: str, ctx: str, expected: list[tuple[str, int]]) -> None:
    result = read(text, ctx)
    assert result.kind == "rfq", result.notes
    assert lines(result) == expected


# --- 6. amounts that are no unit price -----------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "500 x BRG-6204. ACME SAS, capital 1 000 000 EUR, RCS Lyon 123 456 789",
    "500 x BRG-6204. Our annual turnover is 12 million EUR",
    "500 x BRG-6204. Invoice 2026-0042 of 1,250.00 EUR is still open",
    "500 x BRG-6204. Share capital: 50,000 EUR",
    "500 x BRG-6204. Our revenue was 3.5 million USD last year",
    "500 x BRG-6204, the last invoice of 980.50 EUR was paid",
])
def test_amounts_of_a_signature_or_email_are_no_price(text: str) -> None:
    result = read(text, "none")
    assert result.kind == "rfq" and lines(result) == [(BRG, 500)], result.notes
    assert result.asked_prices == [], result.notes


@pytest.mark.parametrize(("text", "price"), [
    ("500 x BRG-6204, our budget is 1500 EUR", "3"),       # a total for the lot: 3.00 a unit
    ("500 x BRG-6204 at 310 cents", "3.10"),
    ("500 x BRG-6204 can you do 3€10", "3.10"),
    ("500 x BRG-6204 at 3€05 each", "3.05"),
    ("500 x BRG-6204 at 295 cents each", "2.95"),
    ("500 x BRG-6204 at 3.10 EUR", "3.10"),                 # still read
    ("500 x BRG-6204, our budget is 3.10 EUR per unit", "3.10"),
])
def test_prices_in_other_shapes(text: str, price: str) -> None:
    result = read(text, "none")
    assert result.kind == "rfq", result.notes
    assert [str(a.unit_price.normalize()) for a in result.asked_prices] == [str(Decimal(price).normalize())], \
        result.notes


# --- 7. a price goes to the line its words name ------------------------------------------------------------

def test_a_target_for_the_bearings_is_for_the_bearings() -> None:
    result = read("500 x BRG-6204 and 200 x FST-M8X30-A2. Our target for the bearings is around 3.10 EUR.", "none")
    assert [(a.sku, str(a.unit_price)) for a in result.asked_prices] == [(BRG, "3.10")], result.notes


def test_two_prices_after_two_lines_go_in_order() -> None:
    result = read("500 x BRG-6204 and 200 x FST-M8X30-A2 at 3.10 and 10.50", "none")
    assert [(a.sku, str(a.unit_price)) for a in result.asked_prices] == [(BRG, "3.10"), (SCREW, "10.50")], \
        result.notes


def test_a_price_no_word_attaches_is_not_attached() -> None:
    result = read("500 x BRG-6204 and 200 x FST-M8X30-A2. Our target is around 3.10 EUR.", "none")
    assert result.kind == "rfq" and result.asked_prices == [], result.notes


def test_a_price_right_after_its_line_stays_there() -> None:
    result = read("BRG-6204: 500 pcs @ 3.05 EUR, BRG-6205: 200 pcs @ 3.40 EUR", "none")
    assert [(a.sku, str(a.unit_price)) for a in result.asked_prices] == [(BRG, "3.05"), (BRG5, "3.40")]


# --- 8. only a date of delivery is the delivery date -------------------------------------------------------

EMAIL1 = ("Hi team,  Hope you are well. Following our call on 12/11/2026 with 3 of our engineers, we would like a "
          "quote for 500 x BRG-6204 delivered to our plant in Lyon before 15 January 2027. We have been buying about "
          "20000 per year from another supplier at 2.80 EUR but we are open. Please also confirm lead time. Best "
          "regards, Marie Dupont | Procurement Manager | ACME Industrie SAS | 14 rue de la Paix, 69002 Lyon, "
          "France | Tel: +33 4 78 12 34 56 | Mobile: 06 12 34 56 78 | VAT FR 12 345678901 | PO Box 1234")


@pytest.mark.parametrize(("text", "expected"), [
    (EMAIL1, "2027-01-15"),
    ("Hi, we need 200 FST-M8X30-A2. Regards, Hans Müller, Einkauf, Musterstraße 12, 80331 München, "
     "Tel. +49 89 1234567, Sent: 27.11.2026 14:05", None),
    ("As discussed in our meeting on 2026-09-01, 500 x BRG-6204 by 2026-12-15", "2026-12-15"),
    ("500 x BRG-6204, our email dated 3 June 2026", None),
    ("500 x BRG-6204 by 15.12.2026", "2026-12-15"),
])
def test_only_a_delivery_date_is_the_delivery_date(text: str, expected: str | None) -> None:
    result = read(text, "none")
    assert result.kind == "rfq", result.notes
    got = result.message.delivery_date
    assert (got.isoformat() if got else None) == expected, result.notes


# --- 9. quantities as they are written -------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("BRG-6204 x 1 500", [(BRG, 1500)]),
    ("need 2 000 BRG-6204", [(BRG, 2000)]),
    ("need 2'000 BRG-6204", [(BRG, 2000)]),
    ("quote 5k BRG-6204 please", [(BRG, 5000)]),
    ("2K BRG-6204", [(BRG, 2000)]),
    ("we need 2.5k of BRG-6205", [(BRG5, 2500)]),
    ("500pcs BRG6204", [(BRG, 500)]),
    ("500 x brg6205", [(BRG5, 500)]),
    ("500 units of the 6204 bearings", [(BRG, 500)]),
    ("1 000 x BRG-6204 and 2 500 x BRG-6205", [(BRG, 1000), (BRG5, 2500)]),
])
def test_quantities_as_written(text: str, expected: list[tuple[str, int]]) -> None:
    result = read(text, "none")
    assert result.kind == "rfq", result.notes
    assert lines(result) == expected


# --- 10. an acceptance that cannot be taken says why -----------------------------------------------------------

def test_an_acceptance_of_another_proposal_says_which_is_current() -> None:
    result = read("we accept proposal P-13", "P12")
    assert result.kind == "unknown"
    assert any("P-13" in n and "P-12" in n for n in result.notes), result.notes


# --- 11. a question about a price is no counter-offer ---------------------------------------------------------

@pytest.mark.parametrize("text", ["is 3.05 your final price?", "is 3.00 your best price?",
                                  "would 3.05 be your final offer?"])
def test_a_question_about_a_price_is_no_counter(text: str) -> None:
    result = read(text, "P12$")
    assert result.kind == "question", (result.kind, result.notes)


def test_a_zero_quantity_says_why() -> None:
    result = read("0 x BRG-6204", "none")
    assert result.kind == "unknown"
    assert any("at least 1" in n for n in result.notes), result.notes


def test_a_date_of_a_call_is_no_delivery_date_where_day_and_month_read() -> None:
    """In the EU (day first) "12/11/2026" reads as 12 November 2026: a past date the seller refused as the
    delivery date, though it was the date of a call."""
    result = understand(EMAIL1, TextContext(catalog=CATALOG, region="EU"), today=TODAY.replace(year=2026, month=12))
    assert result.kind == "rfq" and result.message.delivery_date.isoformat() == "2027-01-15", result.notes


def test_a_price_grouped_by_spaces_keeps_its_currency() -> None:
    result = read("2 x BRG-6204 for 1 500 EUR total", "none")
    assert [a.unit_price for a in result.asked_prices] == [Decimal(750)], result.notes


def test_an_acceptance_without_a_version_is_answered_with_what_to_name(tmp_path) -> None:
    """QA finding 10: "we accept proposal P-12" was answered "I could not find a request in your message" although the
    parser knew why; and "0 x BRG-6204" got the general help although the parser knew the quantity was the problem."""
    from agent.config import load_data
    from agent.service import Buyer, Seller

    seller = Seller.open(*load_data(), f"sqlite:///{tmp_path / 'v.db'}")
    try:
        nid = seller.start(Buyer(org="qa-version", region="EU"))
        first = seller.send(nid, text="we accept proposal P-12")
        assert first.text.startswith("There is no proposal to accept yet")
        zero = seller.send(nid, text="0 x BRG-6204")
        assert zero.text.startswith("A quantity is a whole number of units, at least one")
        offer = seller.send(nid, text="500 x BRG-6204").data
        reply = seller.send(nid, text="we accept proposal P-12")  # not this negotiation's proposal
        assert reply.text.startswith("To accept, name the proposal and its version as below"), reply.text
        assert f"Proposal {offer['proposal_id']} version {offer['version']}" in reply.text and reply.type == "answer"
        # the current proposal by its id alone is accepted as it stands
        assert seller.send(nid, text=f"we accept proposal {offer['proposal_id']}").type == "deal"
    finally:
        seller.close()
