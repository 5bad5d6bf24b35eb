"""The pricing engine: pure functions from (catalog, request) to an explained price.

Pipeline for one line, each step recorded in the result:
1. the price book for the buyer's region (and currency);
2. the base unit rate from the volume schedule, in range or slab mode;
3. the pricing rules that match, one per kind, applied in priority order
   as percentage adjustments compounding on the unit price;
4. half-up rounding to the currency's minor unit; the line total is the
   rounded unit price times the quantity, so it is exact.

`replay` recomputes the unit price from the explanation alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from tools.catalog.models import Catalog, PriceBook, Product
from tools.errors import InvalidQuantity, RegionNotServed, RuleConflict, UnknownSegment, UnsupportedCurrency
from tools.money import HUNDRED, percent_of, round_money
from tools.pricing.models import Bracket, LinePrice, PriceRequest, PriceStep, Quote, QuoteRequest, SuppressedRule
from tools.pricing.rules import PricingRule, stock_matches

ONE = Decimal(1)
_KIND_ORDER = {"segment": 0, "promotion": 1, "deal_size": 2, "stock": 3, "payment_terms": 4, "adjustment": 5}


def resolve_book(catalog: Catalog, region: str, currency: str | None) -> PriceBook:
    """The price book for the buyer, or a typed error naming the field at fault."""
    book = catalog.book_for(region, currency)
    if book is not None:
        return book
    if catalog.book_for(region) is None:
        raise RegionNotServed(f"region {region!r} is not served (served: {', '.join(catalog.regions())})",
                              field="region")
    offered = sorted(b.currency for b in catalog.price_books.values() if b.region == region)
    raise UnsupportedCurrency(f"currency {currency!r} is not offered in region {region} (offered: {', '.join(offered)})",
                              field="currency")


def _product(catalog: Catalog, sku: str) -> Product:
    product = catalog.products.get(sku)
    if product is None:
        from tools.catalog.search import unknown_sku  # (search is a sibling layer: imported on the error path only)

        raise unknown_sku(catalog, sku)
    return product


def brackets_for(schedule, quantity: int, mode: str) -> tuple[tuple[Bracket, ...], int]:
    """The priced brackets of `quantity` and the index of the tier it falls in.

    Quantities above a closed last tier stay at the last tier's rate: more
    units never cost more per unit.
    """
    last = len(schedule) - 1
    index = last
    for i, tier in enumerate(schedule):
        if tier.min <= quantity and (tier.max is None or quantity <= tier.max):
            index = i
            break
    if mode == "range":
        tier = schedule[index]
        return (Bracket(min=tier.min, max=tier.max, quantity=quantity, rate=tier.price),), index
    out = []
    for i, tier in enumerate(schedule[: index + 1]):
        top = quantity if tier.max is None or i == last else min(tier.max, quantity)
        out.append(Bracket(min=tier.min, max=tier.max, quantity=top - tier.min + 1, rate=tier.price))
    return tuple(out), index


def base_amount(brackets: tuple[Bracket, ...]) -> Decimal:
    """The line's value before rules: each bracket's units at its rate, exact."""
    return sum((b.rate * b.quantity for b in brackets), Decimal(0))


def base_rate(brackets: tuple[Bracket, ...]) -> Decimal:
    """The unit rate before rules: the tier rate, or the slab blend of the brackets."""
    if len(brackets) == 1:
        return brackets[0].rate
    quantity = sum(b.quantity for b in brackets)
    return sum((b.rate * b.quantity for b in brackets), Decimal(0)) / quantity


def _in(value: str, allowed: tuple[str, ...] | None) -> bool:
    return allowed is None or value in allowed


def rule_matches(rule: PricingRule, product: Product, book: PriceBook, req: PriceRequest,
                 stock: int, deal_value: Decimal) -> bool:
    w = rule.when
    if not (_in(product.sku, w.skus) and _in(product.category, w.categories) and _in(book.region, w.regions)
            and _in(req.segment, w.segments)):
        return False
    if w.payment_terms is not None and req.payment_terms not in w.payment_terms:
        return False
    if (w.valid_from and req.on < w.valid_from) or (w.valid_to and req.on > w.valid_to):
        return False
    if w.min_quantity is not None and req.quantity < w.min_quantity:
        return False
    if not stock_matches(w, stock, product.inventory.made_to_order):
        return False
    if w.deal_value_at_least is not None:
        floor = w.deal_value_at_least.get(book.currency)
        if floor is None or deal_value < floor:
            return False
    if w.deal_value_below is not None:
        ceiling = w.deal_value_below.get(book.currency)
        if ceiling is None or deal_value >= ceiling:
            return False
    return True


def _deciding_field(a: PricingRule, b: PricingRule, stock: int, deal_value: Decimal, currency: str) -> tuple[str, str]:
    """The request field that decides a conflict between two rules, and its figure, for the error: the stock (the
    catalog's on-hand, or the request's) or the deal value (the quantities priced together); static pairs are refused
    at load time, so "rules" is only for catalogs built in code."""
    if any(r.when.stock_at_least is not None or r.when.stock_below is not None for r in (a, b)):
        return "stock", f" at stock {stock}"
    if any(r.when.deal_value_at_least is not None or r.when.deal_value_below is not None for r in (a, b)):
        return "quantity", f" at deal value {round_money(deal_value, currency)} {currency}"
    return "rules", ""


def select_rules(matching: list[PricingRule], *, stock: int = 0, deal_value: Decimal = Decimal(0),
                 currency: str = "USD") -> list[PricingRule]:
    """One rule per kind: the highest priority. A tie with different effects is a conflict, an error naming both rules
    and the field (stock or quantity) whose figure makes both match."""
    best: dict[str, PricingRule] = {}
    for rule in sorted(matching, key=lambda r: (-r.priority, r.id)):
        held = best.get(rule.kind)
        if held is None:
            best[rule.kind] = rule
        elif held.priority == rule.priority and held.effect != rule.effect:
            field, figure = _deciding_field(held, rule, stock, deal_value, currency)
            raise RuleConflict(
                f"pricing rules {held.id!r} and {rule.id!r} both match{figure} with priority {rule.priority} "
                f"and different effects",
                (held.id, rule.id), field=field,
            )
    return sorted(best.values(), key=lambda r: (-r.priority, _KIND_ORDER[r.kind], r.id))


def condition_text(rule: PricingRule, stock: int, deal_value: Decimal, currency: str) -> str:
    """The dynamic figures a matching rule's condition met: "stock 40 < 50", "deal value 11600.00 USD >= 10000 USD"."""
    w = rule.when
    parts = []
    if w.stock_at_least is not None or w.stock_below is not None:
        bounds = ([f">= {w.stock_at_least}"] if w.stock_at_least is not None else []) + \
            ([f"< {w.stock_below}"] if w.stock_below is not None else [])
        parts.append(f"stock {stock} {' and '.join(bounds)}")
    if w.deal_value_at_least is not None or w.deal_value_below is not None:
        bounds = []
        if w.deal_value_at_least is not None:
            bounds.append(f">= {w.deal_value_at_least[currency]} {currency}")
        if w.deal_value_below is not None:
            bounds.append(f"< {w.deal_value_below[currency]} {currency}")
        parts.append(f"deal value {round_money(deal_value, currency)} {currency} {' and '.join(bounds)}")
    return ", ".join(parts)


def price(catalog: Catalog, req: PriceRequest, *, deal_value: Decimal | None = None) -> LinePrice:
    """Price one line. `deal_value` is the quote's value before rules (defaults to this line's)."""
    product = _product(catalog, req.sku)
    if req.quantity < 1:
        raise InvalidQuantity("quantity must be at least 1", field="quantity")
    if req.segment not in catalog.segments:
        raise UnknownSegment(f"unknown segment {req.segment!r}", field="segment")
    book = resolve_book(catalog, req.region, req.currency)
    book_price = product.prices.get(book.id)
    if book_price is None:
        raise RegionNotServed(f"{product.sku} is not sold in region {book.region}", field="region")
    mode = catalog.tier_mode(product, book)
    brackets, tier_index = brackets_for(book_price.schedule, req.quantity, mode)
    base = base_rate(brackets)
    stock = product.inventory.on_hand if req.stock is None else req.stock
    value = base_amount(brackets) if deal_value is None else deal_value

    matching = [r for r in catalog.rules if rule_matches(r, product, book, req, stock, value)]
    chosen = select_rules(matching, stock=stock, deal_value=value, currency=book.currency)
    blocker = next((r for r in chosen if r.effect.no_discounts), None)

    steps: list[PriceStep] = []
    suppressed: list[SuppressedRule] = []
    allowance = Decimal(0)
    amount = base
    for rule in chosen:
        pct = rule.effect.percent
        if blocker is not None and rule is not blocker and pct is not None and pct < 0:
            suppressed.append(SuppressedRule(rule_id=rule.id, reason=f"no discounts while {blocker.id} applies"))
            continue
        if rule.effect.allowance_percent is not None and blocker is None:
            allowance += rule.effect.allowance_percent
        why = condition_text(rule, stock, value, book.currency) if rule.when.is_dynamic else ""
        if pct is not None and pct != 0:
            after = amount * (ONE + pct / HUNDRED)
            steps.append(PriceStep(rule_id=rule.id, kind=rule.kind, description=rule.description,
                                   percent=pct, before=amount, after=after, condition=why))
            amount = after
        else:
            steps.append(PriceStep(rule_id=rule.id, kind=rule.kind, description=rule.description,
                                   percent=None, before=amount, after=amount, condition=why))

    unit = round_money(amount, book.currency)
    list_price = book_price.list
    # Every field is computed here from validated inputs, so validation is skipped (hot path).
    return LinePrice.model_construct(
        sku=product.sku,
        quantity=req.quantity,
        region=book.region,
        currency=book.currency,
        price_book=book.id,
        segment=req.segment,
        payment_terms=req.payment_terms,
        on=req.on,
        stock=stock,
        deal_value=value,
        tier_mode=mode,
        tier_index=tier_index,
        brackets=brackets,
        list_price=list_price,
        base_unit_price=base,
        steps=tuple(steps),
        suppressed=tuple(suppressed),
        unit_price_exact=amount,
        unit_price=unit,
        line_total=unit * req.quantity,
        discount_from_list_percent=percent_of(list_price - unit, list_price),
        allowance_percent=allowance,
        no_discounts_rule=blocker.id if blocker else None,
        rules_applied=tuple(s.rule_id for s in steps),
        catalog_version=catalog.version,
    )


def order_value(catalog: Catalog, region: str, currency: str | None, lines: Iterable[tuple[str, int]]) -> Decimal:
    """The value before rules of lines priced together, in the buyer's book: what deal-size rules see, in a
    quote as in a negotiation. Lines that cannot be priced there add nothing (they are refused on their own)."""
    book = resolve_book(catalog, region, currency)
    value = Decimal(0)
    for sku, quantity in lines:
        product = catalog.products.get(sku)
        book_price = product.prices.get(book.id) if product is not None else None
        if book_price is None or quantity < 1:
            continue
        value += base_amount(brackets_for(book_price.schedule, quantity, catalog.tier_mode(product, book))[0])
    return value


def price_quote(catalog: Catalog, req: QuoteRequest) -> Quote:
    """Price several lines together; deal-size rules see the whole quote's base value."""
    lines_req = [req.line(item.sku, item.quantity) for item in req.items]
    book = resolve_book(catalog, req.region, req.currency)
    value = order_value(catalog, req.region, req.currency, [(line.sku, line.quantity) for line in lines_req])
    lines = tuple(price(catalog, line, deal_value=value) for line in lines_req)  # refuses what order_value skips
    return Quote(currency=book.currency, region=book.region, segment=req.segment, payment_terms=req.payment_terms,
                 on=req.on, lines=lines, total=sum((ln.line_total for ln in lines), Decimal(0)),
                 deal_value=value, catalog_version=catalog.version)


def replay(line: LinePrice) -> Decimal:
    """Recompute the unit price from the explanation only (brackets, steps, rounding)."""
    amount = base_rate(line.brackets)
    for step in line.steps:
        if step.percent is not None:
            amount = amount * (ONE + step.percent / HUNDRED)
    return round_money(amount, line.currency)


def _tier_line(line: LinePrice) -> str:
    """The volume step of the explanation. Tier 0 is the list price below the first volume tier: no tier at all."""
    cur = line.currency
    first = line.brackets[0]
    if line.tier_index == 0:
        under = f" (under {first.max + 1} units)" if first.max is not None else ""
        return f"no volume tier{under}: list price {first.rate} {cur}/unit"
    if line.tier_mode == "range":
        span = f"{first.min}-{first.max}" if first.max else f"{first.min}+"
        return f"volume tier {line.tier_index} ({span} units, range mode): {first.rate} {cur}/unit"
    parts = [f"{b.quantity} x {b.rate}" for b in line.brackets]
    return f"volume slabs ({' + '.join(parts)}) / {line.quantity} = {line.base_unit_price} {cur}/unit"


def explain_lines(line: LinePrice) -> list[str]:
    """A person-readable explanation: one line per step, ending at the quoted price."""
    cur = line.currency
    out = [f"price book {line.price_book} ({line.region}, {cur}), list price {line.list_price} {cur}/unit",
           _tier_line(line)]
    for step in line.steps:
        why = f"{step.condition}: " if step.condition else ""
        if step.percent is None:
            blocks = step.rule_id == line.no_discounts_rule
            effect = "no discounts, no negotiation room" if blocks else "no price change"
            out.append(f"rule {step.rule_id} ({step.kind}): {why}{effect}")
        else:
            sign = "+" if step.percent > 0 else ""
            out.append(f"rule {step.rule_id} ({step.kind}): {why}{sign}{step.percent}% -> {step.after}")
    for s in line.suppressed:
        out.append(f"rule {s.rule_id}: not applied, {s.reason}")
    if line.allowance_percent:
        out.append(f"negotiation allowance from rules: +{line.allowance_percent}% extra discount room")
    out.append(f"round half-up to the {cur} minor unit: {line.unit_price} {cur}/unit")
    out.append(f"line total: {line.unit_price} x {line.quantity} = {line.line_total} {cur}")
    return out


def today() -> dt.date:
    """The pricing date when none is given: today in UTC, as the negotiation prices (instants are UTC
    everywhere), whatever the host's time zone."""
    return dt.datetime.now(dt.UTC).date()
