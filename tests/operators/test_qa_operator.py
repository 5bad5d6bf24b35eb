"""QA as an operator (deal desk / sales ops): what the records, `audit verify` and the read model must say.

Found by hand on a simulated day (`tests/operators/day.py`) and a live `dealdesk serve --demo`:

- `audit verify` said OK after plain SQL edits that change what operators read or who may decide: an edited
  approval's prices (`approvals show` then said the operator edited to a price nobody chose), a decided approval
  set back to canceled or pending (its decision hidden; pending even lets it be decided again), the level or the
  requested lines of any request (the level decides which operator key may approve it: a director-level request
  made manager-level), a proposal's currency, payment terms or validity, a deal's currency or acceptance time
  (all read from the columns, not the digested body).
- "Why this price?" needs the policy and catalog versions the offer was priced under (the records carry them;
  `deals show` and `approvals show` did not say them), to hold against `policy explain --json`'s versions.
- `approvals list` gave requests filed in the same instant in no particular order (the store sorts by time
  only): two runs could list them differently.
"""

from __future__ import annotations

import json
import re
import shutil
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from agent import review
from agent.cli import app
from agent.config import load_data
from agent.service import Buyer, Seller
from agent.store import Store, audit

from .test_audit_tables import _tampered, _verify

SKU = "BRG-6204"


def _counter(offer: dict, price: str) -> dict:
    return {"type": "counter_offer", "proposal_id": offer["proposal_id"], "version": offer["version"],
            "items": [{"sku": SKU, "quantity": offer["items"][0]["quantity"], "unit_price": price}]}


def _haggle(seller: Seller, org: str) -> tuple[str, dict]:
    nid = seller.start(Buyer(org=org, region="EU"))
    offer = seller.send(nid, data={"type": "rfq", "items": [{"sku": SKU, "quantity": "500"}]}).data
    for price in ("2.40", "2.50", "2.60", "2.68", "2.70"):
        offer = seller.send(nid, data=_counter(offer, price)).data
    return nid, offer


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """An approval edited then accepted (a deal), and one left pending."""
    url = f"sqlite:///{tmp_path_factory.mktemp('qa-operator') / 'dd.db'}"
    seller = Seller.open(*load_data(), url)
    nid, _ = _haggle(seller, "qa-edited")
    edited = seller.store.pending_approval(nid)
    assert edited is not None
    move = edited.requested["moves"][0]
    price = str(Decimal(move["unit_price"]) + Decimal("0.01"))
    sent = seller.decide(edited.id, "edit", by="alice", note="key account", prices={SKU: price}).data
    deal = seller.send(nid, data={"type": "accept", "proposal_id": sent["proposal_id"],
                                  "version": sent["version"]}).data
    assert deal["type"] == "deal"
    waiting_nid, _ = _haggle(seller, "qa-pending")
    waiting = seller.store.pending_approval(waiting_nid)
    assert waiting is not None
    versions = {"policy": seller.policy.version, "catalog": seller.catalog.version}
    seller.close()
    return {"url": url, "nid": nid, "edited": edited.id, "price": price, "deal": deal, "pending": waiting.id,
            "pending_nid": waiting_nid, "versions": versions}


def test_the_untouched_day_verifies(day) -> None:
    report = _verify(day["url"])
    assert report.ok, [str(p) for p in report.problems]


@pytest.mark.parametrize(("who", "table", "sql", "says"), [
    ("edited", "approvals", "UPDATE dd_approvals SET decision = '{{\"prices\": {{\"BRG-6204\": \"9.99\"}}}}' "
                            "WHERE id = '{edited}'", "prices"),
    ("edited", "approvals", "UPDATE dd_approvals SET status = 'canceled' WHERE id = '{edited}'", "canceled"),
    ("edited", "approvals", "UPDATE dd_approvals SET status = 'pending', decided_by = NULL, decided_at = NULL, "
                            "note = NULL, decision = NULL WHERE id = '{edited}'", "pending"),
    ("edited", "approvals", "UPDATE dd_approvals SET level = 'auto' WHERE id = '{edited}'", "request"),
    ("pending", "approvals", "UPDATE dd_approvals SET level = 'auto' WHERE id = '{pending}'", "request"),
    ("pending", "approvals", "UPDATE dd_approvals SET requested = json_set(requested, '$.moves[0].approval_level', "
                             "'auto') WHERE id = '{pending}'", "request"),
    ("pending", "approvals", "UPDATE dd_approvals SET requested = json_set(requested, '$.moves[0].unit_price', "
                             "'3.20') WHERE id = '{pending}'", "request"),
    ("edited", "proposals", "UPDATE dd_proposals SET payment_terms = 'NET90' WHERE id = '{pid}' AND version = {v}",
     "payment_terms"),
    ("edited", "proposals", "UPDATE dd_proposals SET currency = 'USD' WHERE id = '{pid}' AND version = {v}",
     "currency"),
    ("edited", "proposals", "UPDATE dd_proposals SET valid_until = '2099-01-01 00:00:00.000000' WHERE id = '{pid}' "
                            "AND version = {v}", "valid_until"),
    ("edited", "deals", "UPDATE dd_deals SET currency = 'USD' WHERE id = '{deal}'", "currency"),
    ("edited", "deals", "UPDATE dd_deals SET accepted_at = '2020-01-01 00:00:00.000000' WHERE id = '{deal}'",
     "accepted_at"),
])
def test_an_edited_row_operators_read_is_reported(day, tmp_path, who, table, sql, says) -> None:
    deal = day["deal"]
    report = _tampered(day["url"], tmp_path, sql.format(edited=day["edited"], pending=day["pending"],
                                                        pid=deal["proposal_id"], v=deal["version"],
                                                        deal=deal["deal_id"]))
    assert not report.ok
    nid = day["nid"] if who == "edited" else day["pending_nid"]
    problems = [p for p in report.problems if p.kind == "table"]
    assert problems and all(p.negotiation_id == nid for p in problems), [str(p) for p in report.problems]
    assert any(p.detail.startswith(f"{table} ") and says in p.detail for p in problems), \
        [p.detail for p in problems]


def test_deals_show_and_approvals_show_name_the_policy_and_catalog_versions(day, monkeypatch) -> None:
    store = Store(day["url"])
    try:
        tl = review.timeline(store, day["nid"], with_records=False)
        detail = review.approval_detail(store, day["edited"])
    finally:
        store.dispose()
    assert tl is not None and detail is not None
    offered = [turn for turn in tl.turns if turn.offer is not None]
    assert offered and all(turn.policy_version == day["versions"]["policy"] for turn in offered)
    assert all(turn.catalog_version == day["versions"]["catalog"] for turn in offered)
    assert detail.policy_version == day["versions"]["policy"]
    assert detail.catalog_version == day["versions"]["catalog"]

    monkeypatch.setenv("COLUMNS", "400")
    runner = CliRunner()
    shown = runner.invoke(app, ["deals", "show", day["nid"], "--db", day["url"]], catch_exceptions=False)
    assert shown.exit_code == 0
    assert f"policy {day['versions']['policy']}" in shown.output
    assert f"catalog {day['versions']['catalog']}" in shown.output
    shown = runner.invoke(app, ["approvals", "show", day["edited"], "--db", day["url"]], catch_exceptions=False)
    assert shown.exit_code == 0
    assert f"policy {day['versions']['policy']}" in shown.output
    as_json = runner.invoke(app, ["approvals", "show", day["edited"], "--json", "--db", day["url"]],
                            catch_exceptions=False)
    data = json.loads(as_json.output)
    assert data["policy_version"] == day["versions"]["policy"]
    assert data["catalog_version"] == day["versions"]["catalog"]


def test_approvals_filed_in_the_same_instant_list_in_id_order(day, tmp_path) -> None:
    copy = tmp_path / "same.db"
    shutil.copy(day["url"].removeprefix("sqlite:///"), copy)
    engine = create_engine(f"sqlite:///{copy}")
    with engine.begin() as conn:
        conn.execute(text("UPDATE dd_approvals SET requested_at = '2026-01-01 00:00:00.000000'"))
        # the store's own order (rowid) the reverse of the ids
        ids = sorted(r[0] for r in conn.execute(text("SELECT id FROM dd_approvals")))
        rows = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM dd_approvals"))]
        conn.execute(text("DELETE FROM dd_approvals"))
        for row in sorted(rows, key=lambda r: r["id"], reverse=True):
            conn.execute(text(f"INSERT INTO dd_approvals ({', '.join(row)}) VALUES "
                              f"({', '.join(':' + k for k in row)})"), row)
    engine.dispose()
    store = Store(f"sqlite:///{copy}")
    try:
        assert [a.id for a in review.approvals(store)] == ids
    finally:
        store.dispose()


def test_autonomy_show_json_is_machine_readable(tmp_path, monkeypatch) -> None:
    """`autonomy show` had no --json (every other listing has one): a script had to parse a box-drawn table."""
    for var in ("DEALDESK_CATALOG", "DEALDESK_POLICY", "DEALDESK_DB"):
        monkeypatch.delenv(var, raising=False)
    url = f"sqlite:///{tmp_path / 'auto.db'}"
    runner = CliRunner()
    empty = runner.invoke(app, ["autonomy", "show", "--json", "--db", url], catch_exceptions=False)
    assert empty.exit_code == 0 and json.loads(empty.output) == []
    paused = runner.invoke(app, ["autonomy", "pause", "--mode", "shadow", "--sku", SKU, "--by", "bob", "--note",
                                 "[ticket 42]", "--db", url], catch_exceptions=False)
    assert paused.exit_code == 0, paused.output
    shown = runner.invoke(app, ["autonomy", "show", "--json", "--db", url], catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    (switch,) = json.loads(shown.output)
    assert switch["scope"] == f"product:{SKU}" and switch["mode"] == "shadow"
    assert switch["set_by"] == "bob" and switch["note"] == "[ticket 42]"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", switch["set_at"]), switch["set_at"]


def test_a_simulated_day_verifies_on_both_backends(sim_day) -> None:
    """The stricter table checks (requests, edited prices, columns against bodies) hold for what the seller writes,
    on SQLite and PostgreSQL alike (JSON and timestamps read back as each backend gives them)."""
    with sim_day.store.engine.connect() as conn:
        report = audit.verify(conn)
    assert report.ok, [str(p) for p in report.problems]
    assert sim_day.day.decided  # approvals approved, rejected and edited were checked
