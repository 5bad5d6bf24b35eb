"""Pydantic models of a catalog file, and the validated, indexed `Catalog`.

The file is the vendor's source of truth for products and list prices;
validation is strict so that a typo is an error naming the field, never a
silently wrong price.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from tools.pricing.rules import PricingRule
from tools.types import Count, CurrencyCode, Ident, Price

TierMode = Literal["range", "slab"]
SpecValue = str | int | Decimal | bool


class Strict(BaseModel):
    """Base for file models: unknown fields are errors, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceBook(Strict):
    """A regional price book: one region, one currency, one default tier mode."""

    id: Ident
    region: Ident = Field(description="Region code the book serves, e.g. US or EU")
    currency: CurrencyCode
    tier_mode: TierMode = "range"
    description: str = ""


class Segment(Strict):
    """A customer segment (standard, strategic, ...); its discounts are pricing rules."""

    id: Ident
    description: str = ""


class Tier(Strict):
    """Units `min`..`max` (inclusive; open-ended when max is absent) at `price` each."""

    min: Count = Field(ge=1)
    max: Count | None = Field(default=None, ge=1)
    price: Price

    @model_validator(mode="after")
    def _bounds(self) -> Tier:
        if self.max is not None and self.max < self.min:
            raise ValueError(f"tier max {self.max} is below its min {self.min}")
        return self


def _units(tier: Tier) -> str:
    return f"{tier.min}+ units" if tier.max is None else f"{tier.min}-{tier.max} units"


class ProductPrice(Strict):
    """A product's list price in one price book, with optional volume tiers.

    Quantities below the first tier's `min` are charged the list price.
    """

    list: Price
    tiers: tuple[Tier, ...] = ()

    @model_validator(mode="after")
    def _tiers_in_order(self) -> ProductPrice:
        # Tiers are named as the file's path names them (tiers[0] is the first written), with their units, so
        # a message points at the line to fix; `dealdesk price` counts volume tiers from 1 and names their units.
        prev: Tier | None = None
        for i, tier in enumerate(self.tiers):
            here = f"tiers[{i}] ({_units(tier)})"
            if prev is not None:
                there = f"tiers[{i - 1}] ({_units(prev)})"
                if tier.min <= prev.min:
                    raise ValueError(f"tiers out of order: {here} starts at {tier.min}, not after {there}")
                if prev.max is None or tier.min <= prev.max:
                    raise ValueError(f"tiers overlap: {here} starts inside {there}")
                if tier.min != prev.max + 1:
                    raise ValueError(f"gap between tiers: {prev.max} to {tier.min} ({there}, then {here}): no price "
                                     f"for {prev.max + 1}" + (f"-{tier.min - 1}" if tier.min - 1 > prev.max + 1 else "")
                                     + " units")
                if tier.price > prev.price:
                    raise ValueError(f"{here} price {tier.price} rises above {there} price {prev.price}")
            elif tier.min == 1 and tier.price != self.list:
                raise ValueError(f"{here} starts at 1, so it must carry the list price {self.list}")
            if tier.price > self.list:
                raise ValueError(f"{here} price {tier.price} is above the list price {self.list}")
            if tier.max is None and i != len(self.tiers) - 1:
                raise ValueError(f"only the last tier may be open-ended ({here} has no max)")
            prev = tier
        return self

    @cached_property
    def schedule(self) -> tuple[Tier, ...]:
        """The full schedule from 1 unit, the list price filling any head below the first tier."""
        if self.tiers and self.tiers[0].min == 1:
            return self.tiers
        head_max = self.tiers[0].min - 1 if self.tiers else None
        return (Tier(min=1, max=head_max, price=self.list), *self.tiers)


class Inventory(Strict):
    """Stock on hand when the catalog seeds the store, or a product made to order.

    A made-to-order product keeps no stock: every unit is made (or bought in) for the order, so an offer
    holds nothing and a deal allocates nothing, and the lead time is the capacity's restock lead time for
    the quantity (Odoo's "replenish on order" route). It cannot also have stock on hand: one product,
    one way to fulfil it."""

    on_hand: Count = Field(ge=0)
    made_to_order: bool = Field(default=False, description="Every unit is made to order; no stock is kept or held")

    @model_validator(mode="after")
    def _no_stock_if_made_to_order(self) -> Inventory:
        if self.made_to_order and self.on_hand:
            raise ValueError(f"a made-to-order product keeps no stock: on_hand must be 0, not {self.on_hand}")
        return self

    @model_serializer(mode="wrap")
    def _written_when_set(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """`made_to_order` is written only when true, so a catalog without it keeps its version (digest)."""
        out = handler(self)
        if not self.made_to_order:
            out.pop("made_to_order", None)
        return out


class Capacity(Strict):
    """How fast units beyond stock can be made or bought in."""

    lead_time_days: Count = Field(ge=0, description="Days to deliver from stock")
    restock_lead_time_days: Count = Field(ge=0, description="Days before the first units beyond stock arrive")
    weekly_capacity: Count = Field(ge=1, description="Units per week beyond stock")

    def lead_time_for(self, quantity: int, available: int) -> int:
        """Days to deliver `quantity` when `available` units are in stock."""
        short = quantity - max(available, 0)
        if short <= 0:
            return self.lead_time_days
        weeks = -(-short // self.weekly_capacity)
        return self.restock_lead_time_days + (weeks - 1) * 7


class Product(Strict):
    """One SKU with its specs, costs and prices in each price book."""

    sku: Ident
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    category: Ident
    unit: str = Field(default="H87", pattern=r"^[A-Z0-9]{2,3}$", description="UN/CEFACT Rec. 20 unit code")
    specs: dict[str, SpecValue] = Field(default_factory=dict)
    compatible: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    cost: dict[CurrencyCode, Price]
    prices: dict[str, ProductPrice] = Field(min_length=1)
    tier_mode: TierMode | None = None
    inventory: Inventory
    capacity: Capacity

    @property
    def stated_lead_time_days(self) -> int:
        """The lead time a product lookup states (for one unit, before any quantity is known): from stock, or for a
        made-to-order product the restock lead time."""
        return self.capacity.lead_time_for(1, 0) if self.inventory.made_to_order else self.capacity.lead_time_days

    @property
    def pieces_per_unit(self) -> int | None:
        """How many pieces one unit holds, for a product sold in packs (a box of 100: its `pieces_per_box` or
        `pieces_per_pack` spec, a whole number); None when the catalog does not say."""
        for key in PACK_SPECS:
            value = self.specs.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
                return value
            if isinstance(value, Decimal) and value == value.to_integral_value() and value >= 1:
                return int(value)
        return None


PACK_SPECS = ("pieces_per_box", "pieces_per_pack")  # the specs that say how many pieces one unit (a pack) holds


class CatalogFile(Strict):
    """The whole catalog file as written by the vendor."""

    version: Literal[1] = 1
    vendor: str = "dealdesk vendor"
    price_books: tuple[PriceBook, ...] = Field(min_length=1)
    segments: tuple[Segment, ...] = (Segment(id="standard"),)
    products: tuple[Product, ...] = Field(min_length=1)
    rules: tuple[PricingRule, ...] = ()


class Catalog:
    """A validated catalog, indexed for lookup, with a content digest as its version."""

    def __init__(self, doc: CatalogFile, *, source: str = "<memory>"):
        self.doc = doc
        self.source = source
        self.vendor = doc.vendor
        self.price_books: dict[str, PriceBook] = {b.id: b for b in doc.price_books}
        self.segments: dict[str, Segment] = {s.id: s for s in doc.segments}
        self.products: dict[str, Product] = {p.sku: p for p in doc.products}
        self.rules: tuple[PricingRule, ...] = doc.rules
        self.categories: tuple[str, ...] = tuple(sorted({p.category for p in doc.products}))

    @cached_property
    def version(self) -> str:
        """sha256 of the canonical JSON of the catalog: the same content, the same version."""
        canonical = json.dumps(self.doc.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()

    def book_for(self, region: str, currency: str | None = None) -> PriceBook | None:
        """The price book serving `region` (in `currency`, when given)."""
        for book in self.price_books.values():
            if book.region == region and (currency is None or book.currency == currency):
                return book
        return None

    def regions(self) -> tuple[str, ...]:
        return tuple(sorted({b.region for b in self.price_books.values()}))

    def tier_mode(self, product: Product, book: PriceBook) -> TierMode:
        return product.tier_mode or book.tier_mode

    def __len__(self) -> int:
        return len(self.products)

    def __contains__(self, sku: object) -> bool:
        return sku in self.products
