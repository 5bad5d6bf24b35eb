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
    for kind in ("catalog_query", "rfq", "counter_offer", "accept", "reject",
                 "catalog_results", "proposal", "deal", "closed", "error"):
        assert f'"{kind}"' in text
    for code in ("unknown_sku", "invalid_quantity", "insufficient_inventory", "unsupported_currency",
                 "unknown_proposal", "proposal_expired", "proposal_superseded", "malformed_message",
                 "not_authorized_for_region"):
        assert f'"{code}"' in json.dumps(seller)
