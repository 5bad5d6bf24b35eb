"""REST `/v1/inventory`: operators (an ERP's sync, say) restock the live count, retrying safely."""

from __future__ import annotations

import secrets


def test_receipts_and_removals_over_rest(live_server) -> None:
    with live_server.client("operator") as op, live_server.client("buyer_eu") as buyer:
        before = op.get("/v1/inventory", params={"sku": "BRG-6205"}).json()["data"]
        assert [lv["sku"] for lv in before] == ["BRG-6205"] and isinstance(before[0]["on_hand"], str)
        on_hand = int(before[0]["on_hand"])
        key = {"Idempotency-Key": f"po-{secrets.token_hex(4)}"}

        first = op.post("/v1/inventory/BRG-6205/receive", json={"quantity": "40", "note": "PO 4411"}, headers=key)
        assert first.status_code == 200, first.text
        got = first.json()
        assert got["change"] == "receive" and got["quantity"] == "40" and got["note"] == "PO 4411"
        assert got["level"]["on_hand"] == str(on_hand + 40) and got["by"].endswith(")")
        again = op.post("/v1/inventory/BRG-6205/receive", json={"quantity": "40", "note": "PO 4411"}, headers=key)
        assert again.json() == got and again.headers.get("Idempotent-Replayed") == "true"  # received once
        other = op.post("/v1/inventory/BRG-6205/receive", json={"quantity": "41"}, headers=key)
        assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"

        back = op.post("/v1/inventory/BRG-6205/remove", json={"quantity": "40", "note": "counted twice"})
        assert back.status_code == 200 and back.json()["level"]["on_hand"] == str(on_hand)

        too_many = op.post("/v1/inventory/BRG-6205/remove", json={"quantity": str(on_hand + 1), "note": "count"})
        assert too_many.status_code == 409 and too_many.json()["error"]["code"] == "insufficient_inventory"
        assert too_many.json()["error"]["field"] == "quantity"
        for path, body, status, code, field in [
            ("/v1/inventory/BRG-6205/remove", {"quantity": "1"}, 422, "malformed_message", "note"),
            ("/v1/inventory/BRG-6250/receive", {"quantity": "1"}, 404, "unknown_sku", "sku"),
            ("/v1/inventory/BRG-22210-E/receive", {"quantity": "1"}, 422, "malformed_message", "sku"),
            ("/v1/inventory/BRG-6205/receive", {"quantity": "0"}, 422, "invalid_quantity", "quantity"),
            ("/v1/inventory/BRG-6205/receive", {"quantity": "1", "colour": "red"}, 422, "malformed_message", "colour"),
        ]:
            r = op.post(path, json=body)
            error = r.json()["error"]
            assert (r.status_code, error["code"], error["field"]) == (status, code, field), (path, body, r.text)
        assert op.get("/v1/inventory", params={"sku": "BRG-6205"}).json()["data"][0]["on_hand"] == str(on_hand)

        assert buyer.get("/v1/inventory").status_code == 403  # operators only
        assert buyer.post("/v1/inventory/BRG-6205/receive", json={"quantity": "5"}).status_code == 403
