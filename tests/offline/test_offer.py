"""agent/offline/offer.py: what words ask of the current offer, priced from the offer's own figures (the parser and
the text model's reading share these), with a note per line saying how each price was reached."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from agent.contract import CounterItem
from agent.offline.context import TextContext
from agent.offline.offer import discount_items, midpoint_items, total_items, with_offer_lines
from tools.catalog import load_catalog

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "examples" / "catalog.yaml")
SEAL = "BRG-SEAL-20477"
# bearings 300 x 3.40 and seals 100 x 0.96: 1116.00 in all
OFFER = TextContext(catalog=CATALOG, proposal_id="P-30", proposal_version=1, proposal_skus=("BRG-6204", SEAL),
                    proposal_quantities=(300, 100), proposal_prices=(D("3.40"), D("0.96")),
                    proposal_asks=(D("3.00"), None), currency="EUR")


def _lines(priced):
    items, notes = priced
    return [(i.sku, i.quantity, i.unit_price) for i in items], notes


def test_a_total_scales_every_line_alike_and_rounds_down_within_it() -> None:
    lines, notes = _lines(total_items(OFFER, D("900"), "EUR"))
    assert lines == [("BRG-6204", 300, D("2.74")), (SEAL, 100, D("0.77"))]  # 822.00 + 77.00 <= 900
    assert sum(q * p for _, q, p in lines) <= 900
    assert notes[0] == "total 900 EUR for the offer's 1116.00 read as 2.74 for BRG-6204 x 300 (offered 3.40)"
    at_or_above, _ = _lines(total_items(OFFER, D("2000"), "EUR"))
    assert [p for _, _, p in at_or_above] == [D("3.40"), D("0.96")]  # the offer's own prices, never above them


def test_a_total_needs_the_offers_prices_and_currency_and_a_price_above_nothing() -> None:
    assert total_items(OFFER, D("900"), None) is None
    assert total_items(TextContext(catalog=CATALOG, proposal_skus=("BRG-6204",), proposal_quantities=(300,),
                                   currency="EUR"), D("900"), "EUR") is None
    assert total_items(OFFER, D("0"), "EUR") is None
    assert total_items(OFFER, D("1"), "EUR") is None  # the seals would come to 0.00


def test_a_percentage_on_some_lines_keeps_the_others() -> None:
    lines, notes = _lines(discount_items(OFFER, D("10"), "EUR", only={"BRG-6204"}))
    assert lines == [("BRG-6204", 300, D("3.06")), (SEAL, 100, D("0.96"))]
    assert f"{SEAL} x 100 kept at the offered 0.96 EUR" in notes
    assert discount_items(OFFER, D("100"), "EUR") is None and discount_items(OFFER, D("0"), "EUR") is None


def test_the_middle_is_taken_where_the_buyer_asked_lower() -> None:
    lines, _ = _lines(midpoint_items(OFFER, "EUR"))
    assert lines == [("BRG-6204", 300, D("3.20")), (SEAL, 100, D("0.96"))]


def test_a_price_on_one_line_keeps_the_rest_but_a_line_removed() -> None:
    asked = [CounterItem(sku="BRG-6204", quantity=300, unit_price=D("3.10"))]
    lines, _ = _lines(with_offer_lines(OFFER, asked, "EUR"))
    assert lines == [("BRG-6204", 300, D("3.10")), (SEAL, 100, D("0.96"))]
    lines, _ = _lines(with_offer_lines(OFFER, asked, "EUR", without=SEAL))
    assert lines == [("BRG-6204", 300, D("3.10"))]
