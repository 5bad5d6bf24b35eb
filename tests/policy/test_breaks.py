"""Volume breaks on the demo data: the price a first proposal opens at, at each tier's first quantity, for the
desk's buyer. Expected figures come from the catalog's own tiers or from `Desk.surface`, never from a run."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from tools.catalog.loader import load_catalog
from tools.errors import DealdeskError
from tools.policy.breaks import PriceBreak, price_breaks
from tools.policy.desk import Desk
from tools.policy.loader import load_policy, parse_policy
from tools.pricing.models import BuyerContext

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DAY = dt.date(2026, 6, 1)  # no promotion runs


@pytest.fixture(scope="module")
def demo():
    catalog = load_catalog(EXAMPLES / "catalog.yaml")
    return catalog, load_policy(EXAMPLES / "policy.yaml", catalog=catalog)


def _desk(catalog, policy, segment: str = "standard") -> Desk:
    return Desk(catalog, policy, BuyerContext(region="EU", segment=segment, on=DAY))


def _policy_with(catalog, sku: str, **limits):
    data = copy.deepcopy(yaml.safe_load((EXAMPLES / "policy.yaml").read_text()))
    data.setdefault("products", {}).setdefault(sku, {}).update(limits)
    return parse_policy(data, catalog=catalog)


def test_a_range_mode_product_for_a_standard_buyer_breaks_at_its_books_tiers(demo) -> None:
    catalog, policy = demo
    pb = price_breaks(_desk(catalog, policy), "BRG-6204")
    schedule = catalog.products["BRG-6204"].prices["EU-EUR"].schedule
    assert pb.breaks == tuple(PriceBreak(t.min, t.price) for t in schedule)
    assert (pb.currency, pb.payment_terms, pb.tier_mode, pb.moq) == ("EUR", "NET30", "range", 1)


def test_each_break_is_the_opening_price_of_its_quantity_for_the_buyers_segment(demo) -> None:
    catalog, policy = demo
    standard = price_breaks(_desk(catalog, policy), "BRG-6204")
    desk = _desk(catalog, policy, "strategic")
    strategic = price_breaks(desk, "BRG-6204")
    assert [b.quantity for b in strategic.breaks] == [b.quantity for b in standard.breaks]
    for mine, theirs in zip(strategic.breaks, standard.breaks):
        assert mine.unit_price == desk.surface("BRG-6204", mine.quantity).opening_price < theirs.unit_price


def test_slab_mode_keeps_every_tier_from_the_moq(demo) -> None:
    """The cable (MOQ 10, slab mode): an order of 100 still averages the price below it, and is listed."""
    catalog, policy = demo
    desk = _desk(catalog, policy)
    pb = price_breaks(desk, "SNS-CBL-PUR-4C")
    tiers = [t.min for t in catalog.products["SNS-CBL-PUR-4C"].prices["EU-EUR"].schedule]
    assert pb.tier_mode == "slab" and pb.moq == 10
    assert [b.quantity for b in pb.breaks] == [10, *tiers[1:]]
    assert [b.unit_price for b in pb.breaks] == [desk.surface("SNS-CBL-PUR-4C", b.quantity).opening_price
                                                 for b in pb.breaks]


def test_the_order_maximum_cuts_the_tiers_beyond_it(demo) -> None:
    catalog, _ = demo
    policy = _policy_with(catalog, "BRG-6204", max_order_quantity=600)
    pb = price_breaks(_desk(catalog, policy), "BRG-6204")
    assert [b.quantity for b in pb.breaks] == [1, 100, 500] and pb.max_order_quantity == 600


def test_a_floor_above_the_tier_prices_merges_them_into_one_break(demo) -> None:
    """Tiers 100+, 500+ and 2000+ all open at a floor of 3.45: one break at 100, at the floor."""
    catalog, _ = demo
    policy = _policy_with(catalog, "BRG-6204", floor_price={"USD": "3.90", "EUR": "3.45"})
    pb = price_breaks(_desk(catalog, policy), "BRG-6204")
    assert pb.breaks == (PriceBreak(1, Decimal("3.50")), PriceBreak(100, Decimal("3.45")))


def test_an_unknown_sku_is_the_desks_typed_error(demo) -> None:
    catalog, policy = demo
    with pytest.raises(DealdeskError) as err:
        price_breaks(_desk(catalog, policy), "NOPE-1")
    assert err.value.field == "sku"
