"""Simple built-in buyer bots for `dealdesk negotiate` (the eval suites bring the full set).

Each buyer has a reservation price (the most it will pay) and concedes from
an anchor toward it, speaking the wire contract. Deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

STRATEGIES = {
    # name: (anchor share of list, reservation share of list, share of the gap conceded per round)
    "boulware": (Decimal("0.60"), Decimal("0.82"), Decimal("0.15")),
    "conceder": (Decimal("0.70"), Decimal("0.90"), Decimal("0.50")),
    "linear": (Decimal("0.65"), Decimal("0.85"), Decimal("0.25")),
    "hardball": (Decimal("0.30"), Decimal("0.40"), Decimal("0.05")),
    "eager": (Decimal("0.95"), Decimal("1.00"), Decimal("1.00")),
    # Pushes past what the bot may grant alone: its reservation sits beyond the auto-approval level.
    "escalator": (Decimal("0.74"), Decimal("0.84"), Decimal("0.40")),
}


@dataclass
class SimpleBuyer:
    strategy: str
    sku: str
    quantity: int
    reservation: Decimal | None = None
    bid: Decimal | None = None
    rounds: int = 0

    def first(self) -> dict[str, Any]:
        return {"type": "rfq", "items": [{"sku": self.sku, "quantity": str(self.quantity)}]}

    def respond(self, seller: dict[str, Any] | None) -> dict[str, Any] | None:
        """The buyer's next data part, or None when it walks away."""
        if not seller or seller.get("type") != "proposal":
            return None
        item = next(i for i in seller["items"] if i["sku"] == self.sku)
        offer, list_price = Decimal(item["unit_price"]), Decimal(item["list_price"])
        anchor, reserve, step = STRATEGIES[self.strategy]
        cur_q = Decimal(1).scaleb(-len(item["unit_price"].split(".")[1]) if "." in item["unit_price"] else 0)
        first = self.reservation is None
        if first:
            self.reservation = (list_price * reserve).quantize(cur_q, rounding=ROUND_DOWN)
            self.bid = (list_price * anchor).quantize(cur_q, rounding=ROUND_DOWN)
        assert self.reservation is not None and self.bid is not None
        self.rounds += 1
        ref = {"proposal_id": seller["proposal_id"], "version": seller["version"]}
        if offer <= self.reservation:
            return {"type": "accept", **ref}
        if self.rounds > 12:
            return {"type": "reject", "proposal_id": seller["proposal_id"], "reason": "no agreement"}
        if not first:
            moved = self.bid + (self.reservation - self.bid) * step
            self.bid = min(self.reservation, moved.quantize(cur_q, rounding=ROUND_DOWN))
        return {"type": "counter_offer", **ref, "items": [{"sku": self.sku, "quantity": str(self.quantity),
                                                           "unit_price": str(self.bid)}]}
