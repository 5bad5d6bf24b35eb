"""Where a live seller reply differs from the recorded one: each pinned field, its recorded and its live value.

A recording pins only what it names (`RecordedReply`: type, status, error code, lines, pending; a written case
may pin a line's SKU and quantity and leave its price free), so only those fields are compared. A difference
is `{"turn", "field", "recorded", "live"}`, `field` a path into the normalised reply (`type`, `code`,
`items[0].unit_price`); a value the live reply does not have is `None`.
"""

from __future__ import annotations

import json
from typing import Any

from evals.case import RecordedReply
from evals.session import normalise


def differences(want: Any, got: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(path, recorded, live) for each place `got` lacks what `want` pins: the same value, or for an object only
    the keys it names, item by item for a list (a line more or fewer is a difference at that line)."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [(path, want, got)]
        out: list[tuple[str, Any, Any]] = []
        for key, value in want.items():
            out += differences(value, got.get(key), f"{path}.{key}" if path else str(key))
        return out
    if isinstance(want, list):
        if not isinstance(got, list):
            return [(path, want, got)]
        out = []
        for i in range(max(len(want), len(got))):
            where = f"{path}[{i}]"
            if i >= len(got):
                out.append((where, want[i], None))
            elif i >= len(want):
                out.append((where, None, got[i]))
            else:
                out += differences(want[i], got[i], where)
        return out
    return [] if got == want else [(path, want, got)]


def divergence(recorded: RecordedReply, data: dict[str, Any] | None, turn: int) -> list[dict[str, Any]]:
    """The differences between a turn's recorded reply and the live reply's data part (empty: it matches)."""
    got = normalise(data)
    out = []
    for key, want in recorded.model_dump(exclude_none=True).items():
        for field, rec, live in differences(want, got.get(key), key):
            out.append({"turn": turn, "field": field, "recorded": rec, "live": live})
    return out


def value_text(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def describe(diffs: list[dict[str, Any]], *, limit: int = 4) -> str:
    """`turn 0: items[0].unit_price recorded 3.20, live 3.25; ...`, turn by turn."""
    by_turn: dict[int, list[dict[str, Any]]] = {}
    for d in diffs:
        by_turn.setdefault(d["turn"], []).append(d)
    parts = []
    for turn, ds in by_turn.items():
        fields = [f"{d['field']} recorded {value_text(d['recorded'])}, live {value_text(d['live'])}"
                  for d in ds[:limit]]
        more = f" (+{len(ds) - limit} more)" if len(ds) > limit else ""
        parts.append(f"turn {turn}: " + "; ".join(fields) + more)
    return " | ".join(parts)
