"""Moves read back from a plan's JSON: validated once, then shared.

A turn's plan travels in the graph state as JSON, and one turn validates the
same JSON moves back into `Move`s several times: the tools node the moves the
agent chose, the guardrail every move of the round, and the staged ones again
for the proposal. A `Move` is frozen, so one validated object can serve them
all. The memo is keyed by move id; an entry serves only JSON with the same
keys in the same order and equal values of the same types (so `1`, `1.0` and
`True` never share an entry) as the JSON it validated: exactly what validation
reads. JSON that does not validate is never stored, it raises as
`Move.model_validate` does. Bounded, first in, first out.
"""

from __future__ import annotations

from typing import Any

from tools.memo import BoundedMemo
from tools.strategy.models import Move

MEMO_SIZE = 4096  # moves, about 3 kB each with their JSON
# move id -> (the JSON it was validated from, that JSON's keys and value types, the Move)
_MEMO = BoundedMemo(MEMO_SIZE)


def _shape(data: dict[str, Any]) -> tuple[tuple[str, ...], tuple[type, ...]]:
    return tuple(data), tuple(map(type, data.values()))


def move_of(data: Any) -> Move:
    """The `Move` for a JSON move, as `Move.model_validate(data)` returns it."""
    if type(data) is not dict:  # a Move, or a mapping of another kind: nothing to share
        return Move.model_validate(data)
    key = data.get("id")
    entry = _MEMO.get(key) if type(key) is str else None
    if entry is not None and entry[0] == data and entry[1] == _shape(data):
        return entry[2]
    move = Move.model_validate(data)
    _store(key, data, move)
    return move


def _store(key: str, data: dict[str, Any], move: Move) -> None:
    seen = dict(data)
    if type(seen.get("rule_ids")) is list:  # the only list a valid move has; the caller's may change later
        seen["rule_ids"] = list(seen["rule_ids"])
    _MEMO.put(key, (seen, _shape(seen), move))


def clear() -> None:
    """Forget every memoised move (a test starts cold with it)."""
    _MEMO.clear()
