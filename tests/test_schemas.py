"""The published JSON Schemas under schemas/ are exactly what the wire-contract models generate."""

from __future__ import annotations

import json

from agent.schemas import SCHEMA_DIR, render


def test_committed_schemas_match_the_contract() -> None:
    for name, text in render().items():
        path = SCHEMA_DIR / name
        assert path.exists(), f"schemas/{name} is missing: run `dealdesk schemas`"
        assert path.read_text(encoding="utf-8") == text, f"schemas/{name} is stale: run `dealdesk schemas`"


def test_schemas_name_every_message_type_and_error_code() -> None:
    buyer = json.loads(render()["buyer-message.schema.json"])
    seller = json.loads(render()["seller-message.schema.json"])
    text = json.dumps(buyer) + json.dumps(seller)
    for kind in ("catalog_query", "rfq", "counter_offer", "accept", "reject", "question",
                 "catalog_results", "proposal", "deal", "closed", "error", "answer"):
        assert f'"{kind}"' in text
    for code in ("unknown_sku", "invalid_quantity", "insufficient_inventory", "unsupported_currency",
                 "unknown_proposal", "proposal_expired", "proposal_superseded", "malformed_message",
                 "not_authorized_for_region"):
        assert f'"{code}"' in json.dumps(seller)


def _nodes(value: object):
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from _nodes(v)
    elif isinstance(value, list):
        for v in value:
            yield from _nodes(v)


def test_money_and_quantities_are_described_as_they_travel() -> None:
    """JSON Schema words only (no pydantic `ge`/`le`), and what the README sends validates: a quantity and a price
    are decimal strings ("500", "3.10") or JSON numbers, in range. Checked by hand: jsonschema is not installed."""
    import re

    buyer = json.loads(render()["buyer-message.schema.json"])
    for doc in (buyer, json.loads(render()["seller-message.schema.json"])):
        assert not [n for n in _nodes(doc) if {"ge", "le", "gt", "lt"} & set(n)]
    defs = buyer["$defs"]
    for where, field, sent in (("RfqItem", "quantity", "500"), ("CounterItem", "quantity", "500"),
                               ("CounterItem", "unit_price", "3.10")):
        options = defs[where]["properties"][field]["anyOf"]
        (as_string,) = [o for o in options if o["type"] == "string"]
        (as_number,) = [o for o in options if o["type"] in ("integer", "number")]
        assert re.fullmatch(as_string["pattern"], sent) and not re.fullmatch(as_string["pattern"], "-5")
        assert as_number["minimum"] in (0, 1) and as_number["maximum"] > 0
    assert defs["RfqItem"]["properties"]["quantity"]["anyOf"][1] == {"type": "integer", "minimum": 1,
                                                                     "maximum": 10_000_000}
