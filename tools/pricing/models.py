"""Typed requests and results of the pricing engine.

Results carry every figure as an exact Decimal (serialised as a string) and
enough of the computation to replay it: brackets, steps and rounding.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from tools.pricing.rules import RuleKind
from tools.types import Dec


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BuyerContext(_Model):
    """Who is buying: decides the price book, segment rules and terms."""

    region: str = "US"
    currency: str | None = None
    segment: str = "standard"
    payment_terms: str = "NET30"
    on: dt.date = Field(default_factory=lambda: dt.datetime.now(dt.UTC).date(),
                       description="Pricing date (promotions); today in UTC by default")


class PriceRequest(BuyerContext):
    sku: str
    quantity: int
    stock: int | None = Field(default=None, description="Inventory level; defaults to the catalog's on-hand")


class QuoteItem(_Model):
    sku: str
    quantity: int


class QuoteRequest(BuyerContext):
    items: tuple[QuoteItem, ...] = Field(min_length=1)

    def line(self, sku: str, quantity: int) -> PriceRequest:
        return PriceRequest(sku=sku, quantity=quantity, **self.model_dump(exclude={"items"}))


# The per-line parts below are plain frozen dataclasses: they are built on the
# pricing hot path, and pydantic still validates and serialises them as fields.


@dataclass(frozen=True, slots=True)
class Bracket:
    """Units priced at one tier rate (range mode has one bracket, slab mode one per tier reached)."""

    min: int
    max: int | None
    quantity: int
    rate: Decimal


@dataclass(frozen=True, slots=True)
class PriceStep:
    """One rule applied to the unit price: exact amounts before and after."""

    rule_id: str
    kind: RuleKind
    description: str
    percent: Decimal | None
    before: Decimal
    after: Decimal
    # The stock or deal-value figure the rule's condition met ("stock 40 < 50"), so the explanation shows why a
    # dynamic rule applied; empty for a rule with static conditions only.
    condition: str = ""


@dataclass(frozen=True, slots=True)
class SuppressedRule:
    rule_id: str
    reason: str


class LinePrice(_Model):
    """One priced line and its explanation."""

    sku: str
    quantity: int
    region: str
    currency: str
    price_book: str
    segment: str
    payment_terms: str
    on: dt.date
    stock: int
    deal_value: Dec
    tier_mode: str
    tier_index: int
    brackets: tuple[Bracket, ...]
    list_price: Dec
    base_unit_price: Dec
    steps: tuple[PriceStep, ...]
    suppressed: tuple[SuppressedRule, ...]
    unit_price_exact: Dec
    unit_price: Dec
    line_total: Dec
    discount_from_list_percent: Dec
    allowance_percent: Dec = Field(description="Extra negotiation room granted by rules (overstock, deal size)")
    no_discounts_rule: str | None = Field(description="Rule that forbids any discount (low stock), if one applies")
    rules_applied: tuple[str, ...]
    catalog_version: str


class Quote(_Model):
    currency: str
    region: str
    segment: str
    payment_terms: str
    on: dt.date
    lines: tuple[LinePrice, ...]
    total: Dec
    deal_value: Dec
    catalog_version: str


__all__ = ["BuyerContext", "Bracket", "Decimal", "LinePrice", "PriceRequest", "PriceStep", "Quote",
           "QuoteItem", "QuoteRequest", "SuppressedRule"]
