"""The decision surface: every limit that applies to one (sku, quantity, buyer), and offer checks.

Operators read it to see why the bot may or may not do something; the
guardrail and the concession strategy read it so that no offer escapes it;
tests use it as the oracle. It is a pure function of catalog, policy and
buyer context.

Conventions (documented in the README):
- `list_price` is the pricing engine's price for this buyer and quantity
  (volume tier, segment, promotions, terms), lifted to the floor when the
  engine's price is under it (a big tier or stacked rules): a proposal
  never shows a list price under what the seller may offer, so never a
  negative discount. Discounts and approval levels are measured from it,
  on rounded figures; `pricing.unit_price` keeps the engine's own figure.
- limit prices are rounded *up* to the minor unit, so a price at a limit is
  always within it.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from tools.catalog.models import Catalog
from tools.money import HUNDRED, ceil_money, percent_of, quantum
from tools.policy.models import Policy
from tools.policy.resolve import EffectivePolicy, resolve
from tools.pricing.engine import explain_lines, price
from tools.pricing.models import LinePrice, PriceRequest
from tools.types import Dec

ZERO = Decimal(0)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LevelLimit(_Model):
    """An approval level and the lowest unit price it may grant."""

    name: str
    max_discount_percent: Dec
    min_unit_price: Dec
    rule_id: str


class DecisionSurface(_Model):
    """All the figures and limits for one line; internal figures are never sent to buyers."""

    sku: str
    category: str
    unit: str = Field(default="H87", description="UN/CEFACT unit code the quantity counts (H87 piece, KGM kg)")
    pieces_per_unit: int | None = Field(default=None, description="Pieces one unit holds (a box of 100), if known")
    quantity: int
    region: str
    currency: str
    segment: str
    payment_terms: str
    list_price: Dec
    book_list_price: Dec
    cost: Dec
    floor_price: Dec
    target_price: Dec
    walk_away_price: Dec
    max_discount_percent: Dec
    allowance_percent: Dec
    no_discounts_rule: str | None
    levels: tuple[LevelLimit, ...]
    auto_limit_price: Dec
    allowed_terms: tuple[str, ...]
    default_terms: str
    non_negotiable_terms: dict[str, str]
    moq: int
    max_order_quantity: int | None
    proposal_validity_days: int
    max_rounds: int
    max_hold_units: int | None
    made_to_order: bool = Field(default=False, description="Made for the order: no stock to check or hold")
    autonomous: bool
    autonomy_max_deal_value: Dec | None
    lead_time_days: int
    next_tier_min: int | None
    related_skus: tuple[str, ...]
    rule_ids: dict[str, str]
    pricing: LinePrice
    policy_version: str
    catalog_version: str

    @property
    def opening_price(self) -> Decimal:
        """Where negotiation starts: the list price, or the floor if the floor is above it."""
        return max(self.list_price, self.walk_away_price)

    @property
    def lifted_to_floor(self) -> bool:
        """Whether the engine's price for this buyer is under the floor, so the list price is the floor."""
        return self.pricing.unit_price < self.list_price


class Finding(_Model):
    """One reason in an offer decision, with the rule that gave it."""

    code: str
    rule_id: str
    message: str


class OfferDecision(_Model):
    """Whether an offer may be made, and at which approval level."""

    allowed: bool
    level: str | None
    needs_approval: bool
    discount_percent: Dec
    rule_id: str
    findings: tuple[Finding, ...]


def floor_of(eff: EffectivePolicy, cost: Decimal, currency: str) -> tuple[Decimal, str]:
    """The hard floor: explicit floor price and/or margin floor (the higher); cost if neither."""
    candidates: list[tuple[Decimal, str]] = []
    # The policy loader checks that floor prices cover every currency a product sells in.
    if eff.floor_price is not None and currency in eff.floor_price:
        candidates.append((eff.floor_price[currency], eff.source("floor_price")))
    if eff.min_margin_percent is not None:
        candidates.append((cost / (1 - eff.min_margin_percent / HUNDRED), eff.source("min_margin_percent")))
    if not candidates:
        return ceil_money(cost, currency), "catalog.cost"
    value, rule = max(candidates, key=lambda c: c[0])
    return ceil_money(value, currency), rule


def decision_surface(catalog: Catalog, policy: Policy, req: PriceRequest, *,
                     deal_value: Decimal | None = None) -> DecisionSurface:
    """Compute the whole decision surface for one line and buyer; `deal_value`: the whole order's value before
    rules, when the line is priced with others (deal-size rules see it; else the line's own)."""
    line = price(catalog, req, deal_value=deal_value)
    product = catalog.products[req.sku]
    eff = resolve(policy, product.sku, product.category)
    cur = line.currency
    cost = product.cost[cur]
    floor, floor_rule = floor_of(eff, cost, cur)
    list_price = max(line.unit_price, floor)  # the seller never offers under the floor: nor does it list under it

    blocked = line.no_discounts_rule
    allowance = ZERO if blocked else line.allowance_percent
    chain_rule = eff.source("approval_chain")
    levels: list[LevelLimit] = []
    chain = eff.approval_chain
    for i, level in enumerate(chain):
        # Room from rules (overstock) is for the levels above the bot's own: "up to 15% off auto-approved" stays
        # what the vendor wrote, whatever the stock (a chain of one level has nowhere else to put it).
        extra = allowance if i > 0 or len(chain) == 1 else ZERO
        pct = ZERO if blocked else min(level.max_discount_percent + extra, HUNDRED)
        limit = max(ceil_money(list_price * (1 - pct / HUNDRED), cur), floor)
        levels.append(LevelLimit(name=level.name, max_discount_percent=pct, min_unit_price=limit,
                                 rule_id=blocked or chain_rule))
    max_disc = ZERO if blocked else min(eff.max_discount_percent + allowance, HUNDRED)
    walk_away = max(ceil_money(list_price * (1 - max_disc / HUNDRED), cur), floor)

    if eff.target_price is not None and cur in eff.target_price:
        target, target_rule = ceil_money(eff.target_price[cur], cur), eff.source("target_price")
    elif eff.target_discount_percent is not None:
        target = ceil_money(list_price * (1 - eff.target_discount_percent / HUNDRED), cur)
        target_rule = eff.source("target_discount_percent")
    else:
        target, target_rule = list_price, "policy.default.target"
    target = min(max(target, walk_away), max(list_price, walk_away))

    hold_caps = []
    made_to_order = product.inventory.made_to_order  # nothing is held, so no hold cap applies
    if eff.max_hold_units is not None and not made_to_order:
        hold_caps.append(eff.max_hold_units)
    if eff.max_hold_percent_of_stock is not None and line.stock > 0:  # no stock: no share of it to cap
        hold_caps.append(math.floor(line.stock * eff.max_hold_percent_of_stock / HUNDRED))
    deal_cap = eff.autonomy_max_deal_value.get(cur) if eff.autonomy_max_deal_value else None

    rule_ids = {
        "list_price": ",".join((*line.rules_applied, *((floor_rule,) if list_price > line.unit_price else ())))
        or f"catalog.prices.{line.price_book}",
        "floor_price": floor_rule,
        "target_price": target_rule,
        "max_discount_percent": blocked or eff.source("max_discount_percent"),
        "approval_chain": chain_rule,
        "payment_terms": eff.source("payment_terms"),
        "non_negotiable_terms": eff.source("non_negotiable_terms"),
        "moq": eff.source("moq"),
        "max_order_quantity": eff.source("max_order_quantity"),
        "proposal_validity_days": eff.source("proposal_validity_days"),
        "max_rounds": eff.source("max_rounds"),
        "max_hold": eff.source("max_hold_units") if eff.max_hold_units is not None
        else eff.source("max_hold_percent_of_stock"),
        "autonomy": eff.source("autonomous"),
        "autonomy_max_deal_value": eff.source("autonomy_max_deal_value"),
    }
    if line.allowance_percent and not blocked:
        rule_ids["allowance"] = ",".join(line.rules_applied)
    return DecisionSurface(
        sku=product.sku, category=product.category, unit=product.unit, pieces_per_unit=product.pieces_per_unit,
        quantity=req.quantity, region=line.region, currency=cur,
        segment=line.segment, payment_terms=line.payment_terms, list_price=list_price,
        book_list_price=line.list_price, cost=cost, floor_price=floor, target_price=target,
        walk_away_price=walk_away, max_discount_percent=max_disc, allowance_percent=allowance,
        no_discounts_rule=blocked, levels=tuple(levels), auto_limit_price=levels[0].min_unit_price,
        allowed_terms=eff.payment_terms.allowed, default_terms=eff.payment_terms.default,
        non_negotiable_terms=eff.non_negotiable_terms, moq=eff.moq, max_order_quantity=eff.max_order_quantity,
        proposal_validity_days=eff.proposal_validity_days, max_rounds=eff.max_rounds,
        max_hold_units=min(hold_caps) if hold_caps else None, made_to_order=made_to_order, autonomous=eff.autonomous,
        autonomy_max_deal_value=deal_cap,
        lead_time_days=product.capacity.lead_time_for(req.quantity, line.stock),
        next_tier_min=next((t.min for t in product.prices[line.price_book].schedule if t.min > req.quantity), None),
        related_skus=tuple(dict.fromkeys(product.compatible + product.related)),
        rule_ids=rule_ids, pricing=line,
        policy_version=policy.version, catalog_version=catalog.version,
    )


def explain_quote(surface: DecisionSurface) -> list[str]:
    """The engine's explanation of the price, then, when it is under the floor, the lift to the floor that the seller
    quotes and offers instead (an operator's view: it names the floor)."""
    line = surface.pricing
    lines = explain_lines(line)
    if not surface.lifted_to_floor:
        return lines
    cur = surface.currency
    return [*lines[:-1],
            f"lifted to the vendor's minimum for this buyer (floor): {surface.list_price} {cur}/unit "
            f"({surface.rule_ids['floor_price']}); the engine's {line.unit_price} {cur} is never offered",
            f"line total: {surface.list_price} x {line.quantity} = {surface.list_price * line.quantity} {cur}"]


def discount_percent(surface: DecisionSurface, unit_price: Decimal) -> Decimal:
    """Discount off the surface's list price, exact, from the rounded unit price."""
    return percent_of(surface.list_price - unit_price, surface.list_price)


def level_for(surface: DecisionSurface, unit_price: Decimal) -> int | None:
    """Index of the first approval level that may grant `unit_price`; None if none may."""
    for i, level in enumerate(surface.levels):
        if unit_price >= level.min_unit_price:
            return i
    return None


class OfferCheck(NamedTuple):
    """`evaluate_offer`'s answer as plain data, findings as (code, rule_id, message).

    The strategy checks every move it generates (several a round, on the turn's path) and reads only
    the verdict, so it takes this form and skips building the pydantic decision and its findings
    (a named tuple: immutable, and several times cheaper to build than a frozen dataclass).
    """

    allowed: bool
    level: str | None
    needs_approval: bool
    discount_percent: Decimal
    rule_id: str
    findings: tuple[tuple[str, str, str], ...]

    def finding_models(self) -> tuple[Finding, ...]:
        """The findings as `Finding`s, as `evaluate_offer` reports them."""
        return tuple(Finding(code=code, rule_id=rule_id, message=message) for code, rule_id, message in self.findings)


def check_offer(surface: DecisionSurface, unit_price: Decimal, *, quantity: int | None = None,
                payment_terms: str | None = None, deal_value: Decimal | None = None) -> OfferCheck:
    """Answer: may this offer be made, at which approval level, and by which rule."""
    qty = surface.quantity if quantity is None else quantity
    terms = surface.payment_terms if payment_terms is None else payment_terms
    disc = discount_percent(surface, unit_price)
    rid = surface.rule_ids
    blocking: list[tuple[str, str, str]] = []
    if unit_price != unit_price.quantize(quantum(surface.currency)):
        blocking.append(("invalid_precision", "money.minor_unit",
                         f"{unit_price} has more decimals than {surface.currency} allows"))
    if unit_price < surface.floor_price:
        blocking.append(("below_floor", rid["floor_price"], "below the floor price"))
    if unit_price < surface.walk_away_price:
        blocking.append(("beyond_max_discount", rid["max_discount_percent"], "beyond the maximum discount"))
    if qty < surface.moq:
        blocking.append(("below_moq", rid["moq"], f"quantity below the MOQ {surface.moq}"))
    if surface.max_order_quantity is not None and qty > surface.max_order_quantity:
        blocking.append(("above_max_quantity", rid["max_order_quantity"],
                         f"quantity above the maximum {surface.max_order_quantity}"))
    if terms not in surface.allowed_terms:
        blocking.append(("terms_not_allowed", rid["payment_terms"], f"payment terms {terms} are not allowed"))
    index = level_for(surface, unit_price)
    if blocking or index is None:
        if not blocking:
            blocking.append(("beyond_max_discount", rid["approval_chain"], "beyond every approval level"))
        return OfferCheck(allowed=False, level=None, needs_approval=False, discount_percent=disc,
                          rule_id=blocking[0][1], findings=tuple(blocking))
    routing: list[tuple[str, str, str]] = []
    level = surface.levels[index]
    if index > 0:
        routing.append(("approval_level", level.rule_id, f"discount needs approval level {level.name}"))
    outside = not surface.autonomous or (surface.autonomy_max_deal_value is not None and (
        unit_price * qty if deal_value is None else deal_value) > surface.autonomy_max_deal_value)
    if outside:
        which = "autonomy" if not surface.autonomous else "autonomy_max_deal_value"
        routing.append(("outside_autonomy", rid[which], "outside the bot's autonomy scope"))
        if index == 0:
            index = min(1, len(surface.levels) - 1)
    name = surface.levels[index].name if not (outside and len(surface.levels) == 1) else "operator"
    rule = routing[-1][1] if routing else level.rule_id
    return OfferCheck(allowed=True, level=name, needs_approval=bool(routing), discount_percent=disc,
                      rule_id=rule, findings=tuple(routing))


def evaluate_offer(surface: DecisionSurface, unit_price: Decimal, *, quantity: int | None = None,
                   payment_terms: str | None = None, deal_value: Decimal | None = None) -> OfferDecision:
    """Answer: may this offer be made, at which approval level, and by which rule (`check_offer` as a model)."""
    c = check_offer(surface, unit_price, quantity=quantity, payment_terms=payment_terms, deal_value=deal_value)
    return OfferDecision(allowed=c.allowed, level=c.level, needs_approval=c.needs_approval,
                         discount_percent=c.discount_percent, rule_id=c.rule_id, findings=c.finding_models())
