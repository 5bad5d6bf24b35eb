"""The plan line's surface JSON (`agent.negotiation.surface_json`): the surface's own dump, memoised per object."""

from __future__ import annotations

import datetime as dt
import gc
import json
import weakref
from decimal import Decimal

import pytest

import agent.negotiation as negotiation
from agent.config import load_data
from agent.negotiation import surface_json
from tools.memo import BoundedMemo
from tools.policy.desk import Desk
from tools.policy.surface import DecisionSurface
from tools.pricing.models import BuyerContext


@pytest.fixture(scope="module")
def desk() -> Desk:
    catalog, policy = load_data()
    return Desk(catalog, policy, BuyerContext(region="EU", on=dt.date(2026, 6, 1)))


def dump(surface: DecisionSurface) -> dict:
    return surface.model_dump(mode="json", exclude={"pricing"})


@pytest.mark.parametrize(("sku", "quantity", "terms"), [
    ("BRG-6204", 120, None), ("BRG-6204", 120, "NET60"), ("FST-M8X30-A2", 200, None), ("SNS-CBL-PUR-4C", 60, "PREPAY"),
])
def test_it_is_the_surface_dump_every_time(desk: Desk, sku: str, quantity: int, terms: str | None) -> None:
    s = desk.surface(sku, quantity, terms)
    for _ in range(2):  # computed, then from the memo
        got = surface_json(s)
        assert json.dumps(got) == json.dumps(dump(s))  # same keys, order and values


def test_each_call_returns_its_own_copy(desk: Desk) -> None:
    s = desk.surface("BRG-6204", 120)
    first = surface_json(s)
    first["levels"][0]["name"] = "changed"
    first["levels"].append({})
    first["rule_ids"]["moq"] = "changed"
    first["allowed_terms"].clear()
    first["list_price"] = "0"
    assert surface_json(s) == dump(s)


def test_the_memo_is_per_object_not_per_equal_value(desk: Desk) -> None:
    s = desk.surface("BRG-6204", 120)
    surface_json(s)
    other = s.model_copy(update={"list_price": Decimal("9.99")})
    assert surface_json(other)["list_price"] == "9.99"
    assert surface_json(s)["list_price"] == str(s.list_price)


def test_an_entry_left_by_a_surface_that_is_gone_is_not_used(desk: Desk) -> None:
    s = desk.surface("BRG-6205", 80)
    gone = s.model_copy()
    ref = weakref.ref(gone)
    del gone
    gc.collect()
    assert ref() is None
    # As if `s` had been allocated where a dead surface's entry still is.
    negotiation._SURFACE_JSON[id(s)] = (ref, {"stale": True})
    assert surface_json(s) == dump(s)


def test_the_memo_is_bounded(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(negotiation, "_SURFACE_JSON", BoundedMemo(2))
    surfaces = [desk.surface("BRG-6204", q) for q in (100, 120, 140)]
    for s in surfaces:
        assert surface_json(s) == dump(s)
    assert len(negotiation._SURFACE_JSON) == 2
