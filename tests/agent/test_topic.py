"""The products a conversation is about while no proposal stands (agent/topic.py): what each turn names, and a
later text turn that names none ("500 then", "ok what about 1500?") going on with them, also in a new process."""

from __future__ import annotations

from decimal import Decimal

import pytest
from langchain_core.messages import AIMessage, HumanMessage, messages_to_dict

from agent.service import Buyer, Seller
from agent.topic import last_topic, turn_topic, with_quantities

KNOWN = {"BRG-6204", "BRG-6205"}


def test_a_turn_names_the_lines_of_its_rfq_counter_question_or_lookup() -> None:
    rfq = {"kind": "rfq", "message": {"type": "rfq", "items": [{"sku": "BRG-6205", "quantity": "5000"}]}}
    assert turn_topic(rfq, KNOWN) == [{"sku": "BRG-6205", "quantity": 5000}]
    counter = {"kind": "counter_offer", "message": {"items": [{"sku": "BRG-6204", "quantity": "300",
                                                              "unit_price": "3.00"}]}}
    assert turn_topic(counter, KNOWN) == [{"sku": "BRG-6204", "quantity": 300}]
    one = {"kind": "question", "question": {"topic": "lead_time", "skus": ["BRG-6205"], "quantity": 500}}
    assert turn_topic(one, KNOWN) == [{"sku": "BRG-6205", "quantity": 500}]
    two = {"kind": "question", "question": {"topic": "compatibility", "skus": ["BRG-6204", "BRG-6205"]}}
    assert turn_topic(two, KNOWN) == [{"sku": "BRG-6204", "quantity": None}, {"sku": "BRG-6205", "quantity": None}]
    lookup = {"kind": "catalog_query", "message": {"type": "catalog_query", "sku": "BRG-6204"}}
    assert turn_topic(lookup, KNOWN) == [{"sku": "BRG-6204", "quantity": None}]


def test_a_search_that_found_one_product_makes_it_the_topic_with_the_quantity_it_named() -> None:
    search = {"kind": "catalog_query", "message": {"type": "catalog_query", "query": "6205"}, "quantity": 800}
    assert turn_topic(search, KNOWN, ["BRG-6205"]) == [{"sku": "BRG-6205", "quantity": 800}]
    assert turn_topic(search, KNOWN, ["BRG-6204", "BRG-6205"]) is None  # which one? the topic stays
    assert turn_topic(search, KNOWN, []) is None


def test_a_quantity_named_before_stays_with_its_product() -> None:
    before = [("BRG-6205", 800), ("BRG-6204", None)]
    topic = [{"sku": "BRG-6205", "quantity": None}, {"sku": "BRG-6204", "quantity": None}]
    assert with_quantities(topic, before) == [{"sku": "BRG-6205", "quantity": 800}, {"sku": "BRG-6204", "quantity": None}]
    assert with_quantities([{"sku": "BRG-6205", "quantity": 300}], before) == [{"sku": "BRG-6205", "quantity": 300}]
    assert with_quantities(None, before) is None and with_quantities(topic, []) == topic


def test_a_turn_that_names_no_catalog_product_leaves_the_topic_as_it_was() -> None:
    for intent in ({"kind": "accept", "message": {"proposal_id": "P-1", "version": 1}},
                   {"kind": "unknown"}, {"kind": "catalog_query", "message": {"query": "bearings"}},
                   {"kind": "rfq", "message": {"items": [{"sku": "NOPE-1", "quantity": "5"}]}}, None):
        assert turn_topic(intent, KNOWN) is None


def test_the_last_reply_with_a_topic_wins() -> None:
    history = messages_to_dict([
        HumanMessage("need 5000 x BRG-6205", name="buyer"),
        AIMessage("...", name="seller", additional_kwargs={"data": None, "topic": [{"sku": "BRG-6205",
                                                                                     "quantity": 5000}]}),
        HumanMessage("what is the bore of BRG-6204?", name="buyer"),
        AIMessage("...", name="seller", additional_kwargs={"topic": [{"sku": "BRG-6204", "quantity": None}]}),
        HumanMessage("hello", name="buyer"),
        AIMessage("...", name="seller", additional_kwargs={"data": None}),  # named nothing
        AIMessage("", additional_kwargs={"topic": [{"sku": "BRG-6205", "quantity": 1}]}),  # not the seller's reply
    ])
    assert last_topic(history) == [("BRG-6204", None)]
    assert last_topic([]) == []


@pytest.fixture
def seller(dd_seller_factory) -> Seller:
    return dd_seller_factory()


def test_a_refused_rfq_goes_on_with_another_quantity(seller: Seller) -> None:
    nid = seller.start(Buyer(org="acme-eu", region="EU"))
    refused = seller.send(nid, text="need 5000 x BRG-6205")
    assert refused.type == "error" and refused.data["code"] == "insufficient_inventory"
    reply = seller.send(nid, text="ok what about 1500?")
    assert reply.type == "proposal", reply.text
    assert [(i["sku"], i["quantity"]) for i in reply.data["items"]] == [("BRG-6205", "1500")]
    notes = next(r for r in seller.store.records(nid) if r["turn"] == 2 and r["node"] == "understand")
    assert any("read as a quantity" in n for n in notes["dealdesk.intent.notes"])


def test_a_question_on_a_product_makes_it_what_a_bare_quantity_orders(seller: Seller) -> None:
    nid = seller.start(Buyer(org="acme-eu", region="EU"))
    answer = seller.send(nid, text="what is the bore of BRG-6204?")
    assert answer.data is None and "20" in answer.text
    reply = seller.send(nid, text="500 then")
    assert reply.type == "proposal", reply.text
    assert [(i["sku"], i["quantity"]) for i in reply.data["items"]] == [("BRG-6204", "500")]
    # a standing offer is what later words refer to, not an earlier question on another product
    seller.send(nid, text="what is the bore of BRG-6205?")
    again = seller.send(nid, text="1000 then")
    assert again.type == "proposal" and again.data["version"] == 2
    assert [(i["sku"], i["quantity"]) for i in again.data["items"]] == [("BRG-6204", "1000")]
    assert Decimal(again.data["items"][0]["unit_price"]) <= Decimal(reply.data["items"][0]["unit_price"])


def test_with_nothing_named_before_a_bare_quantity_is_not_understood(seller: Seller) -> None:
    nid = seller.start(Buyer(org="acme-eu", region="EU"))
    reply = seller.send(nid, text="500 then")
    assert reply.data is None and reply.text.startswith("I can help with product questions")


def test_the_topic_survives_a_new_seller_on_the_same_database(dd_demo, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'topic.sqlite'}"
    first = Seller.open(*dd_demo, url)
    nid = first.start(Buyer(org="acme-eu", region="EU"))
    assert first.send(nid, text="tell me about BRG-6205").data is None
    first.close()
    second = Seller.open(*dd_demo, url)
    try:
        reply = second.send(nid, text="ok, 200 please")
        assert reply.type == "proposal", reply.text
        assert [(i["sku"], i["quantity"]) for i in reply.data["items"]] == [("BRG-6205", "200")]
    finally:
        second.close()


def test_from_a_search_to_a_deal_without_naming_the_sku_again(seller: Seller) -> None:
    """A procurement bot's way in: a search with a quantity that finds one product, then its price, a target and
    other terms, each without the SKU; the price question is answered for the quantity searched."""
    nid = seller.start(Buyer(org="acme-eu", region="EU"))
    found = seller.send(nid, text="Hello, we are sourcing 6205 bearings, about 800 pcs. Do you have them?")
    assert found.text.startswith("Matching products: BRG-6205 (")
    price = seller.send(nid, text="what is your price?")
    assert price.text.startswith("Volume prices for BRG-6205 ") and "For 800 units: " in price.text
    assert "6205" in seller.send(nid, text="what is the bore?").text  # names no quantity: the 800 stays
    offer = seller.send(nid, text="that is too high, our target is 3.20")
    assert offer.type == "proposal" and [(i["sku"], i["quantity"]) for i in offer.data["items"]] == [("BRG-6205", "800")]
    asked = next(r for r in seller.store.records(nid) if r["turn"] == offer.turn and r["node"] == "understand")
    assert asked["dealdesk.intent"] == "rfq"
    deal = seller.send(nid, text="ok, we accept")
    assert deal.type == "deal"


def test_a_search_with_a_closest_match_makes_it_what_later_words_are_about(seller: Seller) -> None:
    """Three sensors match "M12 inductive sensors"; only one has M12 in its name: the reply says it is the
    closest match, and "what is the sensing distance?" and "we need 40" are about it."""
    nid = seller.start(Buyer(org="acme-eu", region="EU"))
    found = seller.send(nid, text="Do you have M12 inductive sensors?")
    assert found.text.startswith("Matching products: SNS-PRX-M12 (") and "The closest match is SNS-PRX-M12." in found.text
    assert seller.send(nid, text="what is the sensing distance?").text == "SNS-PRX-M12 sensing_range_mm: 4."
    offer = seller.send(nid, text="we need 40")
    assert offer.type == "proposal" and [(i["sku"], i["quantity"]) for i in offer.data["items"]] == [("SNS-PRX-M12", "40")]


def test_a_product_that_goes_with_the_offer_is_added_by_a_word_of_its_name(seller: Seller) -> None:
    """On an offer for sensors, "also add 40 of the matching cables" is an rfq for both: the sensor line as
    offered and the cable the catalog says goes with it; "what is the total?" restates the offer."""
    nid = seller.start(Buyer(org="acme-eu", region="EU"))
    first = seller.send(nid, text="need 40 x SNS-PRX-M12")
    assert first.type == "proposal"
    both = seller.send(nid, text="also add 40 of the matching cables")
    assert both.type == "proposal" and both.data["version"] == 2
    assert [(i["sku"], i["quantity"]) for i in both.data["items"]] == [("SNS-PRX-M12", "40"), ("SNS-CBL-M12-5M", "40")]
    total = seller.send(nid, text="what is the total?")
    assert total.text.startswith("Our offer stands. ") and f"Total {both.data['total']} EUR" in total.text
