"""Operators pause the bot's autonomy at run time: approval-only and shadow, per scope."""

from __future__ import annotations

from decimal import Decimal

import pytest
from typer.testing import CliRunner

from agent.graph import SHADOW_TEXT
from agent.playbook import AWAITING_APPROVAL
from agent.service import Buyer
from agent.store.autonomy import AUDIT_CONVERSATION, AutonomyStore, effective, scope_of
from tools.errors import DealdeskError

RFQ = {"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "500"}]}


def test_the_strictest_mode_of_the_most_specific_scope_wins() -> None:
    switches = {"global": "approval_only", "category:bearings": "shadow", "product:BRG-6204": "approval_only"}
    assert effective(switches, [("BRG-6204", "bearings")]) == "approval_only"  # the product beats its category
    assert effective(switches, [("BRG-6205", "bearings")]) == "shadow"
    assert effective(switches, [("MTR-1", "motors")]) == "approval_only"  # global
    assert effective(switches, [("BRG-6204", "bearings"), ("BRG-6205", "bearings")]) == "shadow"
    assert effective({}, [("X", "y")]) == "auto" and effective(switches, []) == "auto"
    assert scope_of() == "global" and scope_of(category="motors") == "category:motors"
    assert scope_of(sku="A") == "product:A"
    with pytest.raises(DealdeskError):
        scope_of(category="a", sku="b")


def test_approval_only_routes_every_new_offer_to_an_operator(dd_seller_factory) -> None:
    seller = dd_seller_factory()
    AutonomyStore(seller.store.engine).set("category:bearings", "approval_only", by="lead", note="quarter end")
    nid = seller.start(Buyer(org="acme", region="EU"))
    first = seller.send(nid, data=RFQ)
    assert first.type == "proposal" and first.data["status"] == "pending_approval"
    refused = seller.send(nid, data={"type": "accept", "proposal_id": first.data["proposal_id"], "version": 1})
    assert refused.data["code"] == "approval_pending"
    news = seller.send(nid, text="any news on the approval?")  # the offer awaits approval: no figure, no new version
    assert news.data == {"type": "answer", "topic": "status", "awaiting_approval": True}
    assert news.text == AWAITING_APPROVAL
    approval = seller.store.pending_approval(nid)
    assert approval.level == "operator" and approval.reasons[0]["rule_id"] == "operator.autonomy.approval_only"
    sent = seller.decide(approval.id, "approve", by="mgr@x")
    assert sent.data["status"] == "offered" and sent.data["version"] == 2
    deal = seller.send(nid, data={"type": "accept", "proposal_id": sent.data["proposal_id"], "version": 2})
    assert deal.type == "deal"


def test_shadow_sends_nothing_until_an_operator_does(dd_seller_factory) -> None:
    seller = dd_seller_factory()
    AutonomyStore(seller.store.engine).set("global", "shadow", by="lead")
    nid = seller.start(Buyer(org="acme", region="EU"))
    held = seller.send(nid, data=RFQ)
    assert held.data is None and held.text == SHADOW_TEXT  # no figure reached the buyer
    approval = seller.store.pending_approval(nid)
    draft = seller.store.get_proposal(approval.proposal_id)
    assert draft.status == "pending_approval" and draft.body["items"][0]["unit_price"] == "3.25"
    sent = seller.decide(approval.id, "approve", by="mgr@x")
    assert sent.type == "proposal" and sent.data["status"] == "offered"
    assert sent.data["items"][0]["unit_price"] == "3.25"


def test_resume_restores_the_policy_and_every_switch_is_recorded(dd_seller_factory) -> None:
    seller = dd_seller_factory()
    switches = AutonomyStore(seller.store.engine)
    switches.set("product:BRG-6204", "shadow", by="lead", note="price review")
    switches.set("product:BRG-6204", "auto", by="lead")
    assert switches.switches() == {}
    nid = seller.start(Buyer(org="acme", region="EU"))
    assert seller.send(nid, data=RFQ).data["status"] == "offered"
    records = seller.store.records(AUDIT_CONVERSATION)
    assert [(r["dealdesk.autonomy.scope"], r["dealdesk.autonomy.mode"], r["dealdesk.autonomy.by"])
            for r in records] == [("product:BRG-6204", "shadow", "lead"), ("product:BRG-6204", "auto", "lead")]
    with pytest.raises(DealdeskError) as bad:
        switches.set("global", "off", by="x")
    assert bad.value.field == "mode"


def test_autonomy_cli(tmp_path) -> None:
    from agent.cli import app

    db = f"sqlite:///{tmp_path / 'a.db'}"
    runner = CliRunner()
    r = runner.invoke(app, ["autonomy", "pause", "--mode", "shadow", "--category", "motors", "--by", "lead",
                            "--db", db])
    assert r.exit_code == 0 and "category:motors: shadow" in r.output
    r = runner.invoke(app, ["autonomy", "show", "--db", db])
    assert r.exit_code == 0 and "category:motors" in r.output and "shadow" in r.output
    r = runner.invoke(app, ["autonomy", "resume", "--category", "motors", "--db", db])
    assert r.exit_code == 0
    r = runner.invoke(app, ["autonomy", "show", "--db", db])
    assert "auto everywhere" in r.output
    r = runner.invoke(app, ["autonomy", "pause", "--mode", "off", "--db", db])
    assert r.exit_code == 2


def _inbox(seller, nid) -> list[str] | None:
    pending = seller.store.pending_approval(nid)
    return None if pending is None else [m["unit_price"] for m in pending.requested["moves"]]


def test_the_request_awaiting_approval_is_always_the_one_the_buyer_was_shown(dd_seller_factory) -> None:
    """Approval-only: each new draft awaits approval itself, so it replaces the request before it (the operator's
    inbox held the first draft at 3.25 while the buyer was shown 3.09 'awaiting approval', and approving sent
    3.25). Back on auto, an offer as good for the buyer as the request makes it moot: canceled, not approvable."""
    seller = dd_seller_factory()
    switches = AutonomyStore(seller.store.engine)
    switches.set("product:BRG-6204", "approval_only", by="lead")
    nid = seller.start(Buyer(org="acme", region="EU"))
    first = seller.send(nid, data=RFQ)
    assert first.data["status"] == "pending_approval" and _inbox(seller, nid) == [first.data["items"][0]["unit_price"]]
    old = seller.store.pending_approval(nid)
    second = seller.send(nid, text="can you do 3.00?")
    shown = second.data["items"][0]["unit_price"]
    assert second.data["status"] == "pending_approval" and shown != first.data["items"][0]["unit_price"]
    assert _inbox(seller, nid) == [shown] and second.data["pending"]["items"][0]["unit_price"] == shown
    assert seller.store.get_approval(old.id).status == "canceled"
    sent = seller.decide(seller.store.pending_approval(nid).id, "approve", by="mgr@x")
    assert sent.data["status"] == "offered" and sent.data["items"][0]["unit_price"] == shown  # what the buyer saw

    nid = seller.start(Buyer(org="acme-2", region="EU"))
    seller.send(nid, data=RFQ)
    asked = seller.send(nid, text="can you do 3.20?")
    waiting = seller.store.pending_approval(nid)
    assert _inbox(seller, nid) == [asked.data["items"][0]["unit_price"]]
    switches.set("product:BRG-6204", "auto", by="lead")
    better = seller.send(nid, text="can you do 3.18?")
    assert better.data["status"] == "offered" and better.data["pending"] is None
    assert "awaiting approval" not in better.text
    assert seller.store.get_approval(waiting.id).status == "canceled" and _inbox(seller, nid) is None
    with pytest.raises(DealdeskError):  # nothing left to approve: the buyer holds the better offer
        seller.decide(waiting.id, "approve", by="mgr@x")


@pytest.mark.parametrize("mode", ["approval_only", "shadow"])
def test_pausing_autonomy_never_takes_away_an_offer_the_buyer_may_accept(dd_seller_factory, mode: str) -> None:
    """Paused while an offer is out: a counter-offer's better offer awaits an operator beside the standing version,
    which stays as it was and can be accepted. Before, the awaiting draft superseded it as version 2 (in shadow
    mode a version the buyer never saw), and accepting version 1 answered proposal_superseded."""
    seller = dd_seller_factory()
    nid = seller.start(Buyer(org="acme", region="EU"))
    first = seller.send(nid, data=RFQ).data
    assert first["status"] == "offered"
    pid, price = first["proposal_id"], first["items"][0]["unit_price"]
    AutonomyStore(seller.store.engine).set("global", mode, by="lead")

    def counter(asked: str):
        return seller.send(nid, data={"type": "counter_offer", "proposal_id": pid, "version": 1,
                                      "items": [{"sku": "BRG-6204", "quantity": "500", "unit_price": asked}]})

    asked = counter("2.90")
    if mode == "shadow":
        assert asked.data is None and asked.text.startswith(SHADOW_TEXT) and "can be accepted" in asked.text
    current = seller.store.get_proposal(pid)
    assert (current.version, current.status) == (1, "offered")
    request = seller.store.pending_approval(nid)
    requested = request.requested["moves"][0]["unit_price"]
    if mode == "approval_only":  # the standing version as it is, and beside it what awaits approval
        assert {**asked.data, "pending": None} == {**first, "pending": None}
        assert asked.data["pending"]["items"] == [{"sku": "BRG-6204", "quantity": "500", "unit_price": requested}]
        assert "awaiting approval; meanwhile this offer stands" in asked.text
    assert request.proposal_id == pid and request.reasons[0]["rule_id"] == f"operator.autonomy.{mode}"
    assert Decimal(requested) < Decimal(price)

    again = counter("2.80")  # the strategy holds, or asks less than what awaits approval: the filed request stands
    assert seller.store.pending_approval(nid).id == request.id
    if mode == "approval_only":
        assert again.data["version"] == 1 and again.data["pending"]["items"][0]["unit_price"] == requested

    deal = seller.send(nid, data={"type": "accept", "proposal_id": pid, "version": 1})
    assert deal.type == "deal" and deal.data["total"] == first["total"]
    assert seller.store.get_approval(request.id).status == "canceled"  # nothing left to approve


def test_approving_the_request_beside_a_standing_offer_sends_it_as_the_next_version(dd_seller_factory) -> None:
    seller = dd_seller_factory()
    nid = seller.start(Buyer(org="acme", region="EU"))
    first = seller.send(nid, data=RFQ).data
    AutonomyStore(seller.store.engine).set("product:BRG-6204", "approval_only", by="lead")
    seller.send(nid, data={"type": "counter_offer", "proposal_id": first["proposal_id"], "version": 1,
                           "items": [{"sku": "BRG-6204", "quantity": "500", "unit_price": "2.90"}]})
    request = seller.store.pending_approval(nid)
    sent = seller.decide(request.id, "approve", by="mgr@x")
    assert (sent.data["version"], sent.data["status"]) == (2, "offered")
    assert sent.data["items"][0]["unit_price"] == request.requested["moves"][0]["unit_price"]
    assert seller.store.get_proposal(first["proposal_id"], 1).status == "superseded"


def test_a_request_beside_a_standing_offer_below_the_buyers_later_price_is_replaced(dd_seller_factory) -> None:
    """QA: approval-only, 3.09 awaited approval beside the standing 3.25; the buyer then offered 3.15, and approving
    sent (and booked) 3.09."""
    seller = dd_seller_factory()
    nid = seller.start(Buyer(org="acme", region="EU"))
    first = seller.send(nid, data=RFQ).data
    AutonomyStore(seller.store.engine).set("product:BRG-6204", "approval_only", by="lead")
    for asked in ("3.00", "3.15"):
        reply = seller.send(nid, data={"type": "counter_offer", "proposal_id": first["proposal_id"], "version": 1,
                                       "items": [{"sku": "BRG-6204", "quantity": "500", "unit_price": asked}]})
        assert reply.data["version"] == 1 and reply.data["pending"]["items"][0]["unit_price"] >= asked
    request = seller.store.pending_approval(nid)
    assert request.requested["moves"][0]["unit_price"] == "3.15"
    sent = seller.decide(request.id, "approve", by="mgr@x")
    assert sent.data["items"][0]["unit_price"] == "3.15"


@pytest.mark.parametrize("mode", ["shadow", "approval_only"])
def test_the_same_request_again_keeps_the_one_filed(dd_seller_factory, mode: str) -> None:
    """QA (operators): in shadow mode an identical repeated rfq canceled the pending request and filed the same one
    under a new id; an operator with the old one open got "already canceled"."""
    seller = dd_seller_factory()
    AutonomyStore(seller.store.engine).set("global", mode, by="lead")
    nid = seller.start(Buyer(org="acme-again", region="EU"))
    seller.send(nid, data=RFQ)
    first = seller.store.pending_approval(nid)
    seller.send(nid, data=RFQ)
    seller.send(nid, data=RFQ)
    assert [(a.id, a.status) for a in seller.store.approvals(negotiation_id=nid)] == [(first.id, "pending")]
    assert seller.decide(first.id, "approve", by="mgr@x").data["items"][0]["unit_price"] == "3.25"
