"""Moves read back from a plan's JSON (`tools.strategy.readback.move_of`): `Move.model_validate`, shared."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tools.catalog import load_catalog
from tools.memo import BoundedMemo
from tools.policy.desk import Desk
from tools.policy.loader import load_policy
from tools.pricing.models import BuyerContext
from tools.strategy import readback
from tools.strategy.concession import plan
from tools.strategy.models import Move, Offer
from tools.strategy.readback import move_of

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture(scope="module")
def moves() -> list[dict[str, Any]]:
    catalog = load_catalog(FIXTURES / "mini_catalog.yaml")
    desk = Desk(catalog, load_policy(FIXTURES / "mini_policy.yaml", catalog),
                BuyerContext(region="EU", on=dt.date(2026, 11, 10)))
    surface = desk.surface("BRG-6204", 450)
    history = [Offer(side="buyer", quantity=450),
               Offer(side="seller", unit_price=surface.list_price, list_price=surface.list_price, quantity=450),
               Offer(side="buyer", unit_price=Decimal("2.00"), quantity=450)]  # a counter: concessions and trades
    p = plan(surface, history, surface_for=desk.surface)
    return [m.model_dump(mode="json") for m in p.moves]


@pytest.fixture(autouse=True)
def cold() -> None:
    readback.clear()


def test_it_is_what_validation_returns_and_equal_json_shares_it(moves: list[dict[str, Any]]) -> None:
    for data in moves:
        first = move_of(data)
        assert repr(first) == repr(Move.model_validate(data))
        assert move_of(dict(data)) is first  # an equal copy of the JSON: the same Move


@pytest.mark.parametrize("change", [
    lambda d: {"unit_price": "0.01"},  # another figure under the same id
    lambda d: {"quantity": 1},
    lambda d: {"rule_ids": ["strategy.other"]},
    # Equal in Python (0 == False, 450 == 450.0), of another type: validation reads the type too.
    lambda d: {"needs_approval": int(d["needs_approval"])},
    lambda d: {"quantity": float(d["quantity"])},
    lambda d: {"lead_time_days": float(d["lead_time_days"])},
])
def test_json_that_differs_in_a_value_or_its_type_is_validated_again(moves: list[dict[str, Any]], change) -> None:
    data = moves[0]
    shared = move_of(data)
    other = {**data, **change(data)}
    got = move_of(other)
    assert got is not shared
    assert repr(got) == repr(Move.model_validate(other))


def test_keys_in_another_order_are_validated_again(moves: list[dict[str, Any]]) -> None:
    data = moves[0]
    shared = move_of(data)
    reordered = dict(reversed(list(data.items())))
    assert move_of(reordered) is not shared
    assert move_of(reordered) == shared


def test_a_changed_rule_list_is_not_served_from_the_memo(moves: list[dict[str, Any]]) -> None:
    data = {**moves[0], "rule_ids": list(moves[0]["rule_ids"])}
    move_of(data)
    data["rule_ids"].append("strategy.added")  # the caller changes its JSON after the call
    assert move_of(data).rule_ids[-1] == "strategy.added"


def test_invalid_json_raises_and_is_not_kept(moves: list[dict[str, Any]]) -> None:
    bad = {**moves[0], "unit_price": 0.5}  # a float: refused
    with pytest.raises(ValidationError):
        move_of(bad)
    with pytest.raises(ValidationError):
        move_of(bad)
    assert readback._MEMO == {}


def test_a_move_passes_through_validation(moves: list[dict[str, Any]]) -> None:
    move = Move.model_validate(moves[0])
    assert move_of(move) is Move.model_validate(move)


def test_the_memo_is_bounded(moves: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(moves) >= 3
    monkeypatch.setattr(readback, "_MEMO", BoundedMemo(2))
    for data in moves[:3]:
        move_of(data)
    assert list(readback._MEMO) == [moves[1]["id"], moves[2]["id"]]

