"""Typed inputs and outputs of the concession strategy.

A `Move` is the only way a figure reaches a buyer: the agent picks a move
id, and the proposal, the guardrail and the decision records all refer to
the move's exact figures.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.types import Dec

Curve = Literal["boulware", "linear", "conceder"]
MoveKind = Literal[
    "open", "concede", "hold", "accept", "final",
    "trade_terms", "trade_quantity", "suggest_tier", "suggest_related",
]
# Moves that are priced alternatives shown beside the offer, not the offer itself.
ALTERNATIVE_KINDS = frozenset({"suggest_tier", "suggest_related"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Offer(_Model):
    """One price on the table for this SKU: a buyer counter (or RFQ) or a seller offer."""

    side: Literal["buyer", "seller"]
    unit_price: Dec | None = Field(default=None, description="None for an RFQ or a buyer message without a price")
    list_price: Dec | None = Field(default=None, description="The list price the offer was measured against")
    quantity: int = Field(ge=1)
    payment_terms: str | None = None
    at: dt.datetime | None = None


class StrategyConfig(_Model):
    """How the seller concedes. Time-based concession in the family of NegMAS's negotiators."""

    curve: Curve = "boulware"
    # Exponents of the polynomial aspiration: conceded share = t ** exponent.
    exponents: dict[str, Dec] = Field(default_factory=lambda: {"boulware": 4, "linear": 1, "conceder": "0.25"})
    # Optional wall-clock horizon: t is the later of round progress and elapsed / horizon.
    horizon: dt.timedelta | None = None
    tier_window_percent: Dec = Field(default=20, description="Suggest the next tier within this % below it")
    max_related: int = Field(default=3, ge=0, description="Related SKUs suggested beside a line, compatible ones first")


class Move(_Model):
    """One thing the seller may say about money, with exact figures."""

    id: str
    kind: MoveKind
    sku: str
    quantity: int
    currency: str
    payment_terms: str
    unit_price: Dec
    list_price: Dec
    line_total: Dec
    discount_percent: Dec
    approval_level: str
    needs_approval: bool
    lead_time_days: int
    alternative: bool
    rule_ids: tuple[str, ...]
    rationale: str


class Plan(_Model):
    """The strategy's answer for one round: the moves allowed, and the one it recommends."""

    round: int
    t: Dec
    curve: Curve
    aspiration_price: Dec
    buyer_price: Dec | None
    closing: bool
    moves: tuple[Move, ...]
    recommended: str
    standing: str | None = Field(description="Best offer within auto authority while `recommended` awaits approval")
    offered_before: bool = Field(default=False, description="The seller already offered this line (its quantity and "
                                 "terms) in this negotiation: an offer need not repeat the related-SKU suggestions")

    def move(self, move_id: str) -> Move:
        for m in self.moves:
            if m.id == move_id:
                return m
        raise KeyError(move_id)

    @property
    def recommended_move(self) -> Move:
        return self.move(self.recommended)
