"""A made-to-order product (`inventory.made_to_order`, BRG-22210-E in the demo catalog): quoted, negotiated and
sold with no stock, at the capacity's restock lead time, holding and allocating nothing; a stocked product with
no stock left is still refused."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from agent.service import Buyer, Seller
from agent.store.db import utcnow
from tools.policy.desk import Desk
from tools.pricing.models import BuyerContext

MTO = "BRG-22210-E"
QTY = 500


def rfq(sku: str = MTO, qty: int = QTY) -> dict[str, Any]:
    return {"type": "rfq", "items": [{"sku": sku, "quantity": str(qty)}]}


@pytest.fixture
def seller(dd_seller_factory) -> Seller:
    return dd_seller_factory()


@pytest.fixture
def surface(dd_demo):
    catalog, policy = dd_demo
    desk = Desk(catalog, policy, BuyerContext(region="EU", segment="standard", payment_terms="NET30",
                                              on=utcnow().date()))
    return desk.surface(MTO, QTY)


def test_the_demo_product_is_made_to_order_and_its_surface_says_so(dd_demo, surface) -> None:
    catalog, _ = dd_demo
    product = catalog.products[MTO]
    assert product.inventory.made_to_order and product.inventory.on_hand == 0
    assert surface.made_to_order and surface.max_hold_units is None
    # 500 units at 40 a week: the first arrive after the restock lead time, the last twelve weeks later.
    assert surface.lead_time_days == product.capacity.restock_lead_time_days + 12 * 7
    # The low-stock rule ("under 25 on hand: no discounts") is about scarce stock, not a product made to order.
    assert "stock-low" not in surface.pricing.rules_applied and surface.no_discounts_rule is None
    assert surface.max_discount_percent > 0


def test_an_rfq_is_offered_with_the_restock_lead_time_and_holds_nothing(seller, surface) -> None:
    nid = seller.start(Buyer(org="mto-a", region="EU"))
    reply = seller.send(nid, data=rfq())
    assert reply.data["type"] == "proposal", reply.text
    (item,) = reply.data["items"]
    assert item["sku"] == MTO and item["quantity"] == str(QTY)
    assert int(item["lead_time_days"]) == surface.lead_time_days
    assert Decimal(item["unit_price"]) >= surface.floor_price
    assert seller.store.active_holds("mto-a") == []
    assert seller.store.stock(MTO) == {"on_hand": 0, "allocated": 0, "held": 0, "available": 0}


def test_a_negotiation_on_a_made_to_order_product_ends_in_a_deal_that_allocates_nothing(seller) -> None:
    nid = seller.start(Buyer(org="mto-b", region="EU"))
    offer = seller.send(nid, data=rfq()).data
    deal = seller.send(nid, data={"type": "accept", "proposal_id": offer["proposal_id"],
                                  "version": offer["version"]})
    assert deal.data["type"] == "deal", deal.text
    assert deal.data["items"][0]["sku"] == MTO and deal.data["total"] == offer["total"]
    assert seller.store.stock(MTO) == {"on_hand": 0, "allocated": 0, "held": 0, "available": 0}
    assert seller.store.get_negotiation(nid).status == "deal"


def test_a_mixed_order_holds_the_stocked_line_only(seller) -> None:
    nid = seller.start(Buyer(org="mto-c", region="EU"))
    before = seller.store.stock("BRG-6204")["available"]
    reply = seller.send(nid, data={"type": "rfq", "items": [{"sku": MTO, "quantity": "20"},
                                                              {"sku": "BRG-6204", "quantity": "100"}]})
    assert reply.data["type"] == "proposal", reply.text
    holds = seller.store.active_holds("mto-c")
    assert [(h["sku"], h["quantity"]) for h in holds] == [("BRG-6204", 100)]
    assert seller.store.stock("BRG-6204")["available"] == before - 100
    deal = seller.send(nid, data={"type": "accept", "proposal_id": reply.data["proposal_id"],
                                  "version": reply.data["version"]})
    assert deal.data["type"] == "deal", deal.text
    assert seller.store.stock("BRG-6204")["allocated"] == 100
    assert seller.store.stock(MTO)["allocated"] == 0


def test_a_delivery_question_says_made_to_order(seller, surface) -> None:
    nid = seller.start(Buyer(org="mto-d", region="EU"))
    reply = seller.send(nid, data={"type": "question", "topic": "lead_time", "skus": [MTO], "quantity": str(QTY)})
    assert "made to order" in reply.text and "from stock" not in reply.text, reply.text
    assert f"{surface.lead_time_days} days" in reply.text


def test_a_stocked_product_beyond_its_stock_is_still_refused(seller) -> None:
    nid = seller.start(Buyer(org="mto-e", region="EU"))
    stock = seller.store.stock("BRG-6204")["available"]
    reply = seller.send(nid, data=rfq("BRG-6204", stock + 1))
    assert reply.data["type"] == "error" and reply.data["code"] == "insufficient_inventory", reply.text


def test_a_catalog_query_shows_it_made_to_order(seller, dd_demo) -> None:
    catalog, _ = dd_demo
    nid = seller.start(Buyer(org="mto-f", region="EU"))
    reply = seller.send(nid, data={"type": "catalog_query", "sku": MTO})
    (product,) = reply.data["products"]
    for offer in product["offers"]:
        assert offer["availability"] == "https://schema.org/MadeToOrder"
        assert offer["deliveryLeadTime"]["value"] == catalog.products[MTO].capacity.restock_lead_time_days


def test_the_lookup_tool_gives_the_made_to_order_lead_time(dd_demo) -> None:
    from tools.seller_tools import build_tools

    catalog, policy = dd_demo
    desk = Desk(catalog, policy, BuyerContext(region="EU", on=utcnow().date()))
    (lookup,) = [t for t in build_tools(lambda state: desk) if t.name == "catalog_lookup"]
    _, result = lookup.func(state={}, sku=MTO)
    (product,) = result["products"]
    assert product["made_to_order"] is True
    assert product["lead_time_days"] == catalog.products[MTO].capacity.restock_lead_time_days


@pytest.mark.parametrize("text", [f"what is the lead time of {MTO}?", f"tell me about {MTO}"])
def test_a_text_question_says_made_to_order(seller, dd_demo, text) -> None:
    catalog, _ = dd_demo
    nid = seller.start(Buyer(org="mto-g", region="EU"))
    reply = seller.send(nid, text=text)
    assert "made to order" in reply.text and "from stock" not in reply.text, reply.text
    assert f"{catalog.products[MTO].capacity.restock_lead_time_days} days" in reply.text, reply.text


def test_policy_explain_says_nothing_is_held(tmp_path) -> None:
    from typer.testing import CliRunner

    from agent.cli import app

    result = CliRunner().invoke(app, ["policy", "explain", MTO, "--qty", "500", "--region", "EU"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "none held (made to order)" in result.output and "catalog.inventory.made_to_order" in result.output
    assert "119 days" in result.output
