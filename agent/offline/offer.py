"""What a buyer's words ask of the current offer, in the offer's own figures: a percentage off it, a total for
it, the middle of it and the buyer's last asks, a price on some of its lines with the others kept. The
parser (agent/offline/understand.py) and the text model's reading (agent/models/resilient.py) price these the
same way, here, never by a model."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from agent.contract import MAX_ITEMS, CounterItem
from agent.offline.context import MAX_QUANTITY, TextContext
from agent.offline.patterns import _MIDPOINT
from agent.offline.scan import _fmt
from tools.money import HUNDRED, floor_money, is_currency, round_money
from tools.pricing.engine import base_rate, brackets_for


def _proposal_lines(ctx: TextContext) -> list[tuple[str, int | None]]:
    skus = [s for s in ctx.proposal_skus if isinstance(s, str) and s]
    qtys = list(ctx.proposal_quantities)
    out = []
    for i, sku in enumerate(skus):
        q = qtys[i] if i < len(qtys) and isinstance(qtys[i], int) and 1 <= qtys[i] <= MAX_QUANTITY else None
        out.append((sku, q))
    return out


def discount_items(ctx: TextContext, percent: Decimal, currency: str | None,
                   only: set[str] | None = None) -> tuple[list[CounterItem], list[str]] | None:
    """A percentage off the current offer as counter-offer lines, with a note per line saying how each price was
    reached: each line at its offered unit price (`ctx.proposal_prices`) less `percent`, rounded half up to the
    currency's minor unit; with `only`, just those products' lines, the others asked at their offered price
    (the offer stays whole). The buyer's ask in the seller's own figures; the text model's reading
    (agent/models/resilient.py) takes it from here too. None when the context lacks what it needs."""
    offer = _offer_lines(ctx, currency)
    if (offer is None or not percent.is_finite() or not 0 < percent < 100
            or (only is not None and not only <= {s for s, _, _ in offer})):
        return None
    share = (HUNDRED - percent) / HUNDRED
    asked = {i: round_money(offered * share, currency) for i, (sku, _, offered) in enumerate(offer[:MAX_ITEMS])
             if only is None or sku in only}
    return _asked_over_offer(offer, currency, asked, lambda line, price: (
        f"{_fmt(percent)}% off the offered {_fmt(line[2])} {currency} read as {_fmt(price)} for {line[0]} x {line[1]}"))


def catalog_discount_items(ctx: TextContext, lines: list[tuple[str, int]], percent: Decimal, region: str | None,
                           currency: str | None) -> tuple[list[CounterItem], list[str]] | None:
    """A percentage off asked with an rfq ("need 200 x BRG-6204 with 5% off") as the prices asked for its lines, with
    a note per line: each product's catalog price for that quantity in the buyer's price book (its volume tier, or
    the blend of its slabs; before any pricing rule), less `percent`, rounded half up to the currency's minor unit.
    The buyer's target, as "can you do 3.10?" is; the strategy decides what is offered. None when the context lacks
    the price book or a line's price there."""
    if not isinstance(region, str) or not region or not percent.is_finite() or not 0 < percent < 100:
        return None
    book = ctx.catalog.book_for(region, currency)
    if book is None or not is_currency(book.currency):
        return None
    share = (HUNDRED - percent) / HUNDRED
    items, notes = [], []
    for sku, qty in lines[:MAX_ITEMS]:
        product = ctx.catalog.products.get(sku)
        prices = product.prices.get(book.id) if product is not None else None
        if prices is None or not 1 <= qty <= MAX_QUANTITY:
            return None
        base = round_money(base_rate(brackets_for(prices.schedule, qty, ctx.catalog.tier_mode(product, book))[0]),
                           book.currency)
        asked = round_money(base * share, book.currency)
        if asked <= 0:
            return None
        items.append(CounterItem(sku=sku, quantity=qty, unit_price=asked))  # type: ignore[arg-type]
        notes.append(f"{_fmt(percent)}% off the catalog price {_fmt(base)} {book.currency} for {qty} x {sku} (before "
                     f"any rule) read as {_fmt(asked)} asked")
    return items, notes


def total_items(ctx: TextContext, total: Decimal, currency: str | None) -> tuple[list[CounterItem], list[str]] | None:
    """A total for the whole current offer ("1000 EUR for the lot", "our budget is 900") as counter-offer lines:
    each line's offered unit price scaled by the total's share of the offer's total, rounded down to the
    currency's minor unit so the lines add up to no more than the total; a total at or above the offer's asks
    the offered prices. A note per line says how its price was reached. None when the context lacks the offer's
    prices or currency, or a line would be priced at nothing."""
    offer = _offer_lines(ctx, currency)
    if offer is None or not total.is_finite() or total <= 0:
        return None
    offered_total = sum((qty * offered for _, qty, offered in offer[:MAX_ITEMS]), Decimal(0))
    share = min(total / offered_total, Decimal(1))
    asked = {i: floor_money(offered * share, currency)  # type: ignore[arg-type]
             for i, (_, _, offered) in enumerate(offer[:MAX_ITEMS])}
    return _asked_over_offer(offer, currency, asked, lambda line, price: (
        f"total {_fmt(total)} {currency} for the offer's {_fmt(offered_total)} read as {_fmt(price)} for "
        f"{line[0]} x {line[1]} (offered {_fmt(line[2])})"))


def _asked_over_offer(offer: list[tuple[str, int, Decimal]], currency: str | None, asked: dict[int, Decimal],
                      how: Any) -> tuple[list[CounterItem], list[str]] | None:
    """The offer with the lines in `asked` (by position) at their asked price, each noted as `how(line, price)`
    says it was reached (`_over_offer`); None when a price comes to nothing."""
    if any(price <= 0 for price in asked.values()):
        return None
    return _over_offer(offer, currency, {i: (
        CounterItem(sku=offer[i][0], quantity=offer[i][1], unit_price=price),  # type: ignore[arg-type]
        how(offer[i], price)) for i, price in asked.items()})


def asks_midpoint(text: str) -> bool:
    """Does the text ask to split the difference? (The caller then gives the context the buyer's last asks.)"""
    return bool(_MIDPOINT.search(text))


def midpoint_items(ctx: TextContext, currency: str | None) -> tuple[list[CounterItem], list[str]] | None:
    """'Split the difference' on the current offer as counter-offer lines, a note per line: each line the buyer
    asked a lower price on at the midpoint of its offered unit price and that ask (`ctx.proposal_asks`),
    rounded half up to the currency's minor unit, the others at their offered price. None without the offer's
    prices or without an ask below them."""
    offer = _offer_lines(ctx, currency)
    if offer is None or len(ctx.proposal_asks) != len(offer):
        return None
    priced = {}
    for i, ((sku, qty, offered), ask) in enumerate(zip(offer[:MAX_ITEMS], ctx.proposal_asks)):
        if isinstance(ask, Decimal) and ask.is_finite() and 0 < ask < offered:
            asked = round_money((offered + ask) / 2, currency)
            priced[i] = (CounterItem(sku=sku, quantity=qty, unit_price=asked),  # type: ignore[arg-type]
                         f"the difference between the offered {_fmt(offered)} and your {_fmt(ask)} {currency} "
                         f"split: read as {_fmt(asked)} for {sku} x {qty}")
    return _over_offer(offer, currency, priced) if priced else None


def _offer_lines(ctx: TextContext, currency: str | None) -> list[tuple[str, int, Decimal]] | None:
    """The current offer's lines with their offered unit prices, what a percentage or a midpoint is taken from;
    None when the context lacks them or the currency."""
    lines = _proposal_lines(ctx)
    prices = [p for p in ctx.proposal_prices if isinstance(p, Decimal) and p.is_finite() and p > 0]
    if currency is None or not is_currency(currency) or not lines or len(prices) != len(lines) \
            or any(q is None for _, q in lines):
        return None
    return [(sku, qty, offered) for (sku, qty), offered in zip(lines, prices)]  # type: ignore[misc]


def _over_offer(offer: list[tuple[str, int, Decimal]], currency: str | None,
                priced: dict[int, tuple[CounterItem, str | None]]) -> tuple[list[CounterItem], list[str]]:
    """A counter-offer over the whole current offer, in its order: the lines in `priced` (by position) as given,
    with their notes; every other line asked at its offered price, noted as kept."""
    items, notes = [], []
    for i, (sku, qty, offered) in enumerate(offer[:MAX_ITEMS]):
        item, note = priced.get(i) or (CounterItem(sku=sku, quantity=qty, unit_price=offered),  # type: ignore[arg-type]
                                       f"{sku} x {qty} kept at the offered {_fmt(offered)} {currency}")
        items.append(item)
        if note:
            notes.append(note)
    return items, notes


def with_offer_lines(ctx: TextContext, items: list[CounterItem], currency: str | None, without: str | None = None
                     ) -> tuple[list[CounterItem], list[str]]:
    """A counter-offer on some of the current offer's lines, completed with the others (but the line `without`,
    which the buyer removed) asked at their offered price, in the offer's order: a buyer who counters one line
    keeps the rest rather than dropping it. As given when the context lacks the offer's prices or an item is
    not on the offer."""
    offer = _offer_lines(ctx, currency)
    if offer is not None and without is not None:
        offer = [line for line in offer if line[0] != without]
    named = {it.sku: it for it in items}
    if offer is None or not set(named) <= {sku for sku, _, _ in offer} or len(named) != len(items):
        return items, []
    return _over_offer(offer, currency, {i: (named[sku], None) for i, (sku, _, _) in enumerate(offer[:MAX_ITEMS])
                                         if sku in named})
