"""The demo vendor in examples/: it loads, it is complete, and every product prices cleanly.

The demo catalog and policy are what a newcomer negotiates with first, so
they must exercise every feature (every rule kind, every policy setting) and
never hit a runtime rule conflict, whatever the buyer, quantity, date or
payment terms.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from pathlib import Path
from typing import get_args

import pytest

from tools.catalog import Catalog, load_catalog
from tools.policy.loader import load_policy
from tools.policy.models import Policy, PolicyRules
from tools.policy.surface import decision_surface, evaluate_offer
from tools.pricing.models import PriceRequest
from tools.pricing.rules import RuleKind

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CATALOG = EXAMPLES / "catalog.yaml"
POLICY = EXAMPLES / "policy.yaml"

BOOKS = {"US": "USD", "EU": "EUR"}
# Dates chosen to hit the expired October promotion, the year-end one, and neither.
DATES = (dt.date(2026, 10, 15), dt.date(2026, 12, 1), dt.date(2027, 3, 1))
TERMS = ("NET30", "NET60", "NET90", "PREPAY")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(CATALOG)


@pytest.fixture(scope="module")
def policy(catalog: Catalog) -> Policy:
    return load_policy(POLICY, catalog)


# --- shape of the catalog ------------------------------------------------------


def test_catalog_and_policy_load(catalog: Catalog, policy: Policy) -> None:
    assert catalog.vendor
    assert len(catalog) >= 40
    assert len(catalog.categories) >= 5
    assert policy.doc.name


def test_price_books_and_segments(catalog: Catalog) -> None:
    us, eu = catalog.book_for("US", "USD"), catalog.book_for("EU", "EUR")
    assert us is not None and eu is not None
    assert {us.tier_mode, eu.tier_mode} == {"range", "slab"}
    assert len(catalog.segments) >= 2
    assert {"standard", "strategic", "distributor"} <= set(catalog.segments)


def test_every_product_is_complete(catalog: Catalog) -> None:
    books = {region: catalog.book_for(region, cur).id for region, cur in BOOKS.items()}
    for p in catalog.products.values():
        assert p.name.strip(), p.sku
        assert p.description.strip(), p.sku
        assert p.category, p.sku
        assert p.unit, p.sku
        assert p.specs, p.sku
        assert set(BOOKS.values()) <= set(p.cost), p.sku
        assert set(books.values()) <= set(p.prices), p.sku
        assert p.inventory is not None and p.capacity is not None, p.sku
        for book_id in books.values():
            price = p.prices[book_id]
            cost = p.cost[catalog.price_books[book_id].currency]
            # Realistic margins: list between 1.6x and 3x cost.
            assert cost * Decimal("1.6") <= price.list <= cost * 3, (p.sku, book_id)
            assert all(cost <= t.price <= price.list for t in price.tiers), (p.sku, book_id)


def test_catalog_variety(catalog: Catalog) -> None:
    products = list(catalog.products.values())
    tiered = [p for p in products if any(pr.tiers for pr in p.prices.values())]
    assert len(tiered) * 2 >= len(products)
    assert len({p.unit for p in products}) >= 5
    assert any(p.tier_mode is not None for p in products)
    assert sum(1 for p in products if p.compatible or p.related) * 2 >= len(products)
    low = next(r.when.stock_below for r in catalog.rules if r.kind == "stock" and r.when.stock_below)
    stock = [p.inventory.on_hand for p in products]
    assert any(s == 0 for s in stock)
    assert sum(1 for s in stock if 0 < s < low) >= 2
    assert sum(1 for s in stock if s >= 1000) >= 3


def test_every_rule_kind_is_present(catalog: Catalog) -> None:
    assert {r.kind for r in catalog.rules} == set(get_args(RuleKind))


def test_every_policy_setting_is_demoed(policy: Policy) -> None:
    doc = policy.doc
    levels = [doc.global_, *doc.categories.values(), *doc.products.values()]
    missing = [name for name in PolicyRules.model_fields if all(getattr(lv, name) is None for lv in levels)]
    assert not missing, f"policy settings not demoed in examples/policy.yaml: {missing}"
    assert doc.categories and doc.products


# --- the documented haggle -----------------------------------------------------


def test_brg_6204_scenario(catalog: Catalog, policy: Policy) -> None:
    """ "need 500 x BRG-6204 delivered to Lyon, can you do 3.10 EUR?" """
    product = catalog.products["BRG-6204"]
    assert product.specs["bore_mm"] == 20
    surface = decision_surface(catalog, policy, PriceRequest(sku="BRG-6204", quantity=500, region="EU"))
    assert surface.currency == "EUR"
    assert Decimal("3.40") <= surface.book_list_price <= Decimal("3.60")
    assert Decimal("3.10") < surface.list_price <= Decimal("3.30")
    assert surface.cost < surface.floor_price < Decimal("3.10")
    decision = evaluate_offer(surface, Decimal("3.10"))
    assert decision.allowed
    assert decision.level == "auto" and not decision.needs_approval
    assert not evaluate_offer(surface, surface.floor_price - Decimal("0.01")).allowed


def test_policy_overrides_show(catalog: Catalog, policy: Policy) -> None:
    motor = decision_surface(catalog, policy, PriceRequest(sku="MTR-IE3-1K1", quantity=2, region="EU"))
    assert not motor.autonomous
    assert evaluate_offer(motor, motor.list_price).needs_approval
    safety = decision_surface(catalog, policy, PriceRequest(sku="SAF-GLV-CUT5", quantity=24, region="US"))
    assert "NET90" not in safety.allowed_terms
    assert not evaluate_offer(safety, safety.list_price, payment_terms="NET90").allowed
    low = decision_surface(catalog, policy, PriceRequest(sku="BRG-6206", quantity=10, region="US"))
    assert low.no_discounts_rule is not None
    assert low.walk_away_price == low.list_price


# --- every product prices cleanly ----------------------------------------------


def _quantities(catalog: Catalog, sku: str) -> tuple[int, ...]:
    """1, a mid-tier quantity and a large one (deep in the last tier, large deal values)."""
    mins = sorted({t.min for pr in catalog.products[sku].prices.values() for t in pr.tiers})
    if not mins:
        return (1, 10, 1000)
    return (1, mins[len(mins) // 2], mins[-1] * 10)


def test_every_product_prices_without_conflict(catalog: Catalog, policy: Policy) -> None:
    applied: set[str] = set()
    for sku in catalog.products:
        for region, quantity, segment, on, terms in itertools.product(
                BOOKS, _quantities(catalog, sku), catalog.segments, DATES, TERMS):
            req = PriceRequest(sku=sku, quantity=quantity, region=region, segment=segment,
                               on=on, payment_terms=terms)
            where = f"{sku} x{quantity} {region} {segment} {on} {terms}"
            surface = decision_surface(catalog, policy, req)  # a RuleConflict would raise here
            assert surface.currency == BOOKS[region], where
            assert surface.walk_away_price >= surface.floor_price >= surface.cost, where
            assert surface.list_price > 0, where
            applied.update(surface.pricing.rules_applied)
    unused = {r.id for r in catalog.rules} - applied
    assert not unused, f"rules never applied by any demo line: {sorted(unused)}"
