"""Property tests of the pricing engine over random valid catalogs (tests/gen.py).

Expected figures are recomputed here from the raw catalog dict (the volume
schedule, the slab blend), not through the engine's own helpers.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gen
from tools.catalog.loader import parse_catalog
from tools.catalog.models import Catalog
from tools.money import MINOR_UNITS
from tools.pricing.engine import price, price_quote, replay
from tools.pricing.models import LinePrice, PriceRequest, QuoteItem, QuoteRequest

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DECIMAL_STRING = re.compile(r"^-?\d+(\.\d+)?$")


def _schedule(entry: dict[str, Any]) -> list[tuple[int, int | None, Decimal]]:
    """(min, max, rate) from 1 unit up, straight from the catalog dict: the list price fills the head."""
    tiers = [(t["min"], t.get("max"), Decimal(t["price"])) for t in entry.get("tiers", [])]
    if not tiers or tiers[0][0] > 1:
        head_max = tiers[0][0] - 1 if tiers else None
        tiers.insert(0, (1, head_max, Decimal(entry["list"])))
    return tiers


def _expected_base(entry: dict[str, Any], quantity: int, mode: str) -> Decimal:
    schedule = _schedule(entry)
    if mode == "range":
        return next(rate for lo, hi, rate in schedule if lo <= quantity and (hi is None or quantity <= hi))
    amount = Decimal(0)
    for lo, hi, rate in schedule:
        if lo > quantity:
            break
        top = quantity if hi is None else min(hi, quantity)
        amount += rate * (top - lo + 1)
    return amount / quantity


def _mode(data: dict[str, Any], sku: str, book_id: str) -> str:
    product = next(p for p in data["products"] if p["sku"] == sku)
    book = next(b for b in data["price_books"] if b["id"] == book_id)
    return product.get("tier_mode") or book["tier_mode"]


def _assert_exact(ln: LinePrice) -> None:
    digits = MINOR_UNITS[ln.currency]
    assert ln.unit_price.as_tuple().exponent == -digits, (ln.unit_price, ln.currency)
    assert ln.line_total == ln.unit_price * ln.quantity
    assert ln.line_total.as_tuple().exponent == -digits
    assert replay(ln) == ln.unit_price


@st.composite
def catalog_with_data(draw: st.DrawFn) -> tuple[dict[str, Any], Catalog]:
    data = draw(gen.catalogs())
    return data, parse_catalog(data)


@FAST
@given(st.data())
def test_base_unit_price_never_rises_with_quantity(data: st.DataObject) -> None:
    raw, catalog = data.draw(catalog_with_data())
    ctx = data.draw(gen.buyer_contexts(catalog))
    q1 = ctx["quantity"]
    q2 = q1 + data.draw(st.sampled_from([1, 2, 10]) | st.integers(1, 5000))
    ctx.update(segment="standard", currency=None)
    small = price(catalog, PriceRequest(**{**ctx, "quantity": q1}))
    large = price(catalog, PriceRequest(**{**ctx, "quantity": q2}))
    entry = next(p for p in raw["products"] if p["sku"] == ctx["sku"])["prices"][small.price_book]
    mode = _mode(raw, ctx["sku"], small.price_book)
    for ln, q in ((small, q1), (large, q2)):
        assert ln.tier_mode == mode
        assert ln.base_unit_price == _expected_base(entry, q, mode)
        assert sum(b.quantity for b in ln.brackets) == q
    assert large.base_unit_price <= small.base_unit_price


@FAST
@given(st.data())
def test_line_is_exact_replayable_and_rounded_to_the_minor_unit(data: st.DataObject) -> None:
    catalog = parse_catalog(data.draw(gen.catalogs()))
    ln = price(catalog, PriceRequest(**data.draw(gen.buyer_contexts(catalog))))
    _assert_exact(ln)
    # Rules compound on the base, in the order recorded.
    amount = ln.base_unit_price
    for step in ln.steps:
        assert step.before == amount
        if step.percent is not None:
            amount = amount * (1 + step.percent / 100)
        assert step.after == amount
    assert ln.unit_price_exact == amount
    assert ln.rules_applied == tuple(s.rule_id for s in ln.steps)
    if ln.no_discounts_rule is not None:
        assert all(s.percent is None or s.percent >= 0 or s.rule_id == ln.no_discounts_rule for s in ln.steps)
        assert ln.allowance_percent == 0


@st.composite
def quotes(draw: st.DrawFn, catalog: Catalog) -> QuoteRequest:
    book = catalog.price_books[draw(st.sampled_from(sorted(catalog.price_books)))]
    sold = sorted(s for s, p in catalog.products.items() if book.id in p.prices)
    if not sold:  # no product in this book: any other book has one
        book = catalog.price_books[next(iter(next(iter(catalog.products.values())).prices))]
        sold = sorted(s for s, p in catalog.products.items() if book.id in p.prices)
    items = draw(st.lists(st.builds(QuoteItem, sku=st.sampled_from(sold), quantity=st.integers(1, 3000)),
                          min_size=1, max_size=4))
    ctx = draw(gen.buyer_contexts(catalog))
    return QuoteRequest(items=tuple(items), region=book.region, currency=draw(st.sampled_from((None, book.currency))),
                        segment=ctx["segment"], payment_terms=ctx["payment_terms"], on=ctx["on"])


@FAST
@given(st.data())
def test_quote_total_is_the_exact_sum_of_line_totals(data: st.DataObject) -> None:
    catalog = parse_catalog(data.draw(gen.catalogs()))
    req = data.draw(quotes(catalog))
    quote = price_quote(catalog, req)
    assert len(quote.lines) == len(req.items)
    for ln in quote.lines:
        _assert_exact(ln)
        assert ln.currency == quote.currency
        assert ln.deal_value == quote.deal_value
    assert quote.total == sum((ln.line_total for ln in quote.lines), Decimal(0))
    assert quote.total.as_tuple().exponent == -MINOR_UNITS[quote.currency]
    assert quote.deal_value == sum((ln.base_unit_price * ln.quantity for ln in quote.lines), Decimal(0))


def _money_strings(dumped: dict[str, Any], model: LinePrice) -> None:
    for field in ("deal_value", "list_price", "base_unit_price", "unit_price_exact", "unit_price", "line_total",
                  "discount_from_list_percent", "allowance_percent"):
        value = dumped[field]
        assert isinstance(value, str) and DECIMAL_STRING.match(value), (field, value)
        assert Decimal(value) == getattr(model, field)
    for b in dumped["brackets"]:
        assert isinstance(b["rate"], str) and DECIMAL_STRING.match(b["rate"])
    for s in dumped["steps"]:
        for key in ("before", "after") + (("percent",) if s["percent"] is not None else ()):
            assert isinstance(s[key], str) and DECIMAL_STRING.match(s[key]), (key, s[key])


@FAST
@given(st.data())
def test_money_serialises_as_decimal_strings(data: st.DataObject) -> None:
    catalog = parse_catalog(data.draw(gen.catalogs()))
    ln = price(catalog, PriceRequest(**data.draw(gen.buyer_contexts(catalog))))
    dumped = ln.model_dump(mode="json")
    _money_strings(dumped, ln)
    assert dumped["unit_price"] == format(ln.unit_price, "f")
    assert LinePrice.model_validate(dumped) == ln  # the strings round-trip exactly
    quote = price_quote(catalog, QuoteRequest(
        items=(QuoteItem(sku=ln.sku, quantity=ln.quantity),), region=ln.region, segment=ln.segment,
        payment_terms=ln.payment_terms, on=ln.on))
    qd = quote.model_dump(mode="json")
    assert isinstance(qd["total"], str) and isinstance(qd["deal_value"], str)
    assert Decimal(qd["total"]) == quote.total
