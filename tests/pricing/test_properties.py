"""Property tests of the pricing engine over random valid catalogs (tests/gen.py).

Expected figures are recomputed here from the raw catalog dict (the volume
schedule, the slab blend), not through the engine's own helpers.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
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


def _expected_amount(entry: dict[str, Any], quantity: int, mode: str) -> Decimal:
    """The line's exact value before rules. Beyond a closed last tier, its rate runs on."""
    schedule = _schedule(entry)
    last = len(schedule) - 1
    if mode == "range":
        rate = next((r for lo, hi, r in schedule if lo <= quantity and (hi is None or quantity <= hi)),
                    schedule[last][2])
        return rate * quantity
    amount = Decimal(0)
    for i, (lo, hi, rate) in enumerate(schedule):
        if lo > quantity:
            break
        top = quantity if hi is None or i == last else min(hi, quantity)
        amount += rate * (top - lo + 1)
    return amount


def _expected_base(entry: dict[str, Any], quantity: int, mode: str) -> Decimal:
    """The unit rate before rules: the tier rate (range) or the slab blend."""
    return _expected_amount(entry, quantity, mode) / quantity


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
        assert ln.deal_value == _expected_amount(entry, q, mode)
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


def _rule_matches(rule: dict[str, Any], product: dict[str, Any], book: dict[str, Any], req: PriceRequest,
                  stock: int, deal_value: Decimal) -> bool:
    """Whether a raw rule's conditions all hold (absent conditions always hold; `valid_to` inclusive)."""
    w = rule["when"]
    for key, value in (("skus", product["sku"]), ("categories", product["category"]),
                       ("regions", book["region"]), ("segments", req.segment),
                       ("payment_terms", req.payment_terms)):
        if key in w and value not in w[key]:
            return False
    if ("valid_from" in w and req.on < w["valid_from"]) or ("valid_to" in w and req.on > w["valid_to"]):
        return False
    if req.quantity < w.get("min_quantity", 1):
        return False
    if stock < w.get("stock_at_least", 0) or ("stock_below" in w and stock >= w["stock_below"]):
        return False
    cur = book["currency"]
    if "deal_value_at_least" in w and (cur not in w["deal_value_at_least"]
                                       or deal_value < Decimal(w["deal_value_at_least"][cur])):
        return False
    if "deal_value_below" in w and (cur not in w["deal_value_below"]
                                    or deal_value >= Decimal(w["deal_value_below"][cur])):
        return False
    return True


@FAST
@given(st.data())
def test_rules_one_per_kind_stacked_and_suppressed_as_specified(data: st.DataObject) -> None:
    raw, catalog = data.draw(catalog_with_data())
    req = PriceRequest(**data.draw(gen.buyer_contexts(catalog)))
    ln = price(catalog, req)
    product = next(p for p in raw["products"] if p["sku"] == req.sku)
    book = next(b for b in raw["price_books"] if b["id"] == ln.price_book)
    stock = product["inventory"]["on_hand"] if req.stock is None else req.stock
    mode = _mode(raw, req.sku, book["id"])
    value = _expected_amount(product["prices"][book["id"]], req.quantity, mode)
    best: dict[str, dict[str, Any]] = {}  # gen.catalogs gives distinct priorities within a kind
    for rule in raw["rules"]:
        if _rule_matches(rule, product, book, req, stock, value):
            if rule["kind"] not in best or rule["priority"] > best[rule["kind"]]["priority"]:
                best[rule["kind"]] = rule
    # Rules apply by priority; equal priorities of different kinds in the engine's documented kind order
    # (segment, promotion, deal size, stock, payment terms, adjustment), then by id.
    kinds = ["segment", "promotion", "deal_size", "stock", "payment_terms", "adjustment"]
    chosen = sorted(best.values(), key=lambda r: (-r["priority"], kinds.index(r["kind"]), r["id"]))
    blocker = next((r for r in chosen if r["effect"].get("no_discounts")), None)

    def pct(rule: dict[str, Any]) -> Decimal | None:
        return Decimal(rule["effect"]["percent"]) if "percent" in rule["effect"] else None

    suppressed = {r["id"] for r in chosen if blocker is not None and r is not blocker
                  and pct(r) is not None and pct(r) < 0}
    applied = [r for r in chosen if r["id"] not in suppressed]
    assert {s.rule_id for s in ln.suppressed} == suppressed
    assert set(ln.rules_applied) == {r["id"] for r in applied}
    order = {r["id"]: r["priority"] for r in raw["rules"]}
    assert [order[i] for i in ln.rules_applied] == sorted((order[i] for i in ln.rules_applied), reverse=True)
    assert ln.no_discounts_rule == (blocker["id"] if blocker else None)
    allowance = sum((Decimal(r["effect"].get("allowance_percent", 0)) for r in applied), Decimal(0))
    assert ln.allowance_percent == (0 if blocker else allowance)
    amount = value / req.quantity
    for rule in applied:
        if pct(rule) is not None:
            amount *= 1 + pct(rule) / 100
    expected = amount.quantize(Decimal(1).scaleb(-MINOR_UNITS[book["currency"]]), rounding=ROUND_HALF_UP)
    assert ln.unit_price == expected, (ln.unit_price_exact, amount)


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
    raw, catalog = data.draw(catalog_with_data())
    req = data.draw(quotes(catalog))
    quote = price_quote(catalog, req)
    book = quote.lines[0].price_book
    products = {p["sku"]: p for p in raw["products"]}
    expected_value = sum((_expected_amount(products[i.sku]["prices"][book], i.quantity, _mode(raw, i.sku, book))
                          for i in req.items), Decimal(0))
    assert len(quote.lines) == len(req.items)
    for ln in quote.lines:
        _assert_exact(ln)
        assert ln.currency == quote.currency
        assert ln.deal_value == quote.deal_value
    assert quote.total == sum((ln.line_total for ln in quote.lines), Decimal(0))
    assert quote.total.as_tuple().exponent == -MINOR_UNITS[quote.currency]
    assert quote.deal_value == expected_value  # exact bracket amounts, before rules


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
