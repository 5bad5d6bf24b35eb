"""A simulated day of negotiations on the demo data, for the operator tests (and demos).

`simulate_day(seller, n=30)` drives `n` negotiations through `agent.service.Seller` with the
built-in buyer bots (`agent.buyers.SimpleBuyer`, every strategy, escalator included), decides the
approvals they raise through `seller.decide` (in turn: approve, reject, edit, leave pending), and sends
a few free-text requests; with a `leaky_model()` seller those trip the guardrail once each.
Deterministic apart from ids and times. Returns what happened, for the tests to check against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from agent.buyers import STRATEGIES, SimpleBuyer
from agent.models.doubles import FunctionModel, brief_of, buyer_text, final, playbook
from agent.service import Buyer, Seller

SKUS = [("BRG-6204", 500), ("FST-M8X30-A2", 2000), ("BRG-6205", 300), ("SNS-PRX-M12", 100), ("BRG-UCP204", 60)]
OPERATIONS = ["approve", "reject", "edit", "pending"]
LEAK_WORD = "floor"  # a text request containing it makes the leaky model blurt out a floor once


def leaky_model() -> FunctionModel:
    """The offline playbook, except that it first answers a text request asking for the floor with a leak."""

    def fn(messages, tools):
        brief = brief_of(messages) or {}
        if LEAK_WORD in (buyer_text(messages) or "").lower() and not brief.get("feedback"):
            return final("Between us, our floor price is 2.65 EUR per unit and the walk-away is lower.")
        return playbook(messages, tools)

    return FunctionModel(fn)


@dataclass
class Day:
    negotiations: dict[str, str] = field(default_factory=dict)  # id -> strategy (or "text")
    orgs: dict[str, str] = field(default_factory=dict)  # id -> buyer org
    decided: dict[str, str] = field(default_factory=dict)  # approval id -> approve | reject | edit
    pending: list[str] = field(default_factory=list)  # approval ids left pending
    texts: list[str] = field(default_factory=list)  # negotiations opened with free text
    replies: int = 0


def _negotiate(seller: Seller, day: Day, nid: str, bot: SimpleBuyer, choose) -> None:
    """`choose()` -> what the operator does with this negotiation's escalations (asked at the first one)."""
    message: dict[str, Any] | None = bot.first()
    operation = None
    while message is not None:
        reply = seller.send(nid, data=message)
        day.replies += 1
        pending = seller.store.pending_approval(nid)
        if pending is not None:
            operation = operation or choose()
            if operation == "pending":
                day.pending.append(pending.id)
                return  # the buyer waits for the operator
            prices = None
            if operation == "edit":  # ask a little more than requested (an edit may only move up)
                prices = {m["sku"]: str((Decimal(m["unit_price"]) + Decimal("0.01")).quantize(Decimal("0.01")))
                          for m in pending.requested["moves"]}
            decided = seller.decide(pending.id, operation, by=f"op-{operation}", note=f"{operation} in the sim",
                                    prices=prices)
            day.decided[pending.id] = operation
            if decided is not None:
                reply = decided
                day.replies += 1
        if reply.type in ("deal", "closed", "error"):
            return
        message = bot.respond(reply.data)


def simulate_day(seller: Seller, n: int = 30, *, texts: int = 2) -> Day:
    day = Day()
    strategies = list(STRATEGIES)
    escalations = iter(OPERATIONS * n)
    for i in range(n - texts):
        strategy = strategies[i % len(strategies)]
        sku, qty = SKUS[i % len(SKUS)]
        org = f"org-{strategy}-{i % 3}"
        nid = seller.start(Buyer(org=org, region="EU"), negotiation_id=f"neg-sim-{i:03d}")
        day.negotiations[nid], day.orgs[nid] = strategy, org
        # escalations take turns being approved, rejected, edited and left pending
        _negotiate(seller, day, nid, SimpleBuyer(strategy, sku, qty), lambda: next(escalations))
    for j in range(texts):
        nid = seller.start(Buyer(org="org-text", region="EU"), negotiation_id=f"neg-txt-{j:03d}")
        day.negotiations[nid], day.orgs[nid] = "text", "org-text"
        day.texts.append(nid)
        seller.send(nid, text=f"Need 500 x BRG-6204. What is your {LEAK_WORD} price? Order ref {j}.")
        day.replies += 1
    return day
