"""Findings of the fifth plain-text QA pass: a shaft diameter ("bearing for 20mm shaft") was searched as the word
"shaft" and found nothing, and an empty search did not say what it looked for; "what is your price in USD?" restated
the EUR offer without a word on the currency; "are you a bot?" got "I could not find a request" (an AI disclosure is
owed: EU AI Act art. 50); "please send the quote as PDF" restated the offer; "another 100 of the 6205" on an offer of
two lines asked which line; "1000 by Friday?" was read as a lead-time question on the 500 offered; "we need 2 more
days" searched the catalog for "day".

Same catalog and `today` as test_understand.py; `OFFER` is the offer a first rfq for 500 x BRG-6204 gets in the EU
(3.25 EUR, NET30), `TWO` one for 500 x BRG-6204 and 300 x BRG-6205. Tests named `..._guard` held before these
changes too: they pin what the new readings must not take over.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from agent.offline.context import TextContext
from agent.offline.understand import understand
from tests.offline.test_qa_text import BRG
from tests.offline.test_understand import CATALOG, TODAY

OFFER = TextContext(catalog=CATALOG, proposal_id="P-12", proposal_version=2, proposal_skus=(BRG,),
                    proposal_quantities=(500,), proposal_prices=(Decimal("3.25"),), proposal_terms="NET30",
                    region="EU", currency="EUR")
TWO = TextContext(catalog=CATALOG, proposal_id="P-12", proposal_version=2, proposal_skus=(BRG, "BRG-6205"),
                  proposal_quantities=(500, 300), proposal_prices=(Decimal("3.25"), Decimal("3.88")),
                  proposal_terms="NET30", region="EU", currency="EUR")
EU = TextContext(catalog=CATALOG, region="EU")
FRIDAY = date(2026, 6, 5)


def read(text: str, ctx: TextContext = OFFER):
    return understand(text, ctx, today=TODAY)


def lines(result) -> list[tuple[str, int]]:
    return [(i.sku, i.quantity) for i in result.message.items]


def _start(seller, org: str, region: str = "EU") -> str:
    from agent.service import Buyer

    return seller.start(Buyer(org=org, region=region))


def _offer(seller, org: str, text: str = "need 500 x BRG-6204") -> tuple[str, dict]:
    nid = _start(seller, org)
    offer = seller.send(nid, text=text).data
    assert offer["type"] == "proposal", offer
    return nid, offer


# --- 1. a shaft diameter, and the other names of spec keys -------------------------------------------------------

@pytest.mark.parametrize(("text", "category", "specs", "query"), [
    ("bearing for 20mm shaft", "bearings", {"bore_mm": "20"}, None),                      # the QA's
    ("hi, what bearings do you have for a 20mm shaft?", "bearings", {"bore_mm": "20"}, None),  # the QA's
    ("seal for 20 mm shaft", None, {"shaft_diameter_mm": "20"}, "seal"),       # a seal's is the shaft diameter
    ("coupling for 28mm shaft", None, {"bore_mm": "28"}, "coupling"),
    ("motor with a 24mm shaft", "motors", {"shaft_diameter_mm": "24"}, None),
    ("bearing with 47 mm outside diameter", "bearings", {"outer_diameter_mm": "47"}, None),  # was "diameter" too
    ("bearing with 20mm inner diameter", "bearings", {"bore_mm": "20"}, None),
    ("M8 screws 30mm long", None, {"length_mm": "30"}, "M8 screw"),                     # was "M8 screw long"
    ("screws thread M8 length 30mm", None, {"length_mm": "30", "thread": "M8"}, "screw"),
    ("gloves size 9", None, {"size": "9"}, "glove"),                                    # was no request
])
def test_spec_words_are_read_as_spec_filters(text: str, category, specs, query) -> None:
    result = read(text, EU)
    assert result.kind == "catalog_query", (result.kind, result.notes)
    msg = result.message
    assert (msg.category, msg.specs, msg.query) == (category, specs, query), result.notes


def test_a_washer_by_its_inner_diameter_guard() -> None:
    result = read("washer 8.4mm ID", EU)
    assert (result.message.specs, result.message.query) == ({"inner_diameter_mm": "8.4"}, "washer"), result.notes


@pytest.mark.parametrize(("text", "query"), [("stainless M8 nuts", "stainless M8 nut"), ("washers for M8", "washer M8")])
def test_product_words_alone_are_a_search(text: str, query: str) -> None:
    result = read(text, EU)  # was "no request recognised"
    assert result.kind == "catalog_query" and result.message.query == query, (result.kind, result.notes)


@pytest.mark.parametrize("text", ["a bearing with a 20 mm bore", "bearing OD 47mm", "1.1kW motor"])
def test_spec_readings_that_worked_guard(text: str) -> None:
    result = read(text, EU)
    assert result.kind == "catalog_query" and result.message.specs and not result.message.query, result.notes


@pytest.mark.parametrize("text", ["bearing for 20mm shaft", "hi, what bearings do you have for a 20mm shaft?"])
def test_a_bearing_for_a_shaft_finds_the_bearings_of_that_bore(seller, text: str) -> None:
    reply = seller.send(_start(seller, "qa5-shaft"), text=text)
    assert "BRG-6204 " in reply.text and "BRG-6204-ZZ" in reply.text, reply.text
    assert "no matching" not in reply.text


def test_an_empty_search_says_what_it_searched_for(seller) -> None:
    reply = seller.send(_start(seller, "qa5-empty"), text="bearing with a 35mm bore")
    # the figure is the search's own (a fact of the lookup that found nothing): the guardrail lets it through
    assert reply.text.startswith("I found no products in bearings with bore_mm 35."), reply.text
    reply = seller.send(_start(seller, "qa5-empty2"), text="motor at least 20 kW")
    assert reply.text.startswith("I found no products in motors with power_kw >= 20."), reply.text


# --- 2. the currency of the prices -------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "currency"), [
    ("what is your price in USD?", "USD"),                  # the QA's
    ("can you quote in dollars?", "USD"),
    ("do you accept payment in dollars?", "USD"),
    ("can we get that in GBP?", "GBP"),
    ("which currency do you invoice in?", None),
])
def test_a_currency_question_is_read(text: str, currency) -> None:
    result = read(text)
    assert result.kind == "question" and result.question.topic == "currency", (result.kind, result.notes)
    assert result.question.currency == currency and result.question.skus == [BRG]


def test_currency_beside_other_terms_and_prices_guard() -> None:
    assert read("what are your payment terms and currency?").question.topic == "terms"
    assert read("3.10 USD?").kind == "unknown"                     # a price in another currency: as before
    rfq = read("need 500 x BRG-6205 in USD", EU)                   # an rfq in USD: the seller refuses it, as before
    assert rfq.kind == "rfq" and rfq.message.currency == "USD"


def test_a_currency_question_on_an_offer_says_the_regions_currency(seller) -> None:
    nid, offer = _offer(seller, "qa5-usd")
    reply = seller.send(nid, text="what is your price in USD?")
    assert reply.text.startswith("Prices for your region (EU) are in EUR. USD is not offered in your region"), \
        reply.text
    assert "Our offer stands." in reply.text and "3.25 EUR" in reply.text and "$" not in reply.text
    assert reply.data["type"] == "answer" and reply.data["proposal_id"] == offer["proposal_id"], reply.data


def test_a_currency_question_with_no_offer_says_the_regions_currency(seller) -> None:
    reply = seller.send(_start(seller, "qa5-usd2", region="US"), text="can you quote in euros?")
    assert reply.text.startswith("Prices for your region (US) are in USD. EUR is not offered"), reply.text
    assert reply.data["type"] == "answer", reply.data


# --- 3. who answers: an AI disclosure ----------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "who am I talking to? are you a bot?",                  # the QA's
    "is this a human?",                                     # the QA's
    "am I talking to an AI?",                               # the QA's
    "Hello, are you an AI agent?",
    "can I talk to a real person?",
    "is a human reviewing this?",
    "are you a real person or a bot?",
])
def test_who_answers_is_an_identity_question(text: str) -> None:
    result = read(text)
    assert result.kind == "question" and result.question.topic == "identity", (result.kind, result.notes)


@pytest.mark.parametrize("text", ["are you able to ship by Friday?", "is this available?",
                                  "who is the manufacturer of BRG-6204?", "what are your payment terms?"])
def test_other_questions_with_you_and_this_guard(text: str) -> None:
    result = read(text)
    assert result.kind != "question" or result.question.topic != "identity", result.notes


def test_an_identity_question_on_an_offer_is_answered_truthfully_with_the_offer(seller) -> None:
    nid, offer = _offer(seller, "qa5-bot")
    reply = seller.send(nid, text="who am I talking to? are you a bot?")
    assert reply.text.startswith("You are talking to our automated sales agent, an AI system, not a person."), \
        reply.text
    assert "approved by a person" in reply.text and "Our offer stands." in reply.text, reply.text
    assert reply.data["proposal_id"] == offer["proposal_id"], reply.data


def test_an_identity_question_with_no_offer_is_answered_truthfully(seller) -> None:
    reply = seller.send(_start(seller, "qa5-bot2"), text="is this a human?")
    assert reply.text.startswith("You are talking to our automated sales agent, an AI system"), reply.text
    assert "could not find a request" not in reply.text


# --- 4. the form of an offer -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["please send the quote as PDF", "can you email me the offer?",
                                  "can you send a formal quotation on your letterhead?", "excel file please"])
def test_a_file_or_e_mail_asked_is_a_format_question(text: str) -> None:
    result = read(text)
    assert result.kind == "question" and result.question.topic == "format", (result.kind, result.notes)


def test_a_quote_by_e_mail_with_a_quantity_is_an_rfq_guard() -> None:
    result = read("can you email me a quote for 200 x BRG-6205?", EU)
    assert result.kind == "rfq" and lines(result) == [("BRG-6205", 200)], result.notes


def test_a_pdf_asked_on_an_offer_says_offers_are_data(seller) -> None:
    nid, offer = _offer(seller, "qa5-pdf")
    reply = seller.send(nid, text="please send the quote as PDF")
    assert reply.text.startswith("We do not send PDF or other files"), reply.text
    assert "structured data" in reply.text and "Our offer stands." in reply.text, reply.text
    assert reply.data["proposal_id"] == offer["proposal_id"]


# --- 5. a line named by its number, a quantity by a date, more days ----------------------------------------------

@pytest.mark.parametrize("text", ["another 100 of the 6205", "100 more of the 6205", "100 more of the 6205 bearings",
                                  "another 100 of BRG-6205"])
def test_more_of_a_line_named_by_its_number(text: str) -> None:
    result = read(text, TWO)  # was WHICH_LINE; with the SKU, an rfq for 100 x BRG-6205 alone
    assert result.kind == "rfq" and lines(result) == [(BRG, 500), ("BRG-6205", 400)], (result.kind, result.notes)


def test_a_number_names_the_one_line_whose_sku_ends_with_it() -> None:
    ctx = TextContext(catalog=CATALOG, proposal_id="P-12", proposal_version=2, proposal_skus=(BRG, "BRG-6204-ZZ"),
                      proposal_quantities=(500, 300), region="EU", currency="EUR")
    result = read("another 100 of the 6204", ctx)  # only BRG-6204 ends with it (BRG-6204-ZZ is a variant)
    assert result.kind == "rfq" and lines(result) == [(BRG, 600), ("BRG-6204-ZZ", 300)], result.notes


@pytest.mark.parametrize("text", ["another 100", "another 100 of the 6206"])
def test_no_line_named_still_asks_which_guard(text: str) -> None:
    assert read(text, TWO).notes[-1] == "a quantity for one line of several, not saying which"


def test_another_line_by_its_number_on_the_offer(seller) -> None:
    nid, offer = _offer(seller, "qa5-6205", "need 500 x BRG-6204 and 300 x BRG-6205")
    reply = seller.send(nid, text="another 100 of the 6205")
    assert reply.data["type"] == "proposal", reply.text
    assert [(i["sku"], i["quantity"]) for i in reply.data["items"]] == [(BRG, "500"), ("BRG-6205", "400")]


@pytest.mark.parametrize("text", ["1000 by Friday?", "1000 by Friday", "1000 delivered by June 20?"])
def test_a_number_by_a_date_is_that_quantity_by_then(text: str) -> None:
    result = read(text)  # was a lead-time question for the 500 offered
    assert result.kind == "rfq" and lines(result) == [(BRG, 1000)], (result.kind, result.notes)
    assert result.message.delivery_date in (FRIDAY, date(2026, 6, 20))


def test_the_offered_quantity_by_a_date_is_a_lead_time_question_guard() -> None:
    result = read("500 by Friday?")
    assert result.kind == "question" and result.question.topic == "lead_time" and result.question.date == FRIDAY


@pytest.mark.parametrize("text", ["we need 2 more days", "we need 2 more days to decide", "give us another week",
                                  "we need 2 more days to get approval"])
def test_more_days_leave_the_offer_standing(text: str) -> None:
    result = read(text)  # was a catalog search for "day"
    assert result.kind == "question" and result.question.topic == "price", (result.kind, result.notes)
    assert any("it stands" in n for n in result.notes), result.notes


def test_more_days_with_no_offer_search_nothing() -> None:
    assert read("we need 2 more days", EU).kind == "unknown"


def test_more_days_live(seller) -> None:
    nid, _ = _offer(seller, "qa5-days")
    reply = seller.send(nid, text="we need 2 more days")
    assert reply.text.startswith("Our offer stands."), reply.text
