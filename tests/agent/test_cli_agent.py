"""The agent's command line: `dealdesk negotiate`, `dealdesk approvals ...` and `dealdesk chat`.

Run in-process through Typer's CliRunner on a SQLite file under tmp_path (`--db`, or the
DEALDESK_DB environment variable), with the decision log under tmp_path (DEALDESK_LOG).
The transcript is checked against the database the command wrote.
"""

from __future__ import annotations

import json
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.service import Buyer, Seller
from agent.store import Store

BUYER_LINE = re.compile(r"^buyer: (\{.*\})$", re.M)
SELLER_LINE = re.compile(r"^seller \((\w+)\): (.*)$", re.M)
OPERATOR_LINE = re.compile(r"^operator: (approve|reject) (A-\w+) \(level (\w+)\)$", re.M)
OUTCOME_LINE = re.compile(r"^outcome: (\w+)$", re.M)




@pytest.fixture
def db(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def read_store(db: str) -> Store:
    return Store(db)


def transcript(output: str) -> dict[str, Any]:
    return {"buyer": [json.loads(m) for m in BUYER_LINE.findall(output)],
            "seller": SELLER_LINE.findall(output),
            "operator": OPERATOR_LINE.findall(output),
            "outcome": OUTCOME_LINE.findall(output)}


def check_negotiation(db: str, org: str, outcome: str) -> tuple[Store, Any]:
    store = read_store(db)
    (neg,) = store.list_negotiations(buyer_org=org)
    assert neg.status == outcome
    versions = [p.version for p in store.proposals(neg.id)]
    assert versions == list(range(1, len(versions) + 1))
    return store, neg


# --- dealdesk negotiate --------------------------------------------------------------------------


@pytest.mark.parametrize(("buyer", "outcome"), [("boulware", "closed"), ("conceder", "deal"), ("eager", "deal")])
def test_negotiate_default_scenario(cli, db, buyer, outcome) -> None:
    result = cli("negotiate", "--buyer", buyer, "--db", db)
    assert result.exit_code == 0, result.output
    t = transcript(result.output)
    assert t["buyer"][0] == {"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "500"}]}
    assert t["seller"][0][0] == "proposal"
    assert re.search(r"version 1: 500 x BRG-6204 at 3\.25 EUR each", t["seller"][0][1]), t["seller"][0]
    assert t["outcome"] == [outcome]
    assert t["seller"][-1][0] == ("deal" if outcome == "deal" else "closed")
    kinds = [m["type"] for m in t["buyer"]]
    assert kinds[-1] == ("accept" if outcome == "deal" else "counter_offer")
    # Each buyer message answers the proposal just printed.
    proposals = [m for m in t["buyer"] if m["type"] != "rfq"]
    assert [m["version"] for m in proposals] == list(range(1, len(proposals) + 1))
    store, neg = check_negotiation(db, f"sim-{buyer}", outcome)
    try:
        prices = [Decimal(p.body["items"][0]["unit_price"]) for p in store.proposals(neg.id)]
        assert prices == sorted(prices, reverse=True) and prices[0] == Decimal("3.25")
        assert len(prices) == len([s for s in t["seller"] if s[0] == "proposal"])
        assert len(store.deals(negotiation_id=neg.id)) == (1 if outcome == "deal" else 0)
    finally:
        store.dispose()


ESCALATING = ("--buyer", "linear", "--sku", "FST-M8X30-A2", "--qty", "100")


@pytest.mark.parametrize("operator", ["approve", "reject", "none"])
def test_negotiate_with_an_escalation(cli, db, operator) -> None:
    """The default scenario never escalates with the built-in buyers; this one does (at round 6)."""
    result = cli("negotiate", *ESCALATING, "--operator", operator, "--db", db)
    assert result.exit_code == 0, result.output
    out = result.output
    t = transcript(out)
    assert t["buyer"][0]["type"] == "rfq"
    assert "pending approval since" in out
    assert t["outcome"] == ["deal"] and t["seller"][-1][0] == "deal"
    store, neg = check_negotiation(db, "sim-linear", "deal")
    try:
        # at 15% the bot's own (overstock room goes to the levels above it): a request at round 6, and after a
        # rejection (or with nobody deciding) another one for the buyer's next counter
        approvals = store.approvals(negotiation_id=neg.id)
        approval = approvals[-1]
        (deal,) = store.deals(negotiation_id=neg.id)
        if operator == "none":
            # Nobody decided them; the deal on the standing offer made them moot.
            assert t["operator"] == [] and all(a.status == "canceled" and a.decided_by == "dealdesk" for a in approvals)
        else:
            assert t["operator"] == [(operator, a.id, a.level) for a in approvals]
            assert all(a.status == {"approve": "approved", "reject": "rejected"}[operator] for a in approvals)
            assert approval.decided_by == "cli-operator" and approval.note == "from dealdesk negotiate"
            # The operator's decision is followed by a proposal (approved price, or the standing offer).
            after = out.split(f"operator: {operator} {approval.id}")[1]
            assert SELLER_LINE.search(after).group(1) == "proposal"
        if operator == "approve":
            requested = Decimal(approval.requested["moves"][0]["unit_price"])
            assert Decimal(deal.body["items"][0]["unit_price"]) == requested
        assert f"Deal {deal.id}" in out
    finally:
        store.dispose()


def test_negotiate_refuses_an_unknown_strategy(cli, db) -> None:
    result = cli("negotiate", "--buyer", "nobody", "--db", db)
    assert result.exit_code == 2
    assert "boulware" in result.output


# --- dealdesk approvals --------------------------------------------------------------------------


def escalate(seller: Seller, org: str) -> tuple[str, dict[str, Any]]:
    nid = seller.start(Buyer(org=org, region="EU"))
    proposal = seller.send(nid, data={"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "500"}]}).data
    for price in ("2.40", "2.50", "2.60", "2.68", "2.70"):
        proposal = seller.send(nid, data={"type": "counter_offer", "proposal_id": proposal["proposal_id"],
                                          "version": proposal["version"],
                                          "items": [{"sku": "BRG-6204", "quantity": "500", "unit_price": price}]}).data
    assert proposal["status"] == "offered" and proposal["pending"]  # a better offer awaits approval
    return nid, proposal


def test_approvals_list_approve_edit_reject(cli, db, dd_demo, monkeypatch) -> None:
    seller = Seller.open(*dd_demo, db)
    try:
        nid_a, prop_a = escalate(seller, "org-a")
        nid_b, prop_b = escalate(seller, "org-b")
        a = seller.store.pending_approval(nid_a).id
        b = seller.store.pending_approval(nid_b).id
    finally:
        seller.close()

    monkeypatch.setenv("DEALDESK_DB", db)  # the environment variable instead of --db
    listed = cli("approvals", "list")
    assert listed.exit_code == 0, listed.output
    for approval_id, nid, org in ((a, nid_a, "org-a"), (b, nid_b, "org-b")):
        row = next(line for line in listed.output.splitlines() if approval_id in line)
        assert nid in row and org in row and "manager" in row and "pending" in row
        assert "BRG-6204 x500 @ 2.70" in row and "discount needs approval level manager" in row

    approved = cli("approvals", "approve", a, "--by", "alice", "--note", "key account")
    assert approved.exit_code == 0, approved.output
    assert f"{a}: approve by alice" in approved.output
    assert re.search(rf"seller \(proposal\): Proposal {prop_a['proposal_id']} version 7: 500 x BRG-6204 at 2\.70",
                     approved.output), approved.output

    again = cli("approvals", "approve", a, "--by", "alice")
    assert again.exit_code == 2 and "approval_not_pending" in again.output

    beyond = cli("approvals", "edit", b, "--price", "BRG-6204=2.50", "--by", "bob")
    assert beyond.exit_code == 2 and "policy_refused" in beyond.output
    rejected = cli("approvals", "reject", b, "--by", "bob", "--note", "hold the line")
    assert rejected.exit_code == 0, rejected.output
    standing = prop_b["items"][0]["unit_price"]
    assert re.search(rf"version 7: 500 x BRG-6204 at {re.escape(standing)} EUR", rejected.output), rejected.output

    unknown = cli("approvals", "approve", "A-NOPE", "--by", "bob")
    assert unknown.exit_code == 2 and "not_found (field approval_id)" in unknown.output  # as REST says
    decided = cli("approvals", "approve", a, "--by", "bob")
    assert decided.exit_code == 2 and "approval_not_pending" in decided.output

    store = read_store(db)
    try:
        row_a, row_b = store.get_approval(a), store.get_approval(b)
        assert (row_a.status, row_a.decided_by, row_a.note) == ("approved", "alice", "key account")
        assert (row_b.status, row_b.decided_by, row_b.note) == ("rejected", "bob", "hold the line")
        assert store.get_proposal(prop_a["proposal_id"]).body["items"][0]["unit_price"] == "2.70"
    finally:
        store.dispose()

    assert all(x not in cli("approvals", "list").output for x in (a, b))  # none pending any more
    everything = cli("approvals", "list", "--status", "all").output
    assert re.search(rf"{a}.*approved", everything) and re.search(rf"{b}.*rejected", everything)


# --- dealdesk chat -------------------------------------------------------------------------------


def test_chat_text_rfq_then_accept(cli, db) -> None:
    lines = ["need 500 x BRG-6204, can you do 3.10 EUR?",
             "",
             "{not json",
             '{"type": "rfq", "items": [{"sku": "NOPE-1", "quantity": "5"}]}',
             "ok, I accept"]
    result = cli("chat", "--db", db, "--org", "chat-org", input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    out = result.output
    assert re.search(r"^negotiation (neg-\w+) as chat-org \(EU, standard\)", out, re.M)
    kinds = [k for k, _ in SELLER_LINE.findall(out)]
    assert kinds == ["proposal", "error", "deal"], out
    assert re.search(r"500 x BRG-6204 at \d+\.\d\d EUR each", out)
    assert "not JSON" in out
    assert re.search(r"unknown_sku items.0.sku: unknown SKU 'NOPE-1'", out)

    store = read_store(db)
    try:
        (neg,) = store.list_negotiations(buyer_org="chat-org")
        assert neg.status == "deal"
        (deal,) = store.deals(negotiation_id=neg.id)
        assert deal.id in out
        understood = [r for r in store.records(neg.id) if r["node"] == "understand"]
        assert [r["dealdesk.model_calls"] for r in understood] == [1, 0, 1]  # text, data part, text
    finally:
        store.dispose()
    assert Path(os.environ["DEALDESK_LOG"]).stat().st_size > 0  # the decision log went where it was told


def test_chat_explain_shows_how_the_text_was_read(cli, db) -> None:
    """With --explain, a text turn's trail says what it was read as, and how (a percentage priced off the offer)."""
    lines = ["need 500 x BRG-6204 please", "can you do 10% off?"]
    result = cli("chat", "--db", db, "--org", "chat-explain-org", "--explain", input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())  # rich wraps long lines
    assert "read as rfq: item BRG-6204 x 500" in out
    offered = re.search(r"500 x BRG-6204 at (\d+\.\d\d) EUR each", out).group(1)
    assert re.search(rf"read as counter_offer: asked discount 10%; 10% off the offered {offered} EUR read as "
                     r"\d+\.\d\d for BRG-6204 x 500", out), out


# --- malformed options: one line naming the option and the value, never a traceback ----------------------


def _one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1, result.output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_approvals_edit_refuses_a_malformed_price(cli, db, dd_demo) -> None:
    seller = Seller.open(*dd_demo, db)
    try:
        nid, _ = escalate(seller, "org-edit")
        approval = seller.store.pending_approval(nid).id
    finally:
        seller.close()
    for value in ("BRG-6204", "BRG-6204=NaN", "BRG-6204=", "=2.90", "BRG-6204=abc", "BRG-6204=Infinity"):
        result = cli("approvals", "edit", approval, "--price", value, "--db", db)
        _one_line_error(result, "--price", repr(value))
    twice = cli("approvals", "edit", approval, "--price", "BRG-6204=2.90", "--price", "BRG-6204=2.95", "--db", db)
    _one_line_error(twice, "--price", "more than once")
    # The seller's own typed refusal (not in the currency's minor unit) is one line too, naming the field.
    cents = cli("approvals", "edit", approval, "--price", "BRG-6204=2.955", "--db", db)
    _one_line_error(cents, "malformed_message", "prices.BRG-6204")
    store = read_store(db)
    try:
        assert store.get_approval(approval).status == "pending"  # nothing was decided
    finally:
        store.dispose()


def test_approvals_list_refuses_an_unknown_status(cli, db) -> None:
    result = cli("approvals", "list", "--status", "bogus", "--db", db)
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "--status" in text and "'bogus'" in text
    for status in ("pending", "approved", "rejected", "edited", "canceled", "all"):
        assert status in text
    assert cli("approvals", "list", "--status", "canceled", "--db", db).exit_code == 0


def test_negotiate_help_lists_every_buyer_strategy(cli) -> None:
    from agent.buyers import STRATEGIES

    text = " ".join(cli("negotiate", "--help").output.split())
    assert "escalator" in STRATEGIES
    for name in STRATEGIES:
        assert name in text, name
