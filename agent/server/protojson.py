"""Whole numbers in A2A data parts leave as JSON integers (`"version": 2`, not `2.0`).

An A2A data part is a protobuf `Struct`, whose numbers are doubles. ProtoJSON writes a number as a JSON
number, and the C++, Go and Swift runtimes print a whole double as `2`; Python's `json_format` hands back
the float and the JSON encoder prints `2.0` (as Java's printer does). A client that reads a field such as the proposal's
`version` into an integer (Go's encoding/json, serde) refuses `2.0`. Every way the a2a-sdk writes a
message (the JSON-RPC and HTTP+JSON responses, the SSE events, push notifications, its task store)
goes through `MessageToDict`, and so does the executor reading a buyer's data part, so the fix is made
there, once: `install()` (called by `A2AService`) makes the printer give a whole `Value` number back as
an int, on the way in as on the way out. Numbers stay the same numbers; only their spelling changes, and
only within what a double holds exactly (|n| < 2**53). Money and quantities travel as strings anyway.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

_EXACT = 2**53  # doubles hold every integer below this exactly


def _whole(value: Any) -> Any:
    if value.__class__ is float and value.is_integer() and -_EXACT < value < _EXACT:
        return int(value)
    return value


def install() -> bool:
    """Patch `json_format`'s printer of `google.protobuf.Value` (idempotent); False when this protobuf has no
    such printer method (the test of this module then fails, rather than the wire silently changing)."""
    printer = getattr(json_format, "_Printer", None)
    original = getattr(printer, "_ValueMessageToJsonObject", None)
    if original is None:
        return False
    if getattr(original, "__dealdesk_whole__", False):
        return True

    def value_to_json(self: Any, message: Any) -> Any:
        return _whole(original(self, message))

    value_to_json.__dealdesk_whole__ = True  # type: ignore[attr-defined]
    value_to_json.__wrapped__ = original  # type: ignore[attr-defined]
    printer._ValueMessageToJsonObject = value_to_json
    return True
