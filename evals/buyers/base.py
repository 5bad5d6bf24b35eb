"""Simulated procurement agents: the scenario they play and the behaviour they share.

A buyer bot is reactive, deterministic given its seed, and speaks the wire
contract (data parts) and/or plain text. It knows its reservation price (the
most it will pay for its line) and nothing of the seller's limits; the
simulator chose that reservation from the decision surface, so whether a deal
is possible is known by construction (`Scenario.possible`).
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any, ClassVar

Message = dict[str, Any]  # {"data": ...} and/or {"text": ...}
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Scenario:
    index: int
    strategy: str
    seed: int
    sku: str
    quantity: int
    region: str
    segment: str
    currency: str
    terms: str | None
    list_price: Decimal        # the seller's computed price for this buyer, quantity and terms
    limit: Decimal | None      # the lowest price the seller may grant (with the simulated operator); None = no deal
    reservation: Decimal       # the most the buyer pays
    possible: bool             # reservation >= limit
    tier_quantity: int | None = None  # quantity switcher: the tier quantity it first asks for

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("list_price", "limit", "reservation"):
            d[k] = None if d[k] is None else str(d[k])
        return d


def money(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_DOWN)


class SimBuyer(ABC):
    """Shared behaviour: accept an offer within the reservation, walk away after `patience` rounds."""

    name: ClassVar[str] = "base"
    patience: int = 8

    def __init__(self, sc: Scenario, rng: random.Random):
        self.sc = sc
        self.rng = rng
        self.round = 0
        self.last: dict[str, Any] | None = None
        self.bid: Decimal | None = None
        self.list_seen: Decimal | None = None
        self.done = False

    # --- what every bot says -------------------------------------------------------

    def rfq(self, quantity: int | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"type": "rfq", "items": [{"sku": self.sc.sku, "quantity": str(quantity or self.sc.quantity)}]}
        if self.sc.terms:
            data["payment_terms"] = self.sc.terms
        return data

    def opening(self) -> Message:
        return {"data": self.rfq()}

    @staticmethod
    def ref(p: dict[str, Any]) -> dict[str, Any]:
        return {"proposal_id": p["proposal_id"], "version": p["version"]}

    def accept(self, p: dict[str, Any]) -> Message:
        self.done = True
        return {"data": {"type": "accept", **self.ref(p)}}

    def reject(self, p: dict[str, Any], reason: str = "price too high for us") -> Message:
        self.done = True
        return {"data": {"type": "reject", "proposal_id": p["proposal_id"], "reason": reason}}

    def counter(self, p: dict[str, Any], price: Decimal, quantity: int | None = None) -> Message:
        return {"data": {"type": "counter_offer", **self.ref(p),
                         "items": [{"sku": self.sc.sku, "quantity": str(quantity or self.sc.quantity),
                                    "unit_price": str(money(price))}]}}

    def line(self, p: dict[str, Any]) -> dict[str, Any] | None:
        items = p.get("items") or []
        return next((i for i in items if i["sku"] == self.sc.sku), items[0] if items else None)

    def price(self, p: dict[str, Any]) -> Decimal | None:
        item = self.line(p)
        return None if item is None else Decimal(str(item["unit_price"]))

    # --- the reactive loop ----------------------------------------------------------

    def respond(self, data: dict[str, Any] | None, text: str) -> Message | None:
        """The next message, or None to walk away silently."""
        if self.done:
            return None
        kind = (data or {}).get("type")
        if kind == "deal":
            self.done = True
            return None
        if kind == "closed":
            # The seller's last proposal stands until it expires: take it if it fits.
            if self.last is not None and (p := self.price(self.last)) is not None and p <= self.sc.reservation:
                return self.accept(self.last)
            self.done = True
            return None
        if kind == "error":
            return self.on_error(data or {})
        if kind != "proposal":
            return self.on_other(data, text)
        self.last = data
        self.round += 1
        offer = self.price(data)
        if offer is None:
            return None
        item = self.line(data) or {}
        if self.list_seen is None and item.get("list_price"):
            self.list_seen = Decimal(str(item["list_price"]))
        if offer <= self.sc.reservation and int(item.get("quantity", self.sc.quantity)) == self.sc.quantity:
            return self.accept(data)
        if self.round > self.patience:
            return self.reject(data)
        return self.next_move(data, offer)

    def on_error(self, data: dict[str, Any]) -> Message | None:
        self.done = True
        return None

    def on_other(self, data: dict[str, Any] | None, text: str) -> Message | None:
        """A reply without a proposal (text only, catalog results): repeat the request once, then leave."""
        if self.round == 0 and self.last is None and not getattr(self, "_retried", False):
            self._retried = True
            return self.opening()
        self.done = True
        return None

    @abstractmethod
    def next_move(self, p: dict[str, Any], offer: Decimal) -> Message | None:
        """The strategy's answer to proposal `p` at unit price `offer` (None walks away)."""

    # --- helpers --------------------------------------------------------------------

    def list_price(self, p: dict[str, Any]) -> Decimal:
        item = self.line(p) or {}
        return Decimal(str(item.get("list_price") or self.sc.list_price))

    def concede(self, anchor_share: tuple[float, float], exponent: float, horizon: int, p: dict[str, Any],
                offer: Decimal) -> Decimal:
        """Time-based concession from an anchor toward the reservation (bid(t) = a + (r - a) * t^e)."""
        if self.bid is None:
            share = Decimal(str(round(self.rng.uniform(*anchor_share), 4)))
            self.anchor = money(self.list_price(p) * share)
            self.bid = self.anchor
        t = Decimal(min(self.round - 1, horizon)) / Decimal(horizon)
        target = self.anchor + (self.sc.reservation - self.anchor) * Decimal(str(float(t) ** exponent))
        self.bid = min(max(self.bid, money(target)), self.sc.reservation, offer)
        return self.bid
