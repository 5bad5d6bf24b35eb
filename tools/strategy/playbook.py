"""Playbook moves, each a named rule: next volume tier, related SKUs, and traded concessions.

They only propose; `concession.make_move` still checks every figure against
the policy surface of the line it is priced on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from tools.errors import DealdeskError
from tools.money import HUNDRED, ceil_money
from tools.policy.surface import DecisionSurface
from tools.strategy.models import MoveKind, StrategyConfig

SurfaceFn = Callable[[str, int, str], DecisionSurface]
ONE = Decimal(1)


@dataclass(frozen=True)
class Proposed:
    kind: MoveKind
    price: Decimal
    surface: DecisionSurface
    rule_ids: tuple[str, ...]
    rationale: str


def terms_days(terms: str) -> int:
    """Days of credit a payment term gives: PREPAY -1, NET30 30; unknown terms sort last."""
    if terms.upper() == "PREPAY":
        return -1
    if terms.upper().startswith("NET") and terms[3:].isdigit():
        return int(terms[3:])
    return 10_000


def _at_share(surface: DecisionSurface, share: Decimal) -> Decimal:
    return max(ceil_money(surface.list_price * (ONE - share), surface.currency), surface.walk_away_price)


def _safe(surface_for: SurfaceFn, sku: str, quantity: int, terms: str) -> DecisionSurface | None:
    try:
        return surface_for(sku, quantity, terms)
    except DealdeskError:
        return None


def trades(surface: DecisionSurface, offer_price: Decimal, share: Decimal,
           surface_for: SurfaceFn) -> Iterator[Proposed]:
    """Trade instead of giving away: a longer payment term at the standing price, or
    the next concession in exchange for the next volume tier."""
    longer = sorted((t for t in surface.allowed_terms if terms_days(t) > terms_days(surface.payment_terms)),
                    key=terms_days)
    if longer:
        other = _safe(surface_for, surface.sku, surface.quantity, longer[0])
        if other is not None:
            yield Proposed("trade_terms", max(offer_price, other.walk_away_price), other,
                           ("playbook.trade_terms",), f"same price on {longer[0]} instead of a price cut")
    if surface.next_tier_min is not None and (surface.max_order_quantity is None
                                              or surface.next_tier_min <= surface.max_order_quantity):
        bigger = _safe(surface_for, surface.sku, surface.next_tier_min, surface.payment_terms)
        if bigger is not None:
            deeper = share + (bigger.max_discount_percent / HUNDRED - share) / 4
            yield Proposed("trade_quantity", _at_share(bigger, min(deeper, bigger.max_discount_percent / HUNDRED)),
                           bigger, ("playbook.trade_quantity",),
                           f"a deeper price if the quantity rises to {surface.next_tier_min}")


def alternatives(surface: DecisionSurface, share: Decimal, config: StrategyConfig,
                 surface_for: SurfaceFn) -> Iterator[Proposed]:
    """Priced alternatives shown beside the offer: the next tier when just under it, and related SKUs."""
    nxt = surface.next_tier_min
    if nxt is not None and surface.quantity * HUNDRED >= nxt * (HUNDRED - config.tier_window_percent):
        bigger = _safe(surface_for, surface.sku, nxt, surface.payment_terms)
        # Only when it is cheaper a unit: in a slab book the blend just past the tier's start may round to the
        # same price (500 at 3.85 beside 480 at 3.85 is no reason to buy 20 more).
        if bigger is not None and _at_share(bigger, share) < _at_share(surface, share):
            yield Proposed("suggest_tier", _at_share(bigger, share), bigger, ("playbook.next_tier",),
                           f"{nxt} units reach the next volume tier")
    for sku in surface.related_skus[:config.max_related]:
        other = _safe(surface_for, sku, surface.quantity, surface.payment_terms)
        if other is None:
            continue
        quantity, why = _related_quantity(surface, other)
        if quantity != other.quantity:
            other = _safe(surface_for, sku, quantity, surface.payment_terms)
            if other is None:
                continue
        if not _orderable(other):
            continue
        yield Proposed("suggest_related", other.opening_price, other, ("playbook.related_sku",),
                       f"{sku} is compatible or related{why}")


def _orderable(s: DecisionSurface) -> bool:
    """Whether an rfq for `s`'s line could be offered at all: within the order limits, the hold cap and the stock
    on hand (an offer holds its stock; none on hand, none to hold), unless it is made to order. A suggestion the
    buyer cannot take is noise: 300 of a bearing with 18 in stock was refused as insufficient_inventory when asked
    for."""
    q = s.quantity
    return s.moq <= q and (s.max_order_quantity is None or q <= s.max_order_quantity) \
        and (s.max_hold_units is None or q <= s.max_hold_units) and (s.made_to_order or q <= s.pricing.stock)


def _related_quantity(line: DecisionSurface, other: DecisionSurface) -> tuple[int, str]:
    """How many of a related product to suggest beside `line` (`other` priced at the line's quantity), and why:
    its minimum order when it is sold by another unit (grease by the kg beside bearings by the piece); as many
    pieces when both come in packs of different sizes (`_as_many_pieces`); else the line's quantity."""
    if other.unit != line.unit:
        return other.moq, ", sold by another unit: priced for its minimum order"
    packs = _as_many_pieces(line, other)
    if packs is not None:  # screws in boxes of 100 beside nuts in boxes of 200: half as many boxes
        return packs, (f", in packs of {other.pieces_per_unit} against {line.pieces_per_unit}: priced for as many "
                       "pieces")
    return line.quantity, ""


def _as_many_pieces(line: DecisionSurface, other: DecisionSurface) -> int | None:
    """The packs of `other` that hold as many pieces as the line's quantity, rounded up and at least its minimum
    order, when both are sold in packs of different known sizes; None otherwise (the same quantity then)."""
    mine, theirs = line.pieces_per_unit, other.pieces_per_unit
    if mine is None or theirs is None or mine == theirs:
        return None
    return max(other.moq, -(-line.quantity * mine // theirs))
