"""The approvals commands an operator decides with (agent/cli_agent.py, `approvals show` in agent/cli_ops.py).

A few negotiations are driven through `agent.service.Seller` into a SQLite file, each leaving the kind of
approval an operator QA pass found misreported:

- `neg-edit`: a request at 9.00 while 9.86 stood, edited to 10.00; the buyer was sent 9.86 (v7), not 10.00;
- `neg-pend`: the same haggle, left pending (edits are tried on copies of the database);
- `neg-value`: an opening offer over the deal value the bot may close alone (the reason was filed twice);
- `neg-paused`: an offer held for approval while autonomy was paused (approval-only), rejected: nothing stood.

Checked: an edit refuses prices that are not plain decimal strings and SKUs the approval has no line for,
naming the field; a missing approval is `not_found` everywhere; `approvals list --json` and untruncated ids;
`approvals show` says what the buyer was sent after the decision and labels each version by what it was;
instants in CLI JSON are UTC with Z; percentages have two decimals; each reason once, with its figures.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.store import Store
from agent.store.autonomy import AutonomyStore

Z_INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@dataclass
class Scenes:
    url: str
    path: Path
    edited: str  # approval id: edited to 10.00 above the standing 9.86
    pending: str  # approval id: left pending
    value: str  # approval id: outside the deal value the bot may close alone
    paused: str  # approval id: held while autonomy was paused, then rejected


def _haggle(seller, nid: str, sku: str, qty: int, prices: list[str]):
    from agent.service import Buyer

    seller.start(Buyer(org=f"org-{nid}", region="EU"), negotiation_id=nid)
    offer = seller.send(nid, data={"type": "rfq", "items": [{"sku": sku, "quantity": str(qty)}]}).data
    for price in prices:
        reply = seller.send(nid, data={"type": "counter_offer", "proposal_id": offer["proposal_id"],
                                       "version": offer["version"],
                                       "items": [{"sku": sku, "quantity": str(qty), "unit_price": price}]}).data
        if reply.get("type") == "proposal":
            offer = reply
        if reply.get("pending"):
            break
    pending = seller.store.pending_approval(nid)
    assert pending is not None, f"{nid}: no approval was requested"
    return pending


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Scenes:
    from agent.config import load_data
    from agent.service import Buyer, Seller

    base = tmp_path_factory.mktemp("approvals")
    url = f"sqlite:///{base / 'dd.db'}"
    catalog, policy = load_data()
    seller = Seller(catalog, policy, Store(url))
    try:
        counters = ["7.00", "7.50", "8.00", "8.50", "9.00"]
        edited = _haggle(seller, "neg-edit", "FST-M8X30-A2", 100, counters)
        assert edited.requested["moves"][0]["unit_price"] == "9.00"
        sent = seller.decide(edited.id, "edit", by="op-edit", prices={"FST-M8X30-A2": "10.00"})
        assert sent is not None and [i["unit_price"] for i in sent.data["items"]] == ["9.86"]  # the standing price
        pending = _haggle(seller, "neg-pend", "FST-M8X30-A2", 100, counters)
        seller.start(Buyer(org="org-value", region="EU"), negotiation_id="neg-value")
        seller.send("neg-value", data={"type": "rfq", "items": [{"sku": "FST-M8-NUT-A2", "quantity": "4400"},
                                                                {"sku": "FST-M8X30-A2", "quantity": "3000"}]})
        value = seller.store.pending_approval("neg-value")
        assert value is not None and len(value.reasons) == 1  # the deal value reason, once (it was filed per line)
        switches = AutonomyStore(seller.store.engine)
        switches.set("global", "approval_only", by="qa")
        seller.start(Buyer(org="org-paused", region="EU"), negotiation_id="neg-paused")
        seller.send("neg-paused", data={"type": "rfq", "items": [{"sku": "BRG-6205", "quantity": "100"}]})
        paused = seller.store.pending_approval("neg-paused")
        assert paused is not None
        seller.decide(paused.id, "reject", by="op-reject")
        switches.set("global", "auto", by="qa")
    finally:
        seller.close()
    return Scenes(url, base / "dd.db", edited.id, pending.id, value.id, paused.id)


def _copy(scenes: Scenes, dest: Path) -> str:
    """A copy of the scenes' database (and its checkpoints), for a command that might change it."""
    src, dst = sqlite3.connect(scenes.path), sqlite3.connect(dest / "dd.db")
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    checkpoints = scenes.path.with_name("dd.checkpoints.sqlite")
    if checkpoints.exists():
        shutil.copy(checkpoints, dest / "dd.checkpoints.sqlite")
    return f"sqlite:///{dest / 'dd.db'}"


@pytest.fixture
def cli(scenes, monkeypatch, tmp_path):
    """cli(*args, db=None, columns=400) -> the CliRunner result (stderr apart) against the scenes' database."""
    for var in ("DEALDESK_CATALOG", "DEALDESK_POLICY", "DEALDESK_DB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DEALDESK_LOG", str(tmp_path / "decisions.log"))

    def invoke(*args: str, db: str | None = None, columns: int = 400):
        monkeypatch.setenv("COLUMNS", str(columns))
        return CliRunner().invoke(app, [*args, "--db", db or scenes.url], catch_exceptions=False)

    return invoke


def _status(url: str, approval_id: str) -> str:
    store = Store(url)
    try:
        a = store.get_approval(approval_id)
        assert a is not None
        return a.status
    finally:
        store.dispose()


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- A: an edit's prices are plain decimal strings; a SKU the approval lacks is prices.<SKU> -------------------


@pytest.mark.parametrize("price", ["1e1", "1E1", "1_0", "\uff11\uff10", "+10", "-10", "10.", ".5", "1.0.0", "NaN",
                                   "Infinity", "0x10"])
def test_an_edit_refuses_a_price_that_is_not_a_plain_decimal_string(cli, scenes, tmp_path, price) -> None:
    db = _copy(scenes, tmp_path)
    result = cli("approvals", "edit", scenes.pending, "--price", f"FST-M8X30-A2={price}", db=db)
    assert result.exit_code == 2, result.output
    text = _one_line(result.output)
    assert "error malformed_message (field --price FST-M8X30-A2):" in text, text
    assert _status(db, scenes.pending) == "pending"  # nothing was decided


def test_an_edit_with_a_plain_decimal_price_goes_through(cli, scenes, tmp_path) -> None:
    db = _copy(scenes, tmp_path)
    result = cli("approvals", "edit", scenes.pending, "--price", "FST-M8X30-A2=9.20", db=db)
    assert result.exit_code == 0, result.output
    assert _status(db, scenes.pending) == "edited"


def test_an_edit_naming_a_sku_the_approval_has_no_line_for_names_prices_sku(cli, scenes, tmp_path) -> None:
    db = _copy(scenes, tmp_path)
    result = cli("approvals", "edit", scenes.pending, "--price", "BRG-6204=3.00", db=db)
    assert result.exit_code == 2, result.output
    text = _one_line(result.output)
    assert "(field prices.BRG-6204)" in text and "no line for BRG-6204" in text, text
    assert _status(db, scenes.pending) == "pending"


# --- F: a missing approval is not_found, naming approval_id, in the usual error format ------------------------


@pytest.mark.parametrize("args", [("show",), ("approve",), ("reject",), ("edit", "--price", "FST-M8X30-A2=9.20")])
def test_a_missing_approval_is_not_found(cli, args) -> None:
    result = cli("approvals", args[0], "A-NOPE", *args[1:])
    assert result.exit_code == 2, result.output
    assert "error not_found (field approval_id): no approval A-NOPE" in _one_line(result.output), result.output


def test_a_missing_negotiation_is_not_found(cli) -> None:
    result = cli("deals", "show", "neg-nope")
    assert result.exit_code == 2
    assert "error not_found (field negotiation_id): no negotiation neg-nope" in _one_line(result.output)


# --- C: approvals list --json, and ids never truncated ---------------------------------------------------------


def test_approvals_list_json(cli, scenes) -> None:
    result = cli("approvals", "list", "--status", "all", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) >= {scenes.edited, scenes.pending, scenes.value, scenes.paused}
    edited = by_id[scenes.edited]
    assert edited["negotiation_id"] == "neg-edit" and edited["buyer_org"] == "org-neg-edit"
    assert edited["status"] == "edited" and edited["level"] == "manager"
    move = edited["requested"][0]
    assert move["unit_price"] == "9.00" and move["list_price"] == "11.60" and move["line_total"] == "900.00"
    assert edited["decision"] == {"prices": {"FST-M8X30-A2": "10.00"}}
    assert Z_INSTANT.match(edited["requested_at"]) and Z_INSTANT.match(edited["decided_at"])
    pending = json.loads(cli("approvals", "list", "--json").output)
    assert {r["id"] for r in pending} == {scenes.pending, scenes.value}  # the two left pending


def test_approvals_list_is_newest_first_as_rest_and_the_console(cli, scenes) -> None:
    """QA (operators): `approvals list` gave the oldest request first while REST's `/v1/approvals` and the console
    give the newest first; one order everywhere (requests filed in the same instant by id, as REST)."""
    store = Store(scenes.url)
    try:
        rest = [a.id for a in store.approvals(newest_first=True)]  # what REST and the console list
        pending = [a.id for a in store.approvals(status="pending", newest_first=True)]
        times = [a.requested_at for a in store.approvals()]
    finally:
        store.dispose()
    assert len(set(times)) > 1  # an order to get wrong
    listed = json.loads(cli("approvals", "list", "--status", "all", "--json").output)
    assert [r["id"] for r in listed] == rest
    at = [r["requested_at"] for r in listed]
    assert at == sorted(at, reverse=True)
    text = cli("approvals", "list", "--status", "all").output
    assert sorted(rest, key=text.index) == rest  # the table too
    assert [r["id"] for r in json.loads(cli("approvals", "list", "--json").output)] == pending


@pytest.mark.parametrize("columns", [80, 40])
def test_approvals_list_never_truncates_ids(cli, scenes, columns) -> None:
    result = cli("approvals", "list", "--status", "all", columns=columns)
    assert result.exit_code == 0, result.output
    for approval_id in (scenes.edited, scenes.pending, scenes.value, scenes.paused):
        assert approval_id in result.output
    for nid in ("neg-edit", "neg-pend", "neg-value", "neg-paused"):
        assert nid in result.output
    assert "\u2026" not in result.output


# --- B: what went out to the buyer after the decision; versions labelled by what they were ------------------


def test_approvals_show_says_what_the_buyer_was_sent_after_an_edit(cli, scenes) -> None:
    result = cli("approvals", "show", scenes.edited)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "prices FST-M8X30-A2=10.00" in text  # the operator's decision, as made ...
    sent = re.search(r"^  sent +(P-\w+) v7 \[offered\]: FST-M8X30-A2 x100 at 9\.86, total 986\.00 EUR", text,
                     re.MULTILINE)
    assert sent, text  # ... and what the buyer actually received
    assert re.search(r"FST-M8X30-A2: sent at 9\.86, not the edited 10\.00: the offer standing \(v6\) already "
                     r"gave the line at 9\.86", text), text
    assert "standing    " not in text  # v6 is no longer called the standing offer
    assert re.search(r"^  offered +P-\w+ v6 \(offered while the request waited, now superseded\)", text,
                     re.MULTILINE), text
    data = json.loads(cli("approvals", "show", scenes.edited, "--json").output)
    assert data["result"]["version"] == 7 and data["result"]["lines"][0]["unit_price"] == "9.86"
    assert data["offer"]["version"] == 6 and data["offer"]["sent_as"] == "offered"
    assert data["lines"] == [{"sku": "FST-M8X30-A2", "quantity": 100, "requested": "9.00", "decided": "10.00",
                              "sent": "9.86", "standing": "9.86"}]


def test_approvals_show_labels_a_version_held_for_approval(cli, scenes) -> None:
    text = cli("approvals", "show", scenes.paused).output
    assert re.search(r"^  held +P-\w+ v1 \(awaiting this approval, never offered; now rejected\)", text,
                     re.MULTILINE), text
    assert "standing" not in text
    assert re.search(r"^  sent +no new offer; the reply was an error", text, re.MULTILINE), text
    data = json.loads(cli("approvals", "show", scenes.paused, "--json").output)
    assert data["offer"]["sent_as"] == "pending_approval" and data["result"] is None
    assert data["result_reply"] == "error"


def test_approvals_show_of_a_pending_request_says_nothing_was_sent_yet(cli, scenes) -> None:
    text = cli("approvals", "show", scenes.pending).output
    assert "pending: awaiting an operator" in text
    assert re.search(r"^  offered +P-\w+ v6 \(offered while the request waits, still standing\)", text,
                     re.MULTILINE), text
    assert not re.search(r"^  sent ", text, re.MULTILINE)


# --- D: instants in CLI JSON are UTC with Z (as REST says them) ---------------------------------------------------


def _instants(value, key: str = "") -> list[tuple[str, str]]:
    """(key, text) of every value under a key that names an instant."""
    out: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _instants(v, k)
    elif isinstance(value, list):
        for v in value:
            out += _instants(v, key)
    elif isinstance(value, str) and (key.endswith("_at") or key in ("at", "valid_until", "since", "dealdesk.ts")):
        out.append((key, value))
    return out


def test_instants_in_cli_json_are_utc_with_z(cli, scenes) -> None:
    shown = json.loads(cli("approvals", "show", scenes.edited, "--json").output)
    assert shown["approval"]["requested_at"].endswith("Z")
    outputs = [shown, json.loads(cli("approvals", "list", "--status", "all", "--json").output),
               json.loads(cli("deals", "list", "--json").output),
               json.loads(cli("deals", "show", "neg-edit", "--json").output)]
    outputs.append([json.loads(line) for line in cli("decisions", "export").output.splitlines()])
    for output in outputs:
        found = _instants(output)
        assert found
        bad = [(k, v) for k, v in found if not Z_INSTANT.match(v)]
        assert not bad, bad[:5]


def test_the_approvals_list_since_column_is_utc_with_z(cli, scenes) -> None:
    text = cli("approvals", "list").output
    line = next(ln for ln in text.splitlines() if scenes.pending in ln)
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", line), line


def test_decisions_export_keeps_each_record_as_stored(cli, scenes) -> None:
    """Only the export's rendering of the row's time changed: the records (what the chain hashes) are as stored,
    and the trail still verifies."""
    lines = [json.loads(line) for line in cli("decisions", "export", "--conversation", "neg-edit").output.splitlines()]
    store = Store(scenes.url)
    try:
        stored = store.records("neg-edit")
    finally:
        store.dispose()
    assert [{k: v for k, v in r.items() if k not in ("dealdesk.record.id", "dealdesk.ts")} for r in lines] == stored
    assert "OK" in cli("audit", "verify").output


# --- E: percentages to two decimals -----------------------------------------------------------------------------


def test_discounts_shown_to_operators_have_two_decimals(cli, scenes) -> None:
    shown = json.loads(cli("approvals", "show", scenes.edited, "--json").output)
    assert shown["approval"]["requested"][0]["discount_percent"] == "22.41"
    listed = json.loads(cli("approvals", "list", "--status", "all", "--json").output)
    percents = [m["discount_percent"] for a in listed for m in a["requested"]]
    assert percents and all(re.fullmatch(r"\d+\.\d\d", p) for p in percents), percents
    assert "22.41% off" in cli("approvals", "list", "--status", "all").output
    store = Store(scenes.url)
    try:  # the stored request keeps its full precision
        a = store.get_approval(scenes.edited)
        assert a is not None and a.requested["moves"][0]["discount_percent"].startswith("22.4137931")
    finally:
        store.dispose()


# --- H: each reason once, with the figures the records hold ----------------------------------------------------


def test_a_discount_reason_names_the_price_its_discount_and_the_list(cli, scenes) -> None:
    text = cli("approvals", "show", scenes.edited).output
    why = [ln for ln in text.splitlines() if ln.startswith("  why")]
    assert len(why) == 1, why
    assert ("discount needs approval level manager: FST-M8X30-A2 x100 at 9.00 is 22.41% off list 11.60 "
            "(line level manager), the bot alone: up to 15.00% off, to 9.86") in why[0], why


def test_a_deal_value_reason_names_the_deal_value_once(cli, scenes) -> None:
    store = Store(scenes.url)
    try:
        a = store.get_approval(scenes.value)
        assert a is not None
        moves = a.requested["moves"]
    finally:
        store.dispose()
    total = sum(Decimal(m["line_total"]) for m in moves)
    text = cli("approvals", "show", scenes.value).output
    why = [ln for ln in text.splitlines() if ln.startswith("  why")]
    assert len(why) == 1, why
    assert f"outside the bot's autonomy scope: deal value {total} EUR" in why[0], why
    assert "above the 45000 EUR the bot may close alone" in why[0]  # the limit, recorded with the request
    data = json.loads(cli("approvals", "show", scenes.value, "--json").output)
    assert len(data["approval"]["reasons"]) == 1
    assert data["approval"]["reasons"][0]["figures"] == {"deal_value": str(total), "currency": "EUR",
                                                         "autonomy_max_deal_value": "45000"}
    listed = cli("approvals", "list", "--status", "all").output
    row = next(ln for ln in listed.splitlines() if scenes.value in ln)
    assert row.count("outside the bot's autonomy scope") == 1, row
    timeline = cli("deals", "show", "neg-value").output
    asked = next(ln for ln in timeline.splitlines() if ln.startswith(f"  approval:    {scenes.value}"))
    assert asked.count("outside the bot's autonomy scope") == 1 and f"deal value {total} EUR" in asked, asked


# --- E: a pending request past the validity of its offers is shown expired; deciding it is refused -------------------


def _age(url: str, approval_id: str, days: int) -> None:
    """Move a request's filing time `days` back (as if nobody had looked at it since)."""
    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT requested_at FROM dd_approvals WHERE id = ?", (approval_id,)).fetchone()
        older = dt.datetime.fromisoformat(row[0]) - dt.timedelta(days=days)
        conn.execute("UPDATE dd_approvals SET requested_at = ? WHERE id = ?", (older.isoformat(sep=" "), approval_id))
    conn.close()


def test_a_request_past_its_offers_validity_lists_as_expired_and_is_not_decided(cli, scenes, tmp_path) -> None:
    """QA (operators): a request whose offers' validity had passed still listed as `pending`, and only an attempt
    to approve it said it had expired. It lists as `expired` (with `expires_at`: requested_at plus the policy's
    proposal_validity_days, as `Seller.decide` refuses it), `approvals show` says deciding it is refused, and
    approving it is refused with `approval_expired` (exit 2) and cancels it: nothing is sent."""
    from agent.config import load_data
    from agent.review import utc_text, validity_days

    db = _copy(scenes, tmp_path)
    _age(db, scenes.pending, 20)
    store = Store(db)
    try:
        aged = store.get_approval(scenes.pending)
        fresh = store.get_approval(scenes.value)
    finally:
        store.dispose()
    days = validity_days(*load_data())("FST-M8X30-A2")
    assert days < 20
    listed = {r["id"]: r for r in json.loads(cli("approvals", "list", "--json", db=db).output)}
    assert listed[scenes.pending]["status"] == "expired"
    assert listed[scenes.pending]["expires_at"] == utc_text(aged.requested_at + dt.timedelta(days=days))
    assert listed[scenes.value]["status"] == "pending"  # still within its validity
    assert listed[scenes.value]["expires_at"] > utc_text(fresh.requested_at)
    line = next(ln for ln in cli("approvals", "list", db=db).output.splitlines() if scenes.pending in ln)
    assert re.search(r"\bexpired\b", line), line
    shown = cli("approvals", "show", scenes.pending, db=db).output
    assert shown.splitlines()[0].endswith("  expired"), shown
    assert re.search(r"^  decision +expired at \S+Z .*refused \(approval_expired\)", shown, re.MULTILINE), shown
    assert "pending: awaiting an operator" not in cli("deals", "show", "neg-pend", db=db).output
    deals = {d["negotiation_id"]: d for d in json.loads(cli("deals", "list", "--json", db=db).output)}
    assert (deals["neg-pend"]["pending_approvals"], deals["neg-pend"]["expired_approvals"]) == (0, 1)
    assert (deals["neg-value"]["pending_approvals"], deals["neg-value"]["expired_approvals"]) == (1, 0)
    line = next(ln for ln in cli("deals", "list", db=db).output.splitlines() if ln.startswith("neg-pend "))
    assert "1 (1 expired)" in line, line
    refused = cli("approvals", "approve", scenes.pending, db=db)
    assert refused.exit_code == 2 and "error approval_expired (field approval_id)" in refused.stderr, refused.output
    assert _status(db, scenes.pending) == "canceled"
    assert scenes.pending not in {r["id"] for r in json.loads(cli("approvals", "list", "--json", db=db).output)}


def test_list_status_expired_lists_only_the_requests_past_their_validity(cli, scenes, tmp_path) -> None:
    db = _copy(scenes, tmp_path)
    _age(db, scenes.pending, 20)
    expired = [r["id"] for r in json.loads(cli("approvals", "list", "--status", "expired", "--json", db=db).output)]
    assert expired == [scenes.pending]
    pending = {r["id"]: r["status"] for r in json.loads(cli("approvals", "list", "--json", db=db).output)}
    assert pending[scenes.pending] == "expired" and pending[scenes.value] == "pending"
