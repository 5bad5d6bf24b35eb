"""Deterministic negotiation logic around the strategy: validate a buyer intent, compute the round's moves.

Used by the graph's `prepare` node for every intent, structured or text, so
both paths validate the same way and the model only ever sees moves that the
policy already allows.
"""

from __future__ import annotations

import copy
import datetime as dt
import weakref
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from agent.contract import Closed, CounterOffer, Error, Rfq, StandingOffer
from agent.store.store import EventRow
from agent.turn_view import TurnView
from tools.errors import DealdeskError
from tools.memo import BoundedMemo
from tools.money import round_money
from tools.policy.desk import Desk
from tools.policy.surface import DecisionSurface
from tools.strategy.concession import plan
from tools.strategy.models import Offer, StrategyConfig


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int
    asked: Decimal | None  # the buyer's price this turn, if any
    item: int | None = None  # the position of its (first) item in the buyer's data part, if it came in one


class TurnError(DealdeskError):
    """An error the buyer receives as an `error` message."""


def error_message(exc: DealdeskError) -> dict[str, Any]:
    code = exc.code if exc.code in Error.model_fields["code"].annotation.__args__ else "malformed_message"  # type: ignore[union-attr]
    return Error(code=code, message=exc.message, field=exc.field).model_dump(mode="json")


def closed_message(reason: str, standing: Any = None) -> dict[str, Any]:
    """A `closed` data part; `standing` (a stored proposal row) is the offer that may still be accepted."""
    stands = None if standing is None else StandingOffer(proposal_id=standing.id, version=standing.version,
                                                         valid_until=standing.valid_until)
    return Closed(reason=reason, standing=stands).model_dump(mode="json", exclude_none=True)


def lines_of(message: Rfq | CounterOffer, asked: list[Any], *, numbered: bool = True) -> list[Line]:
    """The request's lines; a text buyer's asked prices attach to their SKU. `numbered`: the message is the buyer's
    data part, so a line's errors name its item (`items.1.quantity`); words have no items to name."""
    prices = {a.sku: a.unit_price for a in asked}
    if isinstance(message, CounterOffer):  # one price per product: two lines of one SKU would be two offers
        seen: set[str] = set()
        for n, i in enumerate(message.items):
            if i.sku in seen:
                raise TurnError(f"{i.sku} appears twice: one line per product, with its quantity and unit price",
                                code="malformed_message", field=f"items.{n}.sku")
            seen.add(i.sku)
        return [Line(i.sku, i.quantity, i.unit_price, n if numbered else None) for n, i in enumerate(message.items)]
    merged: dict[str, int] = {}
    first: dict[str, int] = {}
    for n, item in enumerate(message.items):
        merged[item.sku] = merged.get(item.sku, 0) + item.quantity
        first.setdefault(item.sku, n)
    return [Line(sku, qty, prices.get(sku), first[sku] if numbered else None) for sku, qty in merged.items()]


# The fields of one line an error can name; in a data part they are named with the line's item: items.1.quantity.
_LINE_FIELDS = ("sku", "quantity", "unit_price")


def _at_item(exc: DealdeskError, line: Line) -> DealdeskError:
    """`exc` naming the field in the line's item of the data part (`items.1.quantity`), as a malformed data part
    and the REST API name it: which of several lines is at fault. A line read from text has no item."""
    if line.item is None or exc.field not in _LINE_FIELDS:
        return exc
    named = copy.copy(exc)  # not the raised one: a memoised error must not carry this turn's position
    named.field = f"items.{line.item}.{exc.field}"
    return named


def check_line(desk: Desk, view: TurnView, line: Line, terms: str, own_holds: dict[str, int]) -> DecisionSurface:
    """The decision surface of a requested line, or a typed error naming the field."""
    surface = desk.surface(line.sku, line.quantity, terms)
    if terms not in surface.allowed_terms:
        raise TurnError(f"payment terms {terms} are not available (choose {', '.join(surface.allowed_terms)})",
                        code="payment_terms_not_allowed", field="payment_terms")
    if line.quantity < surface.moq:
        raise TurnError(f"{line.sku}: the minimum order quantity is {surface.moq}", code="invalid_quantity",
                        field="quantity")
    if surface.max_order_quantity is not None and line.quantity > surface.max_order_quantity:
        raise TurnError(f"{line.sku}: at most {surface.max_order_quantity} per order", code="invalid_quantity",
                        field="quantity")
    if surface.made_to_order:  # made for the order: no stock to check, nothing held
        return surface
    available = view.available(line.sku) + own_holds.get(line.sku, 0)
    if line.quantity > available:
        raise TurnError(f"{line.sku}: {available} units available, {line.quantity} requested",
                        code="insufficient_inventory", field="quantity")
    if surface.max_hold_units is not None and line.quantity > surface.max_hold_units:  # could never be held
        raise TurnError(f"{line.sku}: one buyer may hold at most {surface.max_hold_units} units in open proposals",
                        code="hold_limit_exceeded", field="quantity")
    return surface


# id(surface) -> (weak reference to it, its JSON); the reference tells a live entry from a reused id.
_SURFACE_JSON = BoundedMemo(512)


def surface_json(surface: DecisionSurface) -> dict[str, Any]:
    """The surface as a plan line shows it: JSON, without the pricing explanation.

    Desks share memoised surfaces, so a negotiation's line has the same surface object turn after
    turn: its dump is memoised per object (weakly: a surface that is gone leaves only a dead entry)
    and every call returns its own copy, so a caller that changes its line changes no other.
    """
    entry = _SURFACE_JSON.get(id(surface))
    if entry is None or entry[0]() is not surface:
        entry = _SURFACE_JSON.put(id(surface), (weakref.ref(surface),
                                                surface.model_dump(mode="json", exclude={"pricing"})))
    return _copied(entry[1])


def _copied(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of a surface's JSON down to its nested lists and objects (at most a list of flat objects deep)."""
    out = dict(data)
    for k, v in data.items():
        if type(v) is list:
            out[k] = [dict(x) if type(x) is dict else x for x in v]
        elif type(v) is dict:
            out[k] = dict(v)
    return out


def to_offers(events: list[EventRow], sku: str) -> list[Offer]:
    return [Offer(side=e.side, unit_price=e.unit_price, list_price=e.list_price, quantity=e.quantity or 1,
                  payment_terms=e.payment_terms, at=e.at)
            for e in events if e.sku == sku and e.side in ("buyer", "seller") and e.kind != "accept"]


def plan_lines(desk: Desk, view: TurnView, lines: list[Line], terms: str, *,
               config: StrategyConfig, memory_days: int, now: dt.datetime) -> list[dict[str, Any]]:
    """For each line: its surface and the strategy's plan, given this negotiation's history and memory."""
    skus = [line.sku for line in lines]
    view.prefetch_stock(skus)
    history, memory_rows = view.history_and_memory(skus, now - dt.timedelta(days=memory_days))
    own_holds = view.own_holds()
    out = []
    for line in lines:
        try:
            surface = check_line(desk, view, line, terms, own_holds)
        except DealdeskError as exc:
            raise _at_item(exc, line) from None
        if line.asked is not None:  # on the currency's minor unit, half-up (3.0999999999999996 is 3.10, as sent)
            line = Line(line.sku, line.quantity, round_money(line.asked, surface.currency))
        memory = to_offers(memory_rows, line.sku)
        # This turn's buyer message counts as a round before it is stored (it is stored with the reply).
        current = Offer(side="buyer", unit_price=line.asked, list_price=surface.list_price, quantity=line.quantity,
                        payment_terms=terms, at=now)
        p = plan(surface, [*to_offers(history, line.sku), current], memory=memory, config=config,
                 surface_for=desk.surface, now=now)
        out.append({"sku": line.sku, "quantity": line.quantity, "asked": None if line.asked is None else str(line.asked),
                    "surface": surface_json(surface),
                    "plan": p.model_dump(mode="json")})
    return out
