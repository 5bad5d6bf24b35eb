"""Pricing engine unit tests against the mini fixture, with every expected figure worked by hand.

The mini catalog (tests/fixtures/mini_catalog.yaml) in short:
- BRG-6204: US (range) list 3.50, 100-499 at 3.20, 500+ at 2.90;
            EU (slab)  list 3.30, 100-499 at 3.00, 500+ at 2.70; on hand 5000.
- BRG-6205: US list 4.10, EU list 3.90, no tiers; on hand 40 (so `stock-low` applies).
- MTR-100:  US list 320.00, 10+ at 300.00; EU 295.00 / 280.00; on hand 900 (overstock).
- rules: seg-strategic -5 % (p10), promo-bearings-nov -10 % (20-30 Nov 2026),
  stock-low no_discounts below 50 (p20), stock-over-motors +5 % allowance from 500 (p10),
  deal-large -3 % from 10000 USD / 9000 EUR, terms-net60 +1 %, terms-prepay -2 %.
Dates are always explicit so the promotion never depends on today.
"""

from __future__ import annotations

import copy
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from tools.catalog.loader import CatalogError, load_catalog, parse_catalog
from tools.catalog.models import Catalog
from tools.datafile import parse_text
from tools.errors import (
    DealdeskError,
    InvalidQuantity,
    RegionNotServed,
    RuleConflict,
    UnknownSegment,
    UnknownSku,
    UnsupportedCurrency,
)
from tools.money import (
    MINOR_UNITS, ceil_money, floor_money, fmt_percent, quantum, round_money, round_percent, to_decimal,
)
from tools.pricing.engine import explain_lines, price, price_quote, replay
from tools.pricing.models import LinePrice, PriceRequest, QuoteItem, QuoteRequest

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "mini_catalog.yaml"
PLAIN_DAY = dt.date(2026, 6, 1)  # no promotion
PROMO_DAY = dt.date(2026, 11, 25)  # inside promo-bearings-nov
D = Decimal


def mini_data() -> dict[str, Any]:
    """The fixture as plain data (Decimals for numbers), a fresh copy each call."""
    return copy.deepcopy(_RAW)


_RAW = parse_text(FIXTURE.read_text(encoding="utf-8"), ".yaml")


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return load_catalog(FIXTURE)


def line(catalog: Catalog, sku: str = "BRG-6204", quantity: int = 1, **kw: Any) -> LinePrice:
    kw.setdefault("on", PLAIN_DAY)
    return price(catalog, PriceRequest(sku=sku, quantity=quantity, **kw))


def check_exact(ln: LinePrice) -> None:
    """Invariants every line must satisfy, whatever the figures."""
    assert ln.line_total == ln.unit_price * ln.quantity
    assert replay(ln) == ln.unit_price
    assert ln.unit_price == round_money(ln.unit_price_exact, ln.currency)


# --- money ----------------------------------------------------------------------------


def test_floats_are_refused() -> None:
    with pytest.raises(ValueError):
        to_decimal(0.1)
    assert to_decimal("0.1") == D("0.1")
    assert to_decimal(3) == D(3)


def test_float_price_in_catalog_is_refused() -> None:
    data = mini_data()
    data["products"][0]["prices"]["US-USD"]["list"] = 3.5
    with pytest.raises(CatalogError) as err:
        parse_catalog(data)
    assert any(i.field == "prices.US-USD.list" for i in err.value.issues)


@pytest.mark.parametrize(("amount", "currency", "expected"), [
    ("3.325", "USD", "3.33"),   # half-up, where half-even would give 3.32
    ("3.3249", "USD", "3.32"),
    ("2.5", "JPY", "3"),        # 0 minor digits
    ("1.0005", "KWD", "1.001"),  # 3 minor digits
    ("1.0004", "KWD", "1.000"),
])
def test_round_half_up_to_minor_unit(amount: str, currency: str, expected: str) -> None:
    result = round_money(D(amount), currency)
    assert result == D(expected)
    assert str(result) == expected


@pytest.mark.parametrize(("amount", "currency", "down", "up"), [
    ("3.1666", "EUR", "3.16", "3.17"),  # a budget's share never rounds above it, a floor's never below
    ("3.10", "EUR", "3.10", "3.10"),
    ("2.5", "JPY", "2", "3"),
    ("1.0009", "KWD", "1.000", "1.001"),
])
def test_floor_and_ceiling_to_minor_unit(amount: str, currency: str, down: str, up: str) -> None:
    assert str(floor_money(D(amount), currency)) == down
    assert str(ceil_money(D(amount), currency)) == up


@pytest.mark.parametrize("currency", sorted(MINOR_UNITS))
def test_quantum_is_one_minor_unit(currency: str) -> None:
    q = quantum(currency)
    assert q == D(1).scaleb(-MINOR_UNITS[currency])
    assert q.as_tuple() == D(1).scaleb(-MINOR_UNITS[currency]).as_tuple()  # same digits and exponent


def test_quantum_refuses_an_unknown_currency() -> None:
    with pytest.raises(ValueError, match="unknown ISO 4217 currency 'XXX'"):
        quantum("XXX")


@pytest.mark.parametrize("places", [0, 1, 2, 3, 4, 5, 8])  # the shared steps (0..4) and beyond them
@pytest.mark.parametrize("value", ["12.344999", "12.345", "-0.005", "0E-9", "99.9951", "1E+2"])
def test_percent_rounding_at_any_places(value: str, places: int) -> None:
    step = D(1).scaleb(-places)
    expected = D(value).quantize(step, rounding=ROUND_HALF_UP)
    assert str(round_percent(D(value), places)) == str(expected)
    assert fmt_percent(D(value), places) == format(expected.normalize(), "f")


def test_half_up_on_a_priced_line(cat: Catalog) -> None:
    # 3.50 * 0.95 = 3.325 -> 3.33 (half-even would say 3.32)
    ln = line(cat, segment="strategic")
    assert ln.unit_price_exact == D("3.325")
    assert str(ln.unit_price) == "3.33"
    check_exact(ln)


def test_jpy_and_kwd_books_round_to_their_minor_units() -> None:
    data = mini_data()
    data["price_books"] += [{"id": "JP-JPY", "region": "JP", "currency": "JPY"},
                            {"id": "KW-KWD", "region": "KW", "currency": "KWD"}]
    p = data["products"][0]
    p["cost"].update(JPY="200", KWD="0.400")
    p["prices"]["JP-JPY"] = {"list": "525"}
    p["prices"]["KW-KWD"] = {"list": "1.105"}
    catalog = parse_catalog(data)
    jp = line(catalog, region="JP", segment="strategic", quantity=3)  # 525 * 0.95 = 498.75 -> 499
    assert (jp.unit_price_exact, str(jp.unit_price), str(jp.line_total)) == (D("498.75"), "499", "1497")
    kw = line(catalog, region="KW", segment="strategic", quantity=7)  # 1.105 * 0.95 = 1.04975 -> 1.050
    assert (kw.unit_price_exact, str(kw.unit_price), str(kw.line_total)) == (D("1.04975"), "1.050", "7.350")
    for ln in (jp, kw):
        check_exact(ln)


# --- volume tiers ---------------------------------------------------------------------


@pytest.mark.parametrize(("quantity", "tier_index", "unit", "total"), [
    (1, 0, "3.50", "3.50"),
    (99, 0, "3.50", "346.50"),
    (100, 1, "3.20", "320.00"),
    (499, 1, "3.20", "1596.80"),
    (500, 2, "2.90", "1450.00"),
    (3000, 2, "2.90", "8700.00"),  # 8700.00 stays below the deal-large threshold
])
def test_range_mode_tier_boundaries(cat: Catalog, quantity: int, tier_index: int, unit: str, total: str) -> None:
    ln = line(cat, quantity=quantity)
    assert ln.tier_mode == "range"
    assert ln.tier_index == tier_index
    assert ln.base_unit_price == D(unit)
    assert len(ln.brackets) == 1 and ln.brackets[0].quantity == quantity
    assert str(ln.unit_price) == unit
    assert str(ln.line_total) == total
    assert ln.rules_applied == ()
    check_exact(ln)


def test_range_mode_head_below_first_tier(cat: Catalog) -> None:
    # MTR-100 has one tier from 10; 1-9 units pay the list price.
    assert line(cat, "MTR-100", 9, stock=100).unit_price == D("320.00")
    assert line(cat, "MTR-100", 10, stock=100).unit_price == D("300.00")


def test_slab_blend_for_600_units_eu(cat: Catalog) -> None:
    # 99 x 3.30 + 400 x 3.00 + 101 x 2.70 = 326.70 + 1200.00 + 272.70 = 1799.40; / 600 = 2.999 -> 3.00
    ln = line(cat, quantity=600, region="EU")
    assert ln.tier_mode == "slab" and ln.currency == "EUR" and ln.price_book == "EU-EUR"
    assert [(b.min, b.max, b.quantity, b.rate) for b in ln.brackets] == [
        (1, 99, 99, D("3.30")), (100, 499, 400, D("3.00")), (500, None, 101, D("2.70"))]
    assert ln.base_unit_price == D("2.999")
    assert str(ln.unit_price) == "3.00"
    assert str(ln.line_total) == "1800.00"
    assert ln.deal_value == D("1799.40")
    check_exact(ln)


@pytest.mark.parametrize(("quantity", "base", "unit"), [
    (99, "3.30", "3.30"),
    (100, "3.297", "3.30"),    # (326.70 + 3.00) / 100
    (500, "3.0588", "3.06"),   # (326.70 + 1200.00 + 2.70) / 500
])
def test_slab_blend_at_boundaries(cat: Catalog, quantity: int, base: str, unit: str) -> None:
    ln = line(cat, quantity=quantity, region="EU")
    assert ln.base_unit_price == D(base)
    assert str(ln.unit_price) == unit
    assert sum(b.quantity for b in ln.brackets) == quantity
    check_exact(ln)


@pytest.mark.parametrize(("region", "quantity", "amount"), [
    ("US", 499, "1596.80"),
    ("US", 500, "1600.00"),  # beyond the closed last tier: still its rate 3.20, never back to list
    ("US", 900, "2880.00"),
    ("EU", 499, "1526.70"),  # slab: 99 x 3.30 + 400 x 3.00
    ("EU", 900, "2729.70"),  # slab: 99 x 3.30 + 801 x 3.00 (the last tier runs on)
])
def test_quantity_beyond_a_closed_last_tier_stays_at_its_rate(region: str, quantity: int, amount: str) -> None:
    # Regression: quantities above a closed last tier used to fall back to tier 0 (the list price).
    data = mini_data()
    for book, price_ in (("US-USD", "3.20"), ("EU-EUR", "3.00")):
        data["products"][0]["prices"][book]["tiers"] = [{"min": 100, "max": 499, "price": price_}]
    ln = line(parse_catalog(data), quantity=quantity, region=region)
    assert ln.tier_index == 1
    assert sum(b.quantity for b in ln.brackets) == quantity
    assert ln.deal_value == D(amount)
    assert ln.base_unit_price == (D("3.20") if region == "US" else D(amount) / quantity)
    check_exact(ln)


# --- rules ----------------------------------------------------------------------------


def test_segment_discount(cat: Catalog) -> None:
    ln = line(cat, quantity=100, segment="strategic")  # 3.20 * 0.95 = 3.04
    assert str(ln.unit_price) == "3.04"
    assert ln.rules_applied == ("seg-strategic",)
    step = ln.steps[0]
    assert (step.kind, step.percent, step.before, step.after) == ("segment", D("-5"), D("3.20"), D("3.04"))
    check_exact(ln)


@pytest.mark.parametrize(("on", "applies"), [
    (dt.date(2026, 11, 19), False),
    (dt.date(2026, 11, 20), True),   # valid_from is inclusive
    (dt.date(2026, 11, 25), True),
    (dt.date(2026, 11, 30), True),   # valid_to is inclusive
    (dt.date(2026, 12, 1), False),
])
def test_promotion_inside_and_outside_its_dates(cat: Catalog, on: dt.date, applies: bool) -> None:
    ln = line(cat, quantity=100, on=on)  # 3.20 * 0.90 = 2.88
    assert str(ln.unit_price) == ("2.88" if applies else "3.20")
    assert ln.rules_applied == (("promo-bearings-nov",) if applies else ())


def test_promotion_is_only_for_its_category(cat: Catalog) -> None:
    assert line(cat, "MTR-100", 10, stock=100, on=PROMO_DAY).rules_applied == ()


def test_kinds_stack_multiplicatively_in_priority_order(cat: Catalog) -> None:
    # 3.20 * 0.95 (segment, p10) * 0.90 (promotion, p0) * 1.01 (NET60, p0) = 2.76336 -> 2.76
    ln = line(cat, quantity=100, segment="strategic", payment_terms="NET60", on=PROMO_DAY)
    assert ln.rules_applied == ("seg-strategic", "promo-bearings-nov", "terms-net60")
    assert [s.after for s in ln.steps] == [D("3.04"), D("2.736"), D("2.76336")]
    for step in ln.steps:
        assert step.after == step.before * (1 + step.percent / 100)
    assert ln.unit_price_exact == D("2.76336")
    assert str(ln.unit_price) == "2.76"
    check_exact(ln)


@pytest.mark.parametrize(("terms", "unit", "rules"), [
    ("NET30", "3.20", ()),
    ("NET60", "3.23", ("terms-net60",)),    # 3.20 * 1.01 = 3.232
    ("PREPAY", "3.14", ("terms-prepay",)),  # 3.20 * 0.98 = 3.136
])
def test_payment_terms_rules(cat: Catalog, terms: str, unit: str, rules: tuple[str, ...]) -> None:
    ln = line(cat, quantity=100, payment_terms=terms)
    assert str(ln.unit_price) == unit
    assert ln.rules_applied == rules
    check_exact(ln)


def test_low_stock_suppresses_every_discount_and_lists_them(cat: Catalog) -> None:
    # BRG-6205 has 40 on hand: stock-low applies; segment and promotion discounts are suppressed.
    ln = line(cat, "BRG-6205", segment="strategic", on=PROMO_DAY)
    assert ln.stock == 40
    assert str(ln.unit_price) == "4.10"
    assert ln.no_discounts_rule == "stock-low"
    assert ln.rules_applied == ("stock-low",)
    assert {s.rule_id for s in ln.suppressed} == {"seg-strategic", "promo-bearings-nov"}
    assert all("stock-low" in s.reason for s in ln.suppressed)
    assert ln.allowance_percent == 0
    check_exact(ln)


def test_low_stock_keeps_surcharges_and_suppresses_prepay(cat: Catalog) -> None:
    net60 = line(cat, "BRG-6205", payment_terms="NET60")  # 4.10 * 1.01 = 4.141 -> 4.14
    assert str(net60.unit_price) == "4.14"
    assert net60.rules_applied == ("stock-low", "terms-net60")
    prepay = line(cat, "BRG-6205", payment_terms="PREPAY")
    assert str(prepay.unit_price) == "4.10"
    assert [s.rule_id for s in prepay.suppressed] == ["terms-prepay"]


@pytest.mark.parametrize(("stock", "unit", "blocked"), [
    (49, "4.10", True),
    (50, "3.51", False),  # stock_below is exclusive: 4.10 * 0.95 * 0.90 = 3.5055 -> 3.51
])
def test_low_stock_threshold(cat: Catalog, stock: int, unit: str, blocked: bool) -> None:
    ln = line(cat, "BRG-6205", segment="strategic", on=PROMO_DAY, stock=stock)
    assert str(ln.unit_price) == unit
    assert (ln.no_discounts_rule == "stock-low") is blocked


@pytest.mark.parametrize(("stock", "allowance", "rules"), [
    (None, "5", ("stock-over-motors",)),  # catalog on-hand 900
    (500, "5", ("stock-over-motors",)),   # stock_at_least is inclusive
    (499, "0", ()),
    (10, "0", ("stock-low",)),            # stock-low (p20) wins the stock kind; no allowance
])
def test_overstock_allowance(cat: Catalog, stock: int | None, allowance: str, rules: tuple[str, ...]) -> None:
    ln = line(cat, "MTR-100", stock=stock)
    assert str(ln.unit_price) == "320.00"  # an allowance is negotiation room, not a price change
    assert ln.allowance_percent == D(allowance)
    assert ln.rules_applied == rules


def test_overstock_allowance_is_zeroed_by_a_no_discounts_rule() -> None:
    data = mini_data()
    data["rules"].append({"id": "freeze-motors", "kind": "adjustment", "when": {"categories": ["motors"]},
                          "effect": {"no_discounts": True}})
    ln = line(parse_catalog(data), "MTR-100", segment="strategic")
    assert ln.no_discounts_rule == "freeze-motors"
    assert ln.allowance_percent == 0
    assert [s.rule_id for s in ln.suppressed] == ["seg-strategic"]
    assert str(ln.unit_price) == "320.00"


def test_deal_size_rule_sees_the_whole_quote(cat: Catalog) -> None:
    # base value: 500 x 2.90 + 30 x 300.00 = 1450.00 + 9000.00 = 10450.00 >= 10000 USD
    req = QuoteRequest(items=(QuoteItem(sku="BRG-6204", quantity=500), QuoteItem(sku="MTR-100", quantity=30)),
                       on=PLAIN_DAY)
    quote = price_quote(cat, req)
    assert quote.deal_value == D("10450.00")
    brg, mtr = quote.lines
    assert "deal-large" in brg.rules_applied and "deal-large" in mtr.rules_applied
    assert str(brg.unit_price) == "2.81" and str(brg.line_total) == "1405.00"  # 2.90 * 0.97 = 2.813
    assert str(mtr.unit_price) == "291.00" and str(mtr.line_total) == "8730.00"  # 300.00 * 0.97
    assert mtr.allowance_percent == D("5")
    assert str(quote.total) == "10135.00"
    assert quote.total == brg.line_total + mtr.line_total
    # The motor line alone (9000.00) is below the threshold.
    assert "deal-large" not in line(cat, "MTR-100", 30).rules_applied


def test_deal_size_below_threshold_in_a_quote(cat: Catalog) -> None:
    # 1450.00 + 28 x 300.00 = 9850.00 < 10000
    req = QuoteRequest(items=(QuoteItem(sku="BRG-6204", quantity=500), QuoteItem(sku="MTR-100", quantity=28)),
                       on=PLAIN_DAY)
    quote = price_quote(cat, req)
    assert all("deal-large" not in ln.rules_applied for ln in quote.lines)
    assert str(quote.total) == "9850.00"


@pytest.mark.parametrize(("value", "applies"), [("9999.99", False), ("10000", True), ("10000.00", True)])
def test_deal_size_threshold_is_inclusive(cat: Catalog, value: str, applies: bool) -> None:
    req = PriceRequest(sku="BRG-6204", quantity=1, on=PLAIN_DAY)
    ln = price(cat, req, deal_value=D(value))
    assert ("deal-large" in ln.rules_applied) is applies
    assert str(ln.unit_price) == ("3.40" if applies else "3.50")  # 3.50 * 0.97 = 3.395 -> 3.40


def test_deal_size_threshold_is_per_currency(cat: Catalog) -> None:
    # EU threshold is 9000 EUR: 9000.00 qualifies there.
    ln = price(cat, PriceRequest(sku="BRG-6204", quantity=1, region="EU", on=PLAIN_DAY), deal_value=D("9000.00"))
    assert "deal-large" in ln.rules_applied


# --- typed errors ---------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "error", "code", "field"), [
    ({"sku": "NOPE-1"}, UnknownSku, "unknown_sku", "sku"),
    ({"quantity": 0}, InvalidQuantity, "invalid_quantity", "quantity"),
    ({"quantity": -3}, InvalidQuantity, "invalid_quantity", "quantity"),
    ({"region": "APAC"}, RegionNotServed, "not_authorized_for_region", "region"),
    ({"region": "US", "currency": "EUR"}, UnsupportedCurrency, "unsupported_currency", "currency"),
    ({"region": "EU", "currency": "JPY"}, UnsupportedCurrency, "unsupported_currency", "currency"),
    ({"segment": "vip"}, UnknownSegment, "unknown_segment", "segment"),
])
def test_bad_requests_raise_typed_errors(cat: Catalog, kwargs: dict[str, Any], error: type[DealdeskError],
                                         code: str, field: str) -> None:
    req = {"sku": "BRG-6204", "quantity": 10, "on": PLAIN_DAY, **kwargs}
    with pytest.raises(error) as exc:
        price(cat, PriceRequest(**req))
    assert exc.value.code == code
    assert exc.value.field == field
    assert exc.value.to_dict()["field"] == field


def test_quote_with_unknown_sku_raises_typed_error(cat: Catalog) -> None:
    req = QuoteRequest(items=(QuoteItem(sku="BRG-6204", quantity=1), QuoteItem(sku="NOPE", quantity=1)))
    with pytest.raises(UnknownSku) as exc:
        price_quote(cat, req)
    assert (exc.value.code, exc.value.field) == ("unknown_sku", "sku")


# --- rule conflicts -------------------------------------------------------------------


def _with_stock_bands() -> Catalog:
    """Two stock rules of equal priority and different effects whose thresholds overlap on 60..99."""
    data = mini_data()
    data["rules"] += [
        {"id": "stock-band-low", "kind": "stock", "priority": 30, "when": {"stock_below": 100},
         "effect": {"percent": "-1"}},
        {"id": "stock-band-high", "kind": "stock", "priority": 30, "when": {"stock_at_least": 60},
         "effect": {"percent": "-2"}},
    ]
    return parse_catalog(data)  # dynamic conditions: loads fine, the stock level decides later


@pytest.mark.parametrize("stock", [60, 80, 99])
def test_runtime_conflict_names_both_rules(stock: int) -> None:
    with pytest.raises(RuleConflict) as exc:
        line(_with_stock_bands(), stock=stock)
    assert set(exc.value.rule_ids) == {"stock-band-low", "stock-band-high"}
    assert "stock-band-low" in str(exc.value) and "stock-band-high" in str(exc.value)
    assert exc.value.code == "rule_conflict"


@pytest.mark.parametrize(("stock", "unit", "rule"), [
    (59, "3.47", "stock-band-low"),    # 3.50 * 0.99 = 3.465 -> 3.47
    (40, "3.47", "stock-band-low"),    # stock-low (p20) also matches but loses to p30
    (100, "3.43", "stock-band-high"),  # 3.50 * 0.98
    (5000, "3.43", "stock-band-high"),
])
def test_no_conflict_outside_the_overlap(stock: int, unit: str, rule: str) -> None:
    ln = line(_with_stock_bands(), stock=stock)
    assert str(ln.unit_price) == unit
    assert ln.rules_applied == (rule,)


def test_static_conflict_is_refused_at_load_time() -> None:
    data = mini_data()
    data["rules"].append({"id": "seg-strategic-2", "kind": "segment", "priority": 10,
                          "when": {"regions": ["US"]}, "effect": {"percent": "-7"}})
    with pytest.raises(CatalogError) as exc:
        parse_catalog(data)
    text = str(exc.value)
    assert "seg-strategic" in text and "seg-strategic-2" in text
    assert any(i.field == "priority" for i in exc.value.issues)


def test_equal_priority_with_equal_effect_is_no_conflict() -> None:
    data = mini_data()
    data["rules"].append({"id": "seg-strategic-us", "kind": "segment", "priority": 10,
                          "when": {"regions": ["US"]}, "effect": {"percent": "-5"}})
    ln = line(parse_catalog(data), quantity=100, segment="strategic")
    assert str(ln.unit_price) == "3.04"
    assert len(ln.rules_applied) == 1


# --- explanation ----------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [
    {"sku": "BRG-6204", "quantity": 100, "segment": "strategic", "payment_terms": "NET60", "on": PROMO_DAY},
    {"sku": "BRG-6204", "quantity": 600, "region": "EU", "segment": "strategic", "payment_terms": "PREPAY"},
    {"sku": "BRG-6205", "quantity": 3, "segment": "strategic", "payment_terms": "NET60", "on": PROMO_DAY},
    {"sku": "MTR-100", "quantity": 12},
])
def test_explain_lines_mentions_every_applied_rule_and_the_final_price(cat: Catalog,
                                                                      kwargs: dict[str, Any]) -> None:
    kwargs.setdefault("on", PLAIN_DAY)
    ln = price(cat, PriceRequest(**kwargs))
    assert ln.rules_applied
    text = "\n".join(explain_lines(ln))
    for rule_id in ln.rules_applied:
        assert rule_id in text
    for s in ln.suppressed:
        assert s.rule_id in text
    last_two = explain_lines(ln)[-2:]
    assert f"{ln.unit_price} {ln.currency}/unit" in last_two[0]
    assert str(ln.line_total) in last_two[1]


def test_stock_rules_do_not_match_a_made_to_order_product() -> None:
    # BRG-6205 made to order: no stock, but not "low stock" either; its segment and promotion discounts apply.
    data = mini_data()
    (p,) = [p for p in data["products"] if p["sku"] == "BRG-6205"]
    p["inventory"] = {"on_hand": 0, "made_to_order": True}
    made = parse_catalog(data)
    ln = line(made, "BRG-6205", segment="strategic", on=PROMO_DAY)
    assert ln.no_discounts_rule is None and "stock-low" not in ln.rules_applied
    assert set(ln.rules_applied) == {"seg-strategic", "promo-bearings-nov"}
    # ... whatever stock a caller passes, and an overstock allowance does not match it either.
    assert line(made, "BRG-6205", segment="strategic", on=PROMO_DAY, stock=10).rules_applied == ln.rules_applied
    (m,) = [p for p in data["products"] if p["sku"] == "MTR-100"]
    m["inventory"] = {"on_hand": 0, "made_to_order": True}
    assert line(parse_catalog(data), "MTR-100", stock=900).allowance_percent == 0
