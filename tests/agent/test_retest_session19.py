"""Retest of session 19's features (made-to-order products, the text reader's new readings): what a skeptical
tester found broken, pinned."""

from __future__ import annotations

import pytest

from agent.intent import DELIVERY_ELSEWHERE
from agent.offline.context import TextContext
from agent.offline.understand import understand
from agent.service import Buyer, Seller
from tests.offline.test_understand import CATALOG, TODAY

MTO = "BRG-22210-E"
EU = TextContext(catalog=CATALOG, region="EU")


@pytest.fixture
def seller(dd_seller_factory) -> Seller:
    return dd_seller_factory()


# --- a place named beside an rfq but not as its destination is no delivery elsewhere ----------------------------

@pytest.mark.parametrize("text", ["need 500 x BRG-6204 - Tokyo Electric quoted us 2.50",
                                  "need 500 x BRG-6204 for our Tokyo project"])
def test_a_place_that_is_no_destination_does_not_refuse_the_rfq(text: str) -> None:
    result = understand(text, EU, today=TODAY)
    assert DELIVERY_ELSEWHERE not in result.notes and result.kind == "rfq", (result.kind, result.notes)


@pytest.mark.parametrize("text", ["500 x BRG-6204 delivered to Tokyo", "need 500 x BRG-6204 shipped to Sydney",
                                  "500 x BRG-6204 for our plant in Osaka", "500 x BRG-6204 to the UK"])
def test_an_rfq_for_a_destination_elsewhere_is_still_refused_guard(text: str) -> None:
    result = understand(text, EU, today=TODAY)
    assert DELIVERY_ELSEWHERE in result.notes, (result.kind, result.notes)


def test_a_competitor_named_after_a_city_is_quoted(seller) -> None:
    nid = seller.start(Buyer(org="r19-tokyo-electric", region="EU"))
    reply = seller.send(nid, text="need 100 x BRG-6204 - Tokyo Electric quoted us 2.50")
    assert reply.data["type"] == "proposal", reply.text


# --- a stock question on a made-to-order product says it is made to order ---------------------------------------

def test_a_stock_question_on_a_made_to_order_product_says_made_to_order(seller) -> None:
    nid = seller.start(Buyer(org="r19-mto-stock", region="EU"))
    reply = seller.send(nid, text=f"is {MTO} in stock?")
    assert "made to order" in reply.text and "our stock" not in reply.text, reply.text


def test_a_stock_question_on_a_stocked_product_keeps_its_words_guard(seller) -> None:
    nid = seller.start(Buyer(org="r19-stock", region="EU"))
    reply = seller.send(nid, text="is BRG-6204 in stock?")
    assert reply.text.endswith("a proposal confirms it against our stock."), reply.text
    assert "made to order" not in reply.text
