"""A product's volume breaks for one buyer: the price a first proposal would open at, at the first quantity of
each tier of the buyer's price book, from the MOQ up to the order maximum.

The tiers themselves are public (the catalog's Schema.org `UnitPriceSpecification`s, tools/catalog/jsonld.py);
these are the same breaks priced as an rfq of that quantity would be, through the desk (segment, dynamic rules,
payment terms, a floor above the list price), so what a buyer is told here is what its proposal will show.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tools.policy.desk import Desk

MAX_BREAKS = 12  # a schedule longer than this is cut: the answer is a summary, an rfq prices any quantity


@dataclass(frozen=True)
class PriceBreak:
    """From `quantity` units (range mode: every unit at `unit_price`; slab mode: `unit_price` is the blend
    of an order of exactly `quantity`)."""

    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class PriceBreaks:
    sku: str
    currency: str
    payment_terms: str
    tier_mode: str
    moq: int
    max_order_quantity: int | None
    breaks: tuple[PriceBreak, ...]


def price_breaks(desk: Desk, sku: str) -> PriceBreaks:
    """The breaks of `sku` for the desk's buyer, one per tier from the MOQ's: in range mode only where the
    price changes (two tiers at one price are one break); in slab mode every tier, as an order that just
    reaches a tier still averages about the price below it. Raises the desk's typed errors (unknown SKU, a
    region the product is not sold in)."""
    first = desk.surface(sku, 1)
    slab = first.pricing.tier_mode == "slab"
    quantity, surface = first.moq, first
    breaks: list[PriceBreak] = []
    while len(breaks) < MAX_BREAKS:
        if surface.quantity != quantity:
            surface = desk.surface(sku, quantity)
        if slab or not breaks or surface.opening_price != breaks[-1].unit_price:
            breaks.append(PriceBreak(quantity, surface.opening_price))
        nxt = surface.next_tier_min
        if nxt is None or (first.max_order_quantity is not None and nxt > first.max_order_quantity):
            break
        quantity = nxt
    return PriceBreaks(sku=sku, currency=first.currency, payment_terms=first.payment_terms,
                       tier_mode=first.pricing.tier_mode, moq=first.moq, max_order_quantity=first.max_order_quantity,
                       breaks=tuple(breaks))
