"""`dealdesk inventory`: an operator restocks the live count, and the seller offers what was received."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from agent.service import Buyer

# The demo has 18 x BRG-6206 on hand, and one buyer may hold at most half of the catalog's stock (9).
RFQ = {"type": "rfq", "items": [{"sku": "BRG-6206", "quantity": "8"}]}


def _cli(*args: str):
    from agent.cli import app

    return CliRunner().invoke(app, ["inventory", *args])


def test_received_goods_can_be_offered_at_once(dd_seller_factory) -> None:
    seller = dd_seller_factory()
    db = str(seller.store.engine.url)
    r = _cli("remove", "BRG-6206", "18", "--note", "count found none", "--db", db)
    assert r.exit_code == 0 and "available 0" in r.output, r.output
    nid = seller.start(Buyer(org="acme", region="EU"))
    refused = seller.send(nid, data=RFQ)
    assert refused.data["type"] == "error" and refused.data["code"] == "insufficient_inventory"

    r = _cli("receive", "BRG-6206", "100", "--note", "PO 4411", "--by", "ana", "--db", db)
    assert r.exit_code == 0, r.output
    assert "BRG-6206: received 100 units; on hand 100" in r.output and "available 100" in r.output

    offered = seller.send(nid, data=RFQ)
    assert offered.data["type"] == "proposal", offered.text
    listed = json.loads(_cli("list", "--sku", "BRG-6206", "--json", "--db", db).output)
    assert listed == [{"sku": "BRG-6206", "on_hand": "100", "allocated": "0", "held": "8", "available": "92",
                       "updated_at": listed[0]["updated_at"]}]

    # units held by the standing offer are not taken back
    r = _cli("remove", "BRG-6206", "93", "--note", "count", "--db", db)
    assert r.exit_code == 2
    assert r.output.strip().splitlines() == [
        "error insufficient_inventory (field quantity): BRG-6206: only 92 units can be taken off (on hand 100, "
        "sold 0, held by standing offers 8), not 93: units sold or held are not taken back"]
    r = _cli("remove", "BRG-6206", "92", "--note", "water damage", "--db", db)
    assert r.exit_code == 0 and "available 0" in r.output


def test_refusals_are_one_line_naming_the_field(tmp_path) -> None:
    db = f"sqlite:///{tmp_path / 'i.db'}"
    cases = [
        (("remove", "BRG-6204", "3"), "error malformed_message (field note): "),
        (("receive", "BRG-6240", "5"), "error unknown_sku (field sku): unknown SKU 'BRG-6240': not in the catalog; "
                                       "did you mean"),
        (("receive", "BRG-22210-E", "5"), "error malformed_message (field sku): BRG-22210-E is made to order"),
        (("receive", "BRG-6204", "0"), "error invalid_quantity (field quantity): "),
    ]
    for args, start in cases:
        r = _cli(*args, "--db", db)
        assert r.exit_code == 2, (args, r.output)
        assert len(r.output.strip().splitlines()) == 1 and r.output.startswith(start), (args, r.output)


def test_list_says_when_nothing_is_counted_yet_and_a_change_seeds_the_catalog_first(tmp_path) -> None:
    db = f"sqlite:///{tmp_path / 'i.db'}"
    assert "no stock counted yet" in _cli("list", "--db", db).output
    r = _cli("receive", "BRG-6206", "2", "--db", db)
    assert "on hand 20" in r.output  # the catalog's 18, then the 2 received
    skus = [row["sku"] for row in json.loads(_cli("list", "--json", "--db", db).output)]
    assert "BRG-6204" in skus and skus == sorted(skus)


def test_a_quantity_or_note_the_cli_cannot_take_is_one_line_naming_the_field(tmp_path) -> None:
    """QA (session 21): a quantity that was no whole number ("abc", "1.5", "1e3") got Typer's usage box, not the
    one-line refusal every other refusal is; a note holding an escape sequence or a NUL was recorded as sent."""
    db = f"sqlite:///{tmp_path / 'i.db'}"
    for qty in ("abc", "1.5", "1e3", "５", ""):
        r = _cli("receive", "BRG-6204", qty, "--db", db)
        assert r.exit_code == 2, (qty, r.output)
        assert r.output.startswith("error invalid_quantity (field quantity): ") and \
            len(r.output.strip().splitlines()) == 1, (qty, r.output)
    r = _cli("receive", "BRG-6204", "3", "--note", "ok\x1b[2J\x1b[Hfake line", "--db", db)
    assert r.exit_code == 2 and r.output.startswith("error malformed_message (field note): "), r.output
    done = _cli("receive", "BRG-6204", "2.0", "--note", "PO 12", "--db", db)  # "2.0" is 2, as on the wire
    assert done.exit_code == 0 and "received 2 units" in done.output, done.output
    levels = json.loads(_cli("list", "--sku", "BRG-6204", "--json", "--db", db).output)
    assert levels[0]["on_hand"] == str(4800 + 2)
