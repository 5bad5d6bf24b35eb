"""Pricing rules as data: segment discounts, promotions, stock and deal-size rules, payment terms.

A rule is a condition (`when`) and an effect. Rules of one `kind` are
exclusive: the matching rule with the highest priority applies. Two matching
rules of one kind and equal priority with different effects are a conflict,
which is an error, never a silent pick (Odoo and Salesforce CPQ order rules by
sequence; we refuse the tie instead). Different kinds stack, in priority order.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from collections.abc import Iterable
from itertools import combinations
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.types import Count, CurrencyCode, Ident, Money, Percent

RuleKind = Literal["segment", "promotion", "stock", "deal_size", "payment_terms", "adjustment"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleWhen(_Strict):
    """Conditions, all of which must hold. An absent condition always holds.

    Static conditions (sku, category, region, segment, terms, dates, quantity)
    are known before pricing; dynamic ones (stock, deal value) only when a
    price is computed.
    """

    skus: tuple[str, ...] | None = None
    categories: tuple[str, ...] | None = None
    regions: tuple[str, ...] | None = None
    segments: tuple[str, ...] | None = None
    payment_terms: tuple[str, ...] | None = None
    valid_from: dt.date | None = None
    valid_to: dt.date | None = Field(default=None, description="Last day the rule applies (inclusive)")
    min_quantity: Count | None = Field(default=None, ge=1)
    stock_at_least: Count | None = Field(default=None, ge=0)
    stock_below: Count | None = Field(default=None, ge=1)
    deal_value_at_least: dict[CurrencyCode, Money] | None = None
    deal_value_below: dict[CurrencyCode, Money] | None = None

    @model_validator(mode="after")
    def _ranges(self) -> RuleWhen:
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        if self.stock_at_least is not None and self.stock_below is not None and self.stock_below <= self.stock_at_least:
            raise ValueError("stock_below must be above stock_at_least")
        return self

    @property
    def is_dynamic(self) -> bool:
        return any(
            v is not None
            for v in (self.stock_at_least, self.stock_below, self.deal_value_at_least, self.deal_value_below)
        )


class RuleEffect(_Strict):
    """What a matching rule does.

    - `percent`: price adjustment in percent; negative is a discount ("-5"), positive a surcharge ("1").
    - `allowance_percent`: extra negotiation room on top of the policy's maximum discount (overstock).
    - `no_discounts`: suppress every discount from other rules and leave no negotiation room (low stock).
    """

    percent: Percent | None = None
    allowance_percent: Percent | None = Field(default=None, ge=0)
    no_discounts: bool = False

    @model_validator(mode="after")
    def _something(self) -> RuleEffect:
        if self.percent is None and self.allowance_percent is None and not self.no_discounts:
            raise ValueError("an effect needs percent, allowance_percent or no_discounts")
        return self


class PricingRule(_Strict):
    id: Ident
    kind: RuleKind
    priority: Count = 0
    description: str = ""
    when: RuleWhen = RuleWhen()
    effect: RuleEffect


def _overlap(a: tuple[str, ...] | None, b: tuple[str, ...] | None) -> bool:
    return a is None or b is None or bool(set(a) & set(b))


def _dates_overlap(a: RuleWhen, b: RuleWhen) -> bool:
    lo = max(a.valid_from or dt.date.min, b.valid_from or dt.date.min)
    hi = min(a.valid_to or dt.date.max, b.valid_to or dt.date.max)
    return lo <= hi


def can_both_match(a: RuleWhen, b: RuleWhen) -> bool:
    """Whether some static context satisfies both conditions (ignoring stock and deal value)."""
    return (
        _overlap(a.skus, b.skus)
        and _overlap(a.categories, b.categories)
        and _overlap(a.regions, b.regions)
        and _overlap(a.segments, b.segments)
        and _overlap(a.payment_terms, b.payment_terms)
        and _dates_overlap(a, b)
    )


def static_conflicts(rules: tuple[PricingRule, ...]) -> list[tuple[PricingRule, PricingRule]]:
    """Pairs of rules that conflict whatever the stock or deal size: a load-time error.

    Pairs with a dynamic condition are left to pricing time, where the actual
    stock and deal value decide whether both match.
    """
    found = []
    for a, b in combinations(rules, 2):
        if a.kind != b.kind or a.priority != b.priority or a.effect == b.effect:
            continue
        if a.when.is_dynamic or b.when.is_dynamic:
            continue
        if can_both_match(a.when, b.when):
            found.append((a, b))
    return found


def stock_matches(when: RuleWhen, stock: int, made_to_order: bool = False) -> bool:
    """Whether the rule's stock terms (if any) hold at this stock. A made-to-order product keeps no stock, so
    no stock term holds for it: "under 25 on hand, no discounts" is about scarce stock, not about a product
    made for each order."""
    if when.stock_at_least is None and when.stock_below is None:
        return True
    return not made_to_order and (when.stock_at_least is None or stock >= when.stock_at_least) and \
        (when.stock_below is None or stock < when.stock_below)


def stock_conflicts(products: Iterable[Any], regions: dict[str, str],
                    rules: tuple[PricingRule, ...]) -> list[tuple[Any, PricingRule, PricingRule]]:
    """(product, a, b): rules of one kind and priority with different effects that both match the product at its
    catalog stock on hand, which is the stock pricing uses: every price of the product would be a conflict, so it
    is a load-time error. A deal-value condition leaves the pair to pricing time (the order decides)."""
    pairs = [(a, b) for a, b in combinations(rules, 2)
             if a.kind == b.kind and a.priority == b.priority and a.effect != b.effect
             and (a.when.is_dynamic or b.when.is_dynamic) and can_both_match(a.when, b.when)
             and not any(r.when.deal_value_at_least is not None or r.when.deal_value_below is not None for r in (a, b))]
    found = []
    for product in products if pairs else ():
        sold_in = {regions.get(book) for book in product.prices}
        for a, b in pairs:
            if all(in_scope(r.when, product, sold_in)
                   and stock_matches(r.when, product.inventory.on_hand, product.inventory.made_to_order)
                   for r in (a, b)):
                found.append((product, a, b))
    return found


def in_scope(when: RuleWhen, product: Any, regions: Iterable[str | None]) -> bool:
    """Whether the rule can match lines of this product sold in these regions (its static product and region
    terms)."""
    return ((when.skus is None or product.sku in when.skus)
            and (when.categories is None or product.category in when.categories)
            and (when.regions is None or any(r in when.regions for r in regions)))


def duplicate_ids(rules: tuple[PricingRule, ...]) -> list[str]:
    seen: set[str] = set()
    dups = []
    for r in rules:
        if r.id in seen:
            dups.append(r.id)
        seen.add(r.id)
    return dups


ZERO = Decimal(0)
