"""Whole negotiations through `Seller`, offline, on the demo data (examples/).

The core path (RFQ -> concessions -> escalation -> operator approval -> deal) runs on
SQLite and on PostgreSQL; the other paths (operator reject/edit, buyer reject, max
rounds, errors, plain text) on SQLite. Every figure is checked against the policy's
decision surface (`Desk.surface`), never against numbers copied from a run alone.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.models.doubles import FunctionModel, brief_of, final, tool_call, tool_results
from agent.graph import NOT_APPROVED
from agent.playbook import offer_text
from agent.service import Buyer, Reply, Seller
from agent.store.db import utcnow
from tools.errors import DealdeskError
from tools.policy.desk import Desk
from tools.pricing.models import BuyerContext

SKU = "BRG-6204"
QTY = 500
RFQ = {"type": "rfq", "items": [{"sku": SKU, "quantity": str(QTY)}]}
# The buyer's counters of the escalation scenario; the 6th turn (the 5th counter) escalates.
COUNTERS = ["2.40", "2.50", "2.60", "2.68", "2.70"]


def counter(proposal: dict[str, Any], price: str, quantity: int = QTY) -> dict[str, Any]:
    return {"type": "counter_offer", "proposal_id": proposal["proposal_id"], "version": proposal["version"],
            "items": [{"sku": SKU, "quantity": str(quantity), "unit_price": price}]}


def accept(proposal: dict[str, Any]) -> dict[str, Any]:
    return {"type": "accept", "proposal_id": proposal["proposal_id"], "version": proposal["version"]}


def unit_price(reply_or_data: Reply | dict[str, Any]) -> Decimal:
    data = reply_or_data.data if isinstance(reply_or_data, Reply) else reply_or_data
    (item,) = [i for i in data["items"] if i["sku"] == SKU]
    return Decimal(item["unit_price"])


@pytest.fixture
def surface(dd_demo):
    """The decision surface of 500 x BRG-6204 for a standard EU buyer on NET30 (the policy's limits)."""
    catalog, policy = dd_demo
    desk = Desk(catalog, policy, BuyerContext(region="EU", segment="standard", payment_terms="NET30",
                                              on=utcnow().date()))
    return desk.surface(SKU, QTY)


def level_limit(surface, name: str) -> Decimal:
    (level,) = [lv for lv in surface.levels if lv.name == name]
    return Decimal(level.max_discount_percent)


def assert_proposal(reply: Reply, *, version: int, status: str = "offered") -> dict[str, Any]:
    assert reply.type == "proposal", (reply.data, reply.text)
    data = reply.data
    assert data["version"] == version
    assert data["status"] == status
    assert data["currency"] == "EUR" and data["region"] == "EU"
    (item,) = [i for i in data["items"] if i["sku"] == SKU]
    assert item["quantity"] == str(QTY)
    assert Decimal(item["line_total"]) == Decimal(item["unit_price"]) * QTY
    return data


def open_negotiation(seller: Seller, org: str = "acme-eu") -> tuple[str, dict[str, Any]]:
    nid = seller.start(Buyer(org=org, region="EU"))
    reply = seller.send(nid, data=RFQ)
    return nid, assert_proposal(reply, version=1)


def escalate(seller: Seller, org: str = "acme-eu") -> tuple[str, list[dict[str, Any]]]:
    """RFQ and the five counters: returns the negotiation id and every proposal, the last one pending."""
    nid, first = open_negotiation(seller, org)
    proposals = [first]
    for price in COUNTERS:
        reply = seller.send(nid, data=counter(proposals[-1], price))
        assert reply.type == "proposal", (price, reply.data, reply.text)
        proposals.append(reply.data)
    return nid, proposals


# --- the core path, on both backends ---------------------------------------------------------------


def test_rfq_concessions_escalation_approval_and_deal(make_seller, surface, dd_demo) -> None:
    catalog, policy = dd_demo
    seller: Seller = make_seller()
    start_available = seller.store.available(SKU)
    floor, list_price = Decimal(surface.floor_price), Decimal(surface.list_price)
    auto_limit = level_limit(surface, "auto")
    assert (list_price, floor, auto_limit) == (Decimal("3.25"), Decimal("2.65"), Decimal("15"))

    # RFQ -> the list price, no model call on a structured message.
    nid = seller.start(Buyer(org="acme-eu", region="EU"))
    reply = seller.send(nid, data=RFQ)
    assert reply.model_calls == 0 and reply.turn == 1
    first = assert_proposal(reply, version=1)
    assert unit_price(first) == list_price
    assert first["pending"] is None

    # Counters: the seller concedes, never up, never below the floor, one version per turn.
    proposals = [first]
    for turn, price in enumerate(COUNTERS, start=2):
        reply = seller.send(nid, data=counter(proposals[-1], price))
        assert reply.model_calls == 0 and reply.turn == turn
        # from turn 6 a better offer awaits approval (`pending`); the offer itself may be accepted: offered
        proposals.append(assert_proposal(reply, version=turn, status="offered"))
        assert proposals[-1]["proposal_id"] == first["proposal_id"]
        assert (seller.store.pending_approval(nid) is None) == (turn < 6)
    prices = [unit_price(p) for p in proposals]
    assert prices == sorted(prices, reverse=True), prices
    assert prices[1] < prices[0], "the seller never conceded"
    assert all(p >= floor for p in prices), prices

    # Turn 6: escalation. The standing offer stays within the bot's own authority, the buyer's
    # 2.70 (beyond it, within a manager's) waits for an operator.
    pending_proposal = proposals[-1]
    assert seller.store.get_proposal(first["proposal_id"]).status == pending_proposal["status"]  # wire = stored
    assert Decimal(pending_proposal["items"][0]["discount_percent"]) <= auto_limit
    assert unit_price(pending_proposal) >= Decimal(surface.auto_limit_price)
    pending = pending_proposal["pending"]
    assert pending is not None
    assert [(i["sku"], i["quantity"], Decimal(i["unit_price"])) for i in pending["items"]] == \
        [(SKU, str(QTY), Decimal("2.70"))]
    assert Decimal(pending["total"]) == Decimal("2.70") * QTY
    (approval,) = seller.store.approvals(negotiation_id=nid)
    assert approval == seller.store.pending_approval(nid)
    assert approval.status == "pending" and approval.level == "manager"
    assert approval.proposal_id == first["proposal_id"] and approval.buyer_org == "acme-eu"
    assert [Decimal(m["unit_price"]) for m in approval.requested["moves"]] == [Decimal("2.70")]
    assert any(r["rule_id"] == "policy.global.approval_chain" for r in approval.reasons)
    assert approval.decided_by is None and approval.decided_at is None

    # A buyer message while pending, at the price that waits (a higher one would replace the request: see
    # test_a_request_awaiting_approval_below_the_buyers_later_price_is_replaced): the approval stays (same row),
    # the reply still offers a valid offer.
    reply = seller.send(nid, data=counter(pending_proposal, "2.70"))
    while_pending = assert_proposal(reply, version=7, status="offered")
    assert seller.store.pending_approval(nid).id == approval.id
    assert len(seller.store.approvals(negotiation_id=nid)) == 1
    assert Decimal(while_pending["items"][0]["discount_percent"]) <= auto_limit
    assert floor <= unit_price(while_pending) <= unit_price(pending_proposal)
    assert while_pending["pending"]["items"][0]["unit_price"] == "2.70"

    # The operator approves: a seller-initiated proposal at the approved price.
    approved = seller.decide(approval.id, "approve", by="mgr@x", note="strategic account")
    assert approved is not None and approved.model_calls == 0
    final = assert_proposal(approved, version=8, status="offered")
    assert unit_price(final) == Decimal("2.70") and final["pending"] is None
    row = seller.store.get_approval(approval.id)
    assert row.status == "approved" and row.decided_by == "mgr@x" and row.note == "strategic account"
    assert row.decided_at is not None and row.decided_at >= row.requested_at
    assert seller.store.pending_approval(nid) is None

    # The buyer accepts: a deal, stock allocated, the negotiation closed as a deal.
    reply = seller.send(nid, data=accept(final))
    assert reply.type == "deal", (reply.data, reply.text)
    deal = reply.data
    assert deal["deal_id"] and deal["proposal_id"] == final["proposal_id"] and deal["version"] == 8
    assert Decimal(deal["total"]) == Decimal("2.70") * QTY == Decimal("1350.00")
    assert seller.store.available(SKU) == start_available - QTY
    assert seller.store.stock(SKU)["allocated"] == QTY and seller.store.stock(SKU)["held"] == 0
    assert seller.store.get_negotiation(nid).status == "deal"
    (stored,) = seller.store.deals(negotiation_id=nid)
    assert stored.id == deal["deal_id"] and stored.total == Decimal("1350.00")

    # A second accept of that version answers the same deal, and allocates nothing more.
    again = seller.send(nid, data=accept(final))
    assert again.type == "deal" and again.data["deal_id"] == deal["deal_id"]
    assert seller.store.available(SKU) == start_available - QTY
    assert len(seller.store.deals(negotiation_id=nid)) == 1

    # Decision records: persisted per node, naming rules and figures, with the versions to replay them.
    records = seller.store.records(nid)
    assert records
    for rec in records:
        assert rec["gen_ai.conversation.id"] == nid
        assert rec["dealdesk.policy.version"] == policy.version
        assert rec["dealdesk.catalog.version"] == catalog.version
    plans = [r for r in records if r["node"] == "prepare" and r["gen_ai.operation.name"] == "plan"]
    assert [r["turn"] for r in plans] == [1, 2, 3, 4, 5, 6, 7]
    for rec in plans:
        assert any(r.startswith("strategy.") for r in rec["dealdesk.rule_ids"]), rec["dealdesk.rule_ids"]
        (line,) = rec["dealdesk.figures"]["lines"]
        assert line["sku"] == SKU and line["quantity"] == QTY
        assert Decimal(line["floor"]) == floor and Decimal(line["list"]) == list_price
    assert [r["dealdesk.figures"]["lines"][0]["asked"] for r in plans[1:6]] == COUNTERS
    (routed,) = [r for r in records if r["node"] == "approval" and r.get("dealdesk.approval.routing") == "operator"]
    assert routed["turn"] == 6 and routed["dealdesk.approval.level"] == "manager"
    assert "policy.global.approval_chain" in routed["dealdesk.rule_ids"]
    assert [Decimal(f["unit_price"]) for f in routed["dealdesk.figures"]["requested"]] == [Decimal("2.70")]
    (decided,) = [r for r in records if r.get("gen_ai.operation.name") == "operator_decision"]
    assert decided["dealdesk.approval.id"] == approval.id and decided["dealdesk.approval.by"] == "mgr@x"
    assert decided["dealdesk.approval.outcome"] == "approved"
    (accepted,) = [r for r in records if r.get("gen_ai.operation.name") == "accept"]
    assert accepted["dealdesk.figures"] == {"total": "1350.00", "currency": "EUR"}
    # The reply carries this turn's records (the same ones the store holds).
    assert again.records == [r for r in records if r["turn"] == 10]
    assert [r["node"] for r in again.records][:3] == ["begin", "understand", "prepare"]


def test_one_turn_completes_on_each_database(make_seller) -> None:
    """One RFQ; on PostgreSQL with a lock timeout: a turn's own writes never wait on its turn lock."""
    seller = make_seller()
    nid = seller.start(Buyer(org="probe", region="EU"))
    reply = seller.send(nid, data={"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "5"}]})
    assert reply.type == "proposal"


# --- operator decisions ------------------------------------------------------------------------------


@pytest.fixture
def seller(dd_seller_factory) -> Seller:
    return dd_seller_factory()


@pytest.fixture(scope="module")
def escalated_template(tmp_path_factory, dd_demo) -> tuple[Path, str, list[dict[str, Any]]]:
    """A SQLite database (and its checkpoints) left right after the escalation, built once per module."""
    directory = tmp_path_factory.mktemp("escalated")
    seller = Seller.open(*dd_demo, f"sqlite:///{directory / 'dealdesk.db'}")
    try:
        nid, proposals = escalate(seller)
    finally:
        seller.close()
    return directory, nid, proposals


@pytest.fixture
def escalated(escalated_template, tmp_path, dd_demo) -> Iterator[tuple[Seller, str, list[dict[str, Any]]]]:
    """(seller, negotiation id, proposals) on a private copy of the escalated database, one approval pending."""
    source, nid, proposals = escalated_template
    target = tmp_path / "escalated"
    shutil.copytree(source, target)
    seller = Seller.open(*dd_demo, f"sqlite:///{target / 'dealdesk.db'}")
    try:
        assert seller.store.pending_approval(nid) is not None
        yield seller, nid, proposals
    finally:
        seller.close()


def test_operator_reject_resends_the_standing_offer(escalated) -> None:
    seller, nid, proposals = escalated
    standing = proposals[-1]
    approval = seller.store.pending_approval(nid)
    reply = seller.decide(approval.id, "reject", by="mgr@x", note="margin")
    assert reply is not None
    data = assert_proposal(reply, version=standing["version"] + 1, status="offered")
    assert unit_price(data) == unit_price(standing)
    assert data["pending"] is None
    assert reply.text.startswith(f"{NOT_APPROVED} Proposal ")  # the buyer is told, not just sent the same price
    row = seller.store.get_approval(approval.id)
    assert (row.status, row.decided_by, row.note) == ("rejected", "mgr@x", "margin")
    assert row.decided_at is not None
    assert seller.store.pending_approval(nid) is None
    # The re-sent offer can be accepted.
    deal = seller.send(nid, data=accept(data))
    assert deal.type == "deal" and Decimal(deal.data["total"]) == unit_price(standing) * QTY


def test_operator_edit_beyond_the_level_is_refused_within_it_offered(escalated, surface) -> None:
    seller, nid, proposals = escalated
    approval = seller.store.pending_approval(nid)
    turns = seller.store.get_negotiation(nid).turn
    for price in ("2.64", "2.50"):  # below the floor: beyond what a manager may approve
        assert Decimal(price) < Decimal(surface.floor_price)
        with pytest.raises(DealdeskError) as raised:
            seller.decide(approval.id, "edit", by="mgr@x", prices={SKU: price})
        assert raised.value.code == "policy_refused" and raised.value.field == f"prices.{SKU}", price
        row = seller.store.get_approval(approval.id)
        assert row.status == "pending" and row.decided_by is None and row.decision is None
        assert seller.store.pending_approval(nid).id == approval.id
        assert seller.store.get_negotiation(nid).turn == turns  # nothing was sent to the buyer
        assert len(seller.store.proposals(nid)) == len(proposals)

    list_price = Decimal(surface.list_price)
    for price, code, says in (("2.801", "malformed_message", "at most 2 decimals"),
                              (str(list_price + Decimal("0.01")), "policy_refused", "above the list price")):
        with pytest.raises(DealdeskError) as raised:  # not a price in cents; a price above list
            seller.decide(approval.id, "edit", by="mgr@x", prices={SKU: price})
        assert (raised.value.code, raised.value.field) == (code, f"prices.{SKU}") and says in raised.value.message
    assert seller.store.pending_approval(nid).id == approval.id
    reply = seller.decide(approval.id, "edit", by="mgr@x", note="meet halfway", prices={SKU: "2.8"})
    data = assert_proposal(reply, version=proposals[-1]["version"] + 1, status="offered")
    assert data["items"][0]["unit_price"] == "2.80" and data["pending"] is None  # in cents on the wire
    row = seller.store.get_approval(approval.id)
    assert (row.status, row.decided_by, row.note) == ("edited", "mgr@x", "meet halfway")
    assert row.decision == {"prices": {SKU: "2.80"}}
    assert seller.store.pending_approval(nid) is None
    # Decided once: a second decision is refused.
    with pytest.raises(DealdeskError) as twice:
        seller.decide(approval.id, "approve", by="mgr@x")
    assert twice.value.code == "approval_not_pending"


# --- closing without a deal --------------------------------------------------------------------------


def test_buyer_reject_closes_the_negotiation(seller: Seller) -> None:
    nid, first = open_negotiation(seller)
    reply = seller.send(nid, data={"type": "reject", "proposal_id": first["proposal_id"], "reason": "too pricey"})
    assert reply.type == "closed" and "too pricey" in reply.data["reason"]
    assert seller.store.get_negotiation(nid).status == "rejected"
    later = seller.send(nid, data=counter(first, "3.00"))
    assert later.type == "error" and later.data["code"] == "negotiation_closed"
    late_accept = seller.send(nid, data=accept(first))
    assert late_accept.type == "error" and late_accept.data["code"] == "negotiation_closed"
    assert seller.store.deals(negotiation_id=nid) == []


def test_a_reject_of_no_proposal_of_this_negotiation_is_refused_and_closes_nothing(seller: Seller) -> None:
    """A reject names the proposal it rejects: with none standing, or another one, it is unknown_proposal, and the
    negotiation stays open (it used to be 'closed' whatever the id)."""
    nid = seller.start(Buyer(org="acme-reject", region="EU"))
    nothing = seller.send(nid, data={"type": "reject", "proposal_id": "P-DOESNOTEXIST", "reason": "x"})
    assert (nothing.type, nothing.data["code"], nothing.data["field"]) == ("error", "unknown_proposal", "proposal_id")
    assert seller.store.get_negotiation(nid).status == "open"
    nid, first = open_negotiation(seller)
    other = seller.send(nid, data={"type": "reject", "proposal_id": "P-OTHER123"})
    assert other.data["code"] == "unknown_proposal" and seller.store.get_negotiation(nid).status == "open"
    assert seller.send(nid, data=accept(first)).type == "deal"


def test_the_close_on_maximum_rounds_cancels_a_pending_approval(escalated) -> None:
    """Past the maximum rounds no new version can be sent, so a request awaiting approval is moot: the close
    cancels it (an operator's approval used to be recorded and then send nothing), and the last offer stands."""
    seller, nid, proposals = escalated
    approval = seller.store.pending_approval(nid)
    last = proposals[-1]
    for _ in range(12):
        reply = seller.send(nid, data=counter(last, "2.70"))
        if reply.type != "proposal":
            break
        last = reply.data
    assert reply.type == "closed" and reply.data["standing"]["version"] == last["version"]
    assert seller.store.pending_approval(nid) is None and seller.store.get_approval(approval.id).status == "canceled"
    with pytest.raises(DealdeskError):
        seller.decide(approval.id, "approve", by="mgr@x")
    assert seller.send(nid, data=accept(last)).type == "deal"


def test_buyer_reject_releases_the_held_stock(seller: Seller) -> None:
    start = seller.store.available(SKU)
    nid, first = open_negotiation(seller)
    assert seller.store.available(SKU) == start - QTY
    seller.send(nid, data={"type": "reject", "proposal_id": first["proposal_id"]})
    assert seller.store.available(SKU) == start


def test_max_rounds_closes_and_the_last_proposal_stands(seller: Seller, surface) -> None:
    nid, last = open_negotiation(seller)
    replies = []
    for _ in range(surface.max_rounds + 3):
        reply = seller.send(nid, data=counter(last, "2.00"))
        replies.append(reply)
        if reply.type != "proposal":
            break
        assert reply.data["version"] == last["version"] + 1
        assert unit_price(reply) >= Decimal(surface.floor_price)
        last = reply.data
    assert replies[-1].type == "closed", replies[-1].data
    assert "maximum" in replies[-1].data["reason"]
    assert seller.store.get_negotiation(nid).status == "closed"
    assert replies[-1].turn == surface.max_rounds + 2  # the RFQ, max_rounds + 1 counters answered, then closed
    more = seller.send(nid, data=counter(last, "2.10"))
    assert more.type == "error" and more.data["code"] == "negotiation_closed"
    # "Our last proposal stands until it expires, and you can still accept it."
    deal = seller.send(nid, data=accept(last))
    assert deal.type == "deal" and deal.data["version"] == last["version"]


def test_asking_for_quotes_again_never_walks_the_price_down(seller: Seller, surface) -> None:
    """A buyer who only re-asks (the same or another quantity, no price) gets no concession and burns no
    round: the price moves when the buyer's does."""
    nid, last = open_negotiation(seller)
    for price in ("2.40", "2.70"):
        last = seller.send(nid, data=counter(last, price)).data
    conceded = unit_price(last)
    for quantity in (QTY, QTY + 20, QTY, QTY + 20, QTY) * 2:
        reply = seller.send(nid, data={"type": "rfq", "items": [{"sku": SKU, "quantity": str(quantity)}]})
        assert reply.type == "proposal", reply.data
        if quantity == QTY:
            assert unit_price(reply) == conceded, f"re-quote {reply.turn}: {reply.text}"
        last = reply.data
    moved = seller.send(nid, data=counter(last, "2.75"))  # a new counter: the curve goes on, not closed
    assert moved.type == "proposal" and unit_price(moved) <= conceded


def test_the_reply_says_whether_the_seller_improved_held_or_met_the_price(seller: Seller, surface) -> None:
    """The words before the offer follow the strategy's move on the buyer's price, and name no figure."""
    nid, last = open_negotiation(seller)
    leads, prices = [], []
    for _ in range(surface.max_rounds + 1):
        reply = seller.send(nid, data=counter(last, "2.00"))  # far below the floor, every round
        if reply.type != "proposal":
            break
        last = reply.data
        assert reply.text.endswith(offer_text(last)), reply.text
        leads.append(reply.text[:-len(offer_text(last))].strip())
        prices.append(unit_price(last))
    assert leads[0] == f"We have improved our price for {SKU}." and prices[0] < Decimal(surface.list_price)
    # The buyer never moves: the seller holds (reciprocity), the same price, until the last round.
    assert set(leads[1:-1]) == {f"We are holding our price for {SKU}."} and len(set(prices)) == 1
    assert leads[-1] == f"This is our final offer for {SKU}." and len(leads) == surface.max_rounds

    other, first = open_negotiation(seller, org="beta-eu")
    above = seller.send(other, data=counter(first, "3.30"))
    assert unit_price(above) == unit_price(first) == Decimal(surface.list_price)  # never above the offer
    assert above.text.startswith(f"Our offer for {SKU} is already at or below your price. Proposal ")
    held = seller.send(other, data=counter(above.data, "3.20"))  # below the buyer's own 3.30: not met
    assert unit_price(held) == Decimal(surface.list_price)
    assert held.text.startswith(f"We are holding our price for {SKU}.")
    third, first = open_negotiation(seller, org="gamma-eu")
    met = seller.send(third, data=counter(first, "3.20"))
    assert unit_price(met) == Decimal("3.20")
    assert met.text.startswith(f"We can meet your price for {SKU}. Proposal ")


def test_a_buyer_cannot_take_back_a_price_the_seller_met(seller: Seller) -> None:
    """QA: met at 3.10, then counters of 0.01, 1.00, 2.00 and 2.50 walked the offer down to 2.77, and the deal
    closed there. The buyer's best price on the line bounds every later offer and acceptance."""
    nid, last = open_negotiation(seller)
    met = seller.send(nid, data=counter(last, "3.10")).data
    assert unit_price(met) == Decimal("3.10")
    for price in ("0.01", "1.00", "2.00", "2.50"):
        met = seller.send(nid, data=counter(met, price)).data
        assert unit_price(met) == Decimal("3.10"), (price, met)
    deal = seller.send(nid, data=accept(met))
    assert deal.type == "deal" and Decimal(deal.data["total"]) == Decimal("3.10") * QTY


@pytest.mark.parametrize(("asked", "offered"), [
    ("3.2499", "3.25"),  # half-up to the cent: not undercut to the strategy's 3.09
    ("3.105", "3.11"), ("3.1", "3.10"), ("3.1000", "3.10"), (3.0999999999999996, "3.10")])
def test_a_price_finer_than_the_currency_is_read_on_its_minor_unit(seller: Seller, asked, offered) -> None:
    """QA: "3.2499" or the float 3.0999999999999996 made the seller offer 3.09 (a met price off the cent grid is
    refused, and the strategy fell back to its curve); "3.1000" was met as "3.1000" and booked so."""
    nid, last = open_negotiation(seller)
    reply = seller.send(nid, data=counter(last, asked))
    assert reply.type == "proposal" and reply.data["items"][0]["unit_price"] == offered, reply.data
    assert reply.data["total"] == str(Decimal(offered) * QTY)
    deal = seller.send(nid, data=accept(reply.data))
    assert deal.type == "deal" and deal.data["items"][0]["unit_price"] == offered


def test_accepting_the_accepted_version_again_answers_the_same_deal(seller: Seller) -> None:
    """QA: of two acceptances sent at once (REST and A2A), the one served second read negotiation_closed, and its
    A2A task completed with an error and no deal. A retry of an acceptance gets the deal it made, and books nothing."""
    nid, first = open_negotiation(seller)
    deal = seller.send(nid, data=accept(first))
    stock = seller.store.available(SKU)
    again = seller.send(nid, data=accept(first))
    assert again.type == "deal" and again.data == deal.data and "stands" in again.text
    assert seller.send(nid, text="we accept").data == deal.data
    assert len(seller.store.deals(negotiation_id=nid)) == 1 and seller.store.available(SKU) == stock
    other = seller.send(nid, data={**accept(first), "version": 2})  # not the version the deal was made on
    assert other.type == "error" and other.data["code"] == "negotiation_closed"


def test_a_counter_on_some_lines_keeps_the_others_as_offered(seller: Seller) -> None:
    """QA: a counter naming one line of three made a one-line proposal, and the reply did not say the others were
    gone. The lines it does not name stay at their offered quantity and price, in the offer's order."""
    nid = seller.start(Buyer(org="acme-eu", region="EU"))
    items = [{"sku": SKU, "quantity": "500"}, {"sku": "BRG-6205", "quantity": "200"},
             {"sku": "FST-M8X30-A2", "quantity": "300"}]
    first = seller.send(nid, data={"type": "rfq", "items": items}).data
    reply = seller.send(nid, data=counter(first, "3.00"))
    assert reply.type == "proposal", reply.data
    kept = [(i["sku"], i["quantity"], i["unit_price"]) for i in reply.data["items"]]
    assert kept[1:] == [(i["sku"], i["quantity"], i["unit_price"]) for i in first["items"][1:]]
    assert kept[0][:2] == (SKU, "500") and Decimal(kept[0][2]) < Decimal(first["items"][0]["unit_price"])
    moved = seller.send(nid, data={**counter(reply.data, "3.50"),
                                   "items": [{"sku": "BRG-6205", "quantity": "250", "unit_price": "3.50"}]}).data
    assert [(i["sku"], i["quantity"]) for i in moved["items"]] == [(SKU, "500"), ("BRG-6205", "250"),
                                                                    ("FST-M8X30-A2", "300")]


# --- errors -----------------------------------------------------------------------------------------


def test_an_rfq_in_the_regions_currency_is_quoted_in_it(seller: Seller) -> None:
    nid = seller.start(Buyer(org="acme-eu", region="EU"))
    reply = seller.send(nid, data={**RFQ, "currency": "EUR"})
    assert reply.type == "proposal" and reply.data["currency"] == "EUR"


@pytest.mark.parametrize(("data", "code", "field"), [
    ({"type": "rfq", "items": [{"sku": "NOPE-1", "quantity": "5"}]}, "unknown_sku", "items.0.sku"),
    ({"type": "rfq", "items": [{"sku": SKU, "quantity": "lots"}]}, "malformed_message", "items.0.quantity"),
    ({"type": "rfq", "items": [{"sku": SKU, "quantity": "500"}], "colour": "red"}, "malformed_message", "colour"),
    ({"type": "rfq", "items": []}, "malformed_message", "items"),
    ({"type": "rfq", "items": [{"sku": SKU, "quantity": "500"}], "region": "US"}, "not_authorized_for_region",
     "region"),
    ({"type": "counter_offer", "proposal_id": "P-NOPE", "version": 1,
      "items": [{"sku": SKU, "quantity": "5", "unit_price": "1.00"}]}, "unknown_proposal", "proposal_id"),
    # Python's Decimal reads these (and "3_10" as 310); the published schema does not, nor would a bot mean them
    ({"type": "rfq", "items": [{"sku": SKU, "quantity": "1_000"}]}, "malformed_message", "items.0.quantity"),
    ({"type": "rfq", "items": [{"sku": SKU, "quantity": "5e2"}]}, "malformed_message", "items.0.quantity"),
    ({"type": "rfq", "items": [{"sku": SKU, "quantity": "\uff15\uff10\uff10"}]}, "malformed_message",
     "items.0.quantity"),
    ({"type": "counter_offer", "proposal_id": "P-NOPE", "version": 1,
      "items": [{"sku": SKU, "quantity": "5", "unit_price": "3_10"}]}, "malformed_message",
     "items.0.unit_price"),
    # the buyer names no currency of its own: its region's book's (EUR) is the one, never silently another
    ({"type": "rfq", "items": [{"sku": SKU, "quantity": "500"}], "currency": "USD"}, "unsupported_currency",
     "currency"),
    # JSON's true is no version: read as 1 it accepted the first version
    ({"type": "accept", "proposal_id": "P-NOPE", "version": True}, "malformed_message", "version"),
], ids=["unknown-sku", "bad-quantity", "unknown-field", "no-items", "other-region", "unknown-proposal",
        "underscore-quantity", "exponent-quantity", "fullwidth-quantity", "underscore-price", "other-currency",
        "boolean-version"])
def test_errors_name_the_code_and_field(seller: Seller, data, code, field) -> None:
    start = seller.store.available(SKU)
    nid = seller.start(Buyer(org="acme-eu", region="EU"))
    reply = seller.send(nid, data=data)
    assert reply.type == "error", (reply.data, reply.text)
    assert reply.data["code"] == code and reply.data["field"] == field
    if code == "malformed_message":
        assert reply.data["message"].startswith(f"{field}: ")
    assert reply.model_calls == 0
    assert seller.store.proposals(nid) == [] and seller.store.available(SKU) == start
    assert any(r.get("dealdesk.error") == code for r in seller.store.records(nid))


def test_unknown_type_is_malformed(seller: Seller) -> None:
    nid = seller.start(Buyer(org="acme-eu", region="EU"))
    reply = seller.send(nid, data={"type": "bogus"})
    assert reply.type == "error" and reply.data["code"] == "malformed_message"
    assert "bogus" in reply.data["message"]


def _superseded_accept(seller: Seller, nid: str, first: dict[str, Any], second: dict[str, Any]) -> Reply:
    return seller.send(nid, data=accept(first))


def _superseded_counter(seller: Seller, nid: str, first: dict[str, Any], second: dict[str, Any]) -> Reply:
    return seller.send(nid, data=counter(first, "3.00"))


@pytest.mark.parametrize("stale", [_superseded_accept, _superseded_counter], ids=["accept", "counter"])
def test_stale_version_is_proposal_superseded(seller: Seller, stale) -> None:
    nid, first = open_negotiation(seller)
    second = assert_proposal(seller.send(nid, data=counter(first, "2.80")), version=2)
    reply = stale(seller, nid, first, second)
    assert reply.type == "error", (reply.data, reply.text)
    assert reply.data["code"] == "proposal_superseded" and reply.data["field"] == "version"
    assert seller.store.get_negotiation(nid).status == "open"
    assert seller.store.deals(negotiation_id=nid) == []


def test_stale_version_never_makes_a_deal(seller: Seller) -> None:
    """What holds today, whatever the reply: a superseded version is not accepted."""
    nid, first = open_negotiation(seller)
    second = assert_proposal(seller.send(nid, data=counter(first, "2.80")), version=2)
    reply = seller.send(nid, data=accept(first))
    assert reply.type != "deal"
    assert seller.store.deals(negotiation_id=nid) == []
    assert seller.store.get_negotiation(nid).status == "open"
    assert seller.send(nid, data=accept(second)).type == "deal"


@pytest.mark.parametrize(("quantity", "code"), [("30000", "invalid_quantity"), ("6000", "insufficient_inventory")])
def test_quantity_errors_reach_the_buyer(seller: Seller, quantity, code) -> None:
    nid = seller.start(Buyer(org="acme-eu", region="EU"))
    reply = seller.send(nid, data={"type": "rfq", "items": [{"sku": SKU, "quantity": quantity}]})
    assert reply.type == "error", (reply.data, reply.text)
    assert reply.data["code"] == code and reply.data["field"] == "items.0.quantity"


@pytest.mark.parametrize(("message", "code", "field"), [
    ({"type": "rfq", "items": [{"sku": SKU, "quantity": "10"}, {"sku": "NOPE-1", "quantity": "10"}]},
     "unknown_sku", "items.1.sku"),
    ({"type": "rfq", "items": [{"sku": SKU, "quantity": "10"}, {"sku": "BRG-6205", "quantity": "5000"}]},
     "insufficient_inventory", "items.1.quantity"),
    # two items of one SKU are one line: the error names the first of them
    ({"type": "rfq", "items": [{"sku": "BRG-6205", "quantity": "10"}, {"sku": SKU, "quantity": "20000"},
                               {"sku": SKU, "quantity": "20000"}]}, "invalid_quantity", "items.1.quantity"),
])
def test_a_line_error_names_the_item_of_the_data_part(seller: Seller, message, code, field) -> None:
    nid = seller.start(Buyer(org="acme-eu", region="EU"))
    reply = seller.send(nid, data=message)
    assert reply.type == "error", (reply.data, reply.text)
    assert (reply.data["code"], reply.data["field"]) == (code, field), reply.data


@pytest.mark.parametrize("message, field", [
    ({"type": "rfq", "items": [{"sku": SKU, "quantity": "10"}, {"sku": "brg-6205", "quantity": "10"}]}, "items.1.sku"),
    ({"type": "question", "skus": ["BRG-6205", "BRG-6250"], "topic": "lead_time"}, "skus.1"),
    ({"type": "catalog_query", "sku": "BRG 6205"}, "sku"),
])
def test_an_unknown_sku_error_names_the_sku_it_was_likely_meant_as(seller: Seller, message, field) -> None:
    nid = seller.start(Buyer(org="acme-eu", region="EU"))
    reply = seller.send(nid, data=message)
    assert (reply.data["code"], reply.data["field"]) == ("unknown_sku", field), reply.data
    assert "BRG-6205" in reply.data["message"].partition("; did you mean ")[2], reply.data["message"]
    assert reply.data["message"] in reply.text


def test_a_line_error_of_a_text_request_names_the_field_alone(seller: Seller) -> None:
    nid = seller.start(Buyer(org="acme-eu", region="EU"))
    reply = seller.send(nid, text=f"need 30000 x {SKU}")
    assert reply.type == "error", (reply.data, reply.text)
    assert reply.data["field"] == "quantity"


# --- after an approval -------------------------------------------------------------------------------


def test_counter_after_approval_keeps_the_approved_offer(escalated, surface) -> None:
    seller, nid, _ = escalated
    approval = seller.store.pending_approval(nid)
    approved = seller.decide(approval.id, "approve", by="mgr@x").data
    reply = seller.send(nid, data=counter(approved, "2.66"))
    assert reply.type == "proposal", (reply.data, reply.text)
    assert reply.data["version"] == approved["version"] + 1
    assert Decimal(surface.floor_price) <= unit_price(reply) <= unit_price(approved)


def test_non_autonomous_category_never_closes_without_an_operator(seller: Seller) -> None:
    sku = "MTR-IE3-1K1"
    nid = seller.start(Buyer(org="acme-eu", region="EU"))
    first = seller.send(nid, data={"type": "rfq", "items": [{"sku": sku, "quantity": "10"}]}).data
    assert first["status"] == "pending_approval"  # every motors offer needs an operator
    reply = seller.send(nid, data={"type": "accept", "proposal_id": first["proposal_id"],
                                   "version": first["version"]})
    assert reply.type != "deal", reply.data
    assert seller.store.get_negotiation(nid).status != "deal"


# --- plain text goes through the (offline) model --------------------------------------------------


def test_text_rfq_gets_a_proposal_through_the_offline_model(seller: Seller, surface) -> None:
    nid = seller.start(Buyer(org="acme-eu", region="EU"))
    reply = seller.send(nid, text="need 500 x BRG-6204, can you do 3.10 EUR?")
    assert reply.model_calls >= 1
    data = assert_proposal(reply, version=1)
    assert Decimal(surface.floor_price) <= unit_price(data) <= Decimal(surface.list_price)
    assert Decimal(data["items"][0]["discount_percent"]) <= level_limit(surface, "auto")
    assert data["proposal_id"] in reply.text
    understood = [r for r in seller.store.records(nid) if r["node"] == "understand"]
    assert understood and understood[0]["dealdesk.model_calls"] == 1
    # A structured message in the same negotiation needs no model call.
    structured = seller.send(nid, data=counter(data, "3.00"))
    assert structured.type == "proposal" and structured.model_calls == 0


def _kinds(data: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for alt in data.get("alternatives") or []:
        out.setdefault(alt["kind"], []).append(alt["sku"])
    return out


@pytest.mark.parametrize("quantity", [QTY, 450])  # 450: just under the next tier, which is suggested every round
def test_related_skus_come_with_the_first_offer_and_a_counter_does_not_repeat_them(seller: Seller, surface,
                                                                                    dd_demo, quantity) -> None:
    catalog, policy = dd_demo
    desk = Desk(catalog, policy, BuyerContext(region="EU", segment="standard", payment_terms="NET30",
                                              on=utcnow().date()))
    line = desk.surface(SKU, quantity)
    assert line.related_skus
    nid = seller.start(Buyer(org="acme-eu", region="EU"))
    first = seller.send(nid, data={"type": "rfq", "items": [{"sku": SKU, "quantity": str(quantity)}]}).data
    assert set(_kinds(first)["related_sku"]) <= set(line.related_skus) and _kinds(first)["related_sku"]
    assert all(f"Also available: {sku}" in offer_text(first) for sku in _kinds(first)["related_sku"])
    second = seller.send(nid, data=counter(first, "2.60", quantity)).data
    assert second["version"] == 2 and "related_sku" not in _kinds(second)
    assert _kinds(second).get("next_tier") == _kinds(first).get("next_tier")  # the tier follows every offer
    assert ("next_tier" in _kinds(second)) == (quantity == 450)
    # Another quantity is another line: its related SKUs, priced for it, come with its first offer.
    other = seller.send(nid, data=counter(second, "2.60", quantity + 20)).data
    assert other["version"] == 3 and _kinds(other)["related_sku"]


def test_related_skus_leave_out_the_requested_products_and_name_each_product_once(seller: Seller, dd_demo) -> None:
    """Two lines that relate to each other and to a third product: neither requested product is suggested
    beside its own line, the shared one once (priced for the first line's quantity), and the text says for
    how many units each suggestion is priced."""
    catalog, policy = dd_demo
    desk = Desk(catalog, policy, BuyerContext(region="EU", segment="standard", payment_terms="NET30",
                                              on=utcnow().date()))
    first, second = desk.surface(SKU, QTY), desk.surface("BRG-6205", 200)
    assert "BRG-6205" in first.related_skus  # what makes this case: the demo catalog's relations
    shared = set(first.related_skus) & set(second.related_skus)
    assert shared
    nid = seller.start(Buyer(org="acme-eu", region="EU"))
    offer = seller.send(nid, data={"type": "rfq", "items": [{"sku": SKU, "quantity": str(QTY)},
                                                            {"sku": "BRG-6205", "quantity": "200"}]}).data
    related = [a for a in offer["alternatives"] if a["kind"] == "related_sku"]
    skus = [a["sku"] for a in related]
    assert related and len(skus) == len(set(skus)) and not {SKU, "BRG-6205"} & set(skus)
    assert shared <= set(skus)
    for a in related:  # priced for the first line's quantity, or a product sold by another unit for its MOQ
        if a["sku"] in first.related_skus:
            same_unit = catalog.products[a["sku"]].unit == catalog.products[SKU].unit
            assert a["quantity"] == str(QTY if same_unit else desk.surface(a["sku"], 1).moq), a
    text = offer_text(offer)
    for a in related:
        assert f"Also available: {a['sku']} ({a['name']}) at {a['unit_price']} EUR each for {a['quantity']} units." \
            in text


def test_a_related_product_sold_by_another_unit_is_suggested_for_its_minimum_order(seller: Seller, dd_demo) -> None:
    """1000 bearings (pieces): the seal (pieces) is suggested for 1000, the grease (kilograms, 18 kg pails) for
    its MOQ, not 1000 kg, each at the price a proposal for that quantity would open at."""
    catalog, policy = dd_demo
    desk = Desk(catalog, policy, BuyerContext(region="EU", segment="standard", payment_terms="NET30",
                                              on=utcnow().date()))
    grease, seal = "BRG-GRS-EP2", "BRG-SEAL-20477"
    assert catalog.products[grease].unit != catalog.products[SKU].unit == catalog.products[seal].unit
    nid = seller.start(Buyer(org="acme-eu", region="EU"))
    offer = seller.send(nid, data={"type": "rfq", "items": [{"sku": SKU, "quantity": "1000"}]}).data
    alts = {a["sku"]: a for a in offer["alternatives"] if a["kind"] == "related_sku"}
    moq = desk.surface(grease, 1).moq
    assert moq > 1 and alts[grease]["quantity"] == str(moq) and alts[seal]["quantity"] == "1000"
    assert Decimal(alts[grease]["unit_price"]) == desk.surface(grease, moq).opening_price
    # at most three related products (StrategyConfig.max_related), the compatible ones first: the catalog's order
    related = desk.surface(SKU, 1000).related_skus
    assert len(related) > 3 and list(alts) == list(related[:3])


@pytest.mark.parametrize(("boxes", "nut_boxes"), [(200, 100), (3, 2)])
def test_a_related_product_in_other_packs_is_suggested_for_as_many_pieces(seller: Seller, dd_demo, boxes: int,
                                                                          nut_boxes: int) -> None:
    """Screws in boxes of 100 beside nuts in boxes of 200: 200 boxes of screws (20,000 pieces) suggest 100 boxes
    of nuts, not 200 (40,000 pieces); 3 boxes (300 pieces) suggest 2 (rounded up), each at its opening price."""
    catalog, policy = dd_demo
    screw, nut = catalog.products["FST-M8X30-A2"], catalog.products["FST-M8-NUT-A2"]
    assert screw.unit == nut.unit == "BX" and (screw.pieces_per_unit, nut.pieces_per_unit) == (100, 200)
    assert nut.sku in screw.compatible
    desk = Desk(catalog, policy, BuyerContext(region="EU", segment="standard", payment_terms="NET30",
                                              on=utcnow().date()))
    nid = seller.start(Buyer(org="acme-eu", region="EU"))
    offer = seller.send(nid, data={"type": "rfq", "items": [{"sku": screw.sku, "quantity": str(boxes)}]}).data
    alts = {a["sku"]: a for a in offer["alternatives"] if a["kind"] == "related_sku"}
    assert alts[nut.sku]["quantity"] == str(nut_boxes)
    assert Decimal(alts[nut.sku]["unit_price"]) == desk.surface(nut.sku, nut_boxes).opening_price


def test_a_model_that_picks_every_alternative_still_shows_each_product_once(dd_seller_factory) -> None:
    """The rule is `submit_proposal`'s, not the playbook's: a model that lists every alternative of the round,
    some twice, gets the requested products left out and each related product once."""
    def pick_all(messages, tools):  # noqa: ANN001, ANN202
        if any(r.get("tool") == "submit_proposal" for r in tool_results(messages)):
            return final("")
        lines = (brief_of(messages) or {}).get("lines") or []
        alternatives = [m["id"] for ln in lines for m in ln["plan"]["moves"] if m["alternative"]]
        return tool_call("submit_proposal", {"move_ids": [ln["plan"]["recommended"] for ln in lines],
                                             "alternative_ids": alternatives + alternatives[:2]})

    seller = dd_seller_factory(FunctionModel(pick_all))
    nid = seller.start(Buyer(org="acme-eu", region="EU"))
    offer = seller.send(nid, data={"type": "rfq", "items": [{"sku": SKU, "quantity": str(QTY)},
                                                            {"sku": "BRG-6205", "quantity": "200"}]}).data
    shown = [(a["kind"], a["sku"]) for a in offer["alternatives"]]
    related = [sku for kind, sku in shown if kind == "related_sku"]
    assert related and len(related) == len(set(related)) and not {SKU, "BRG-6205"} & set(related)
    assert len(shown) == len(set(shown))


def test_a_delivery_date_asked_for_is_promised_or_the_earliest_said(seller: Seller) -> None:
    """An rfq's delivery_date: each line promises it when the lead time reaches it, else the earliest date the lead
    time allows, and the reply says so; later versions keep the promise; a date in the past is refused, naming
    the field. (It used to be dropped: every line's delivery_date was null.)"""
    today = utcnow().date()
    lead = seller.catalog.products[SKU].capacity.lead_time_days
    later, sooner = today + dt.timedelta(days=lead + 7), today + dt.timedelta(days=max(lead - 1, 0))
    nid = seller.start(Buyer(org="acme-dates", region="EU"))
    reply = seller.send(nid, data={**RFQ, "delivery_date": later.isoformat()})
    assert [i["delivery_date"] for i in reply.data["items"]] == [later.isoformat()]
    assert f"delivery by {later}" in reply.text
    kept = seller.send(nid, data=counter(reply.data, "3.00"))
    assert [i["delivery_date"] for i in kept.data["items"]] == [later.isoformat()]
    nid = seller.start(Buyer(org="acme-dates-2", region="EU"))
    rushed = seller.send(nid, data={**RFQ, "delivery_date": sooner.isoformat()})
    earliest = (today + dt.timedelta(days=lead)).isoformat()
    assert [i["delivery_date"] for i in rushed.data["items"]] == [earliest]
    assert rushed.text.startswith(f"We cannot deliver by {sooner}: the earliest is {earliest}.")
    guard = [r for r in rushed.records if r.get("node") == "guardrail"]
    assert guard[-1]["gen_ai.guardrail.tripwire"] is False
    past = seller.send(nid, data={**RFQ, "delivery_date": "2020-01-01"})
    assert (past.data["code"], past.data["field"]) == ("malformed_message", "delivery_date")


def test_a_related_product_is_suggested_only_for_a_quantity_that_could_be_offered(seller: Seller, dd_demo) -> None:
    """300 x BRG-6205 once came with BRG-6206 'for 300 units' (18 on hand: an rfq for it is insufficient_inventory)
    and FST-M8-NYL-A2 for more than one buyer may hold. Each suggestion is now one an rfq could get."""
    catalog, _ = dd_demo
    assert catalog.products["BRG-6206"].inventory.on_hand < 300
    nid = seller.start(Buyer(org="acme-related", region="EU"))
    reply = seller.send(nid, data={"type": "rfq", "items": [{"sku": "BRG-6205", "quantity": "300"}]})
    alternatives = reply.data["alternatives"] or []
    assert "BRG-6206" not in {a["sku"] for a in alternatives}
    desk = seller.graph.desk_for({"negotiation_id": nid})
    for alt in alternatives:  # an rfq for each suggestion would be offered
        other = seller.start(Buyer(org=f"probe-{alt['sku']}", region="EU"))
        got = seller.send(other, data={"type": "rfq", "items": [{"sku": alt["sku"], "quantity": alt["quantity"]}]})
        assert got.type == "proposal", (alt, got.data)
        assert desk.surface(alt["sku"], int(alt["quantity"])).max_hold_units is None or \
            int(alt["quantity"]) <= desk.surface(alt["sku"], int(alt["quantity"])).max_hold_units


def test_a_counter_offer_names_each_product_once(seller: Seller) -> None:
    """Two lines of one SKU in a counter-offer are two prices for one product: refused, naming the second line (it
    became a proposal with the product twice at two prices). An rfq's repeated SKU adds up, as before."""
    nid, first = open_negotiation(seller)
    twice = {**counter(first, "3.00"), "items": [{"sku": SKU, "quantity": str(QTY), "unit_price": "3.00"},
                                                 {"sku": SKU, "quantity": "10", "unit_price": "2.00"}]}
    refused = seller.send(nid, data=twice)
    assert (refused.type, refused.data["code"], refused.data["field"]) == ("error", "malformed_message", "items.1.sku")
    assert seller.store.proposal_versions(first["proposal_id"]) == [1]


def test_an_rfq_of_several_lines_is_priced_as_one_order_as_a_quote_is(seller: Seller) -> None:
    """QA: deal-size rules saw each line alone in a negotiation and the whole order in a REST quote: 300 x
    BRG-UCP204 with 500 x FST-M8X30-A2 was quoted 8962.00 EUR (deal-10k) and proposed at 9145.00."""
    from tools.pricing.engine import price_quote
    from tools.pricing.models import QuoteRequest

    items = [{"sku": "BRG-UCP204", "quantity": "300"}, {"sku": "FST-M8X30-A2", "quantity": "500"}]
    nid = seller.start(Buyer(org="acme-eu", region="EU"))
    proposal = seller.send(nid, data={"type": "rfq", "items": items}).data
    quote = price_quote(seller.catalog, QuoteRequest(
        region="EU", items=[{"sku": i["sku"], "quantity": int(i["quantity"])} for i in items]))
    assert any(s.rule_id == "deal-10k" for ln in quote.lines for s in ln.steps)
    assert [i["list_price"] for i in proposal["items"]] == [str(ln.unit_price) for ln in quote.lines]
    assert Decimal(proposal["total"]) == quote.total == Decimal("8962.00")
    alone = seller.start(Buyer(org="acme-eu-2", region="EU"))  # one line alone: its own value, no deal-size rule
    one = seller.send(alone, data={"type": "rfq", "items": items[:1]}).data
    assert Decimal(one["items"][0]["list_price"]) > Decimal(proposal["items"][0]["list_price"])


@pytest.mark.parametrize("detour", [
    [("2.60", 500, "NET60"), ("2.65", 500, "NET60"), ("2.70", 500, "NET60")],
    [("2.60", 600, None), ("2.65", 600, None)]], ids=["other-terms", "other-quantity"])
def test_a_detour_through_other_terms_or_quantities_does_not_lift_the_buyers_bound(seller: Seller, detour) -> None:
    """QA: after offering 3.05 for 500 on NET30, counters on NET60 (or for 600 units) and back to 500 on NET30 at
    2.70 booked a deal at 2.99 (3.03): the seller's concessions on the other line lowered the bound."""
    nid, last = open_negotiation(seller)
    for price, qty, terms in [("2.50", QTY, None), ("3.05", QTY, None), *detour, ("2.70", QTY, "NET30")]:
        msg = counter(last, price, qty)
        if terms:
            msg["payment_terms"] = terms
        last = seller.send(nid, data=msg).data
        assert last["type"] == "proposal", last
    assert last["payment_terms"] == "NET30" and unit_price(last) >= Decimal("3.05"), last
    deal = seller.send(nid, data=accept(last))
    assert deal.type == "deal" and Decimal(deal.data["items"][0]["unit_price"]) >= Decimal("3.05")


def test_a_request_awaiting_approval_below_the_buyers_later_price_is_replaced(seller: Seller) -> None:
    """QA: 2.70 awaited a manager; the buyer then offered 2.75, and approving sent (and booked) 2.70."""
    nid, last = open_negotiation(seller)
    for price in ("2.50", "2.55", "2.60", "2.65", "2.70", "2.75"):
        last = seller.send(nid, data=counter(last, price)).data
    waiting = seller.store.pending_approval(nid)
    assert waiting is not None and waiting.requested["moves"][0]["unit_price"] == "2.75"
    assert last["pending"]["items"][0]["unit_price"] == "2.75"
    sent = seller.decide(waiting.id, "approve", by="mgr@x")
    assert unit_price(sent) == Decimal("2.75")


def test_approving_a_multi_line_request_never_raises_a_line_the_standing_offer_gives_lower(seller: Seller) -> None:
    """QA: a request filed for BRG-6205 kept BRG-6204 at 2.99; the next version offered BRG-6204 at 2.95, and
    approving sent 2.99 again. Each line goes out at the lower of the requested and the standing price."""
    nid = seller.start(Buyer(org="acme-eu", region="EU"))
    last = seller.send(nid, data={"type": "rfq", "items": [{"sku": SKU, "quantity": "2000"},
                                                          {"sku": "BRG-6205", "quantity": "1000"}]}).data
    for price in ("2.50", "2.55", "2.60", "2.65", "2.70"):
        last = seller.send(nid, data={**counter(last, price), "items": [
            {"sku": "BRG-6205", "quantity": "1000", "unit_price": price}]}).data
    last = seller.send(nid, data={**counter(last, "2.95", 2000)}).data
    standing = {i["sku"]: Decimal(i["unit_price"]) for i in last["items"]}
    request = seller.store.pending_approval(nid)
    requested = {m["sku"]: Decimal(m["unit_price"]) for m in request.requested["moves"]}
    assert requested[SKU] > standing[SKU], (requested, standing)  # the case: the request is worse on this line
    sent = seller.decide(request.id, "approve", by="mgr@x").data
    prices = {i["sku"]: Decimal(i["unit_price"]) for i in sent["items"]}
    assert prices == {SKU: standing[SKU], "BRG-6205": requested["BRG-6205"]}


def test_a_refused_decision_is_never_logged_as_one(escalated) -> None:
    """QA (operators): approving an approval decided already was refused, yet the JSON decision log got a record of
    it as of any decision ("approved by alice" after "rejected by bob"): the log said what never happened."""
    import io
    import json
    import os

    from agent.records import configure_logging

    seller, nid, _ = escalated
    approval = seller.store.pending_approval(nid)
    stream = io.StringIO()
    configure_logging(stream)
    try:
        reply = seller.decide(approval.id, "reject", by="bob", note="margin")
        with pytest.raises(DealdeskError) as refused:
            seller.decide(approval.id, "approve", by="alice")
        assert refused.value.code == "approval_not_pending"
    finally:
        configure_logging(open(os.devnull, "w"))  # noqa: SIM115  (as tests/conftest.py leaves it)
    decisions = [json.loads(line) for line in stream.getvalue().splitlines()
                 if '"decide_approval"' in line]
    assert [(d["dealdesk.approval.outcome"], d["dealdesk.approval.by"]) for d in decisions] == [("rejected", "bob")]
    # the decision's own words are kept for a server to publish on the buyer's task
    assert seller.store.seller_message(nid) == (reply.turn, {"text": reply.text, "data": reply.data})


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_request_older_than_an_offers_validity_is_canceled_not_decided(escalated, decision) -> None:
    """QA (operators): a request filed 31 days earlier, on an offer long expired, was approved and sent the buyer a
    fresh 14-day offer. A request older than the policy's proposal_validity_days is canceled, and nothing is sent."""
    from sqlalchemy import update

    from agent.store import schema as t

    seller, nid, _ = escalated
    approval = seller.store.pending_approval(nid)
    turn = seller.store.get_negotiation(nid).turn
    with seller.store.engine.begin() as conn:
        conn.execute(update(t.approvals).where(t.approvals.c.id == approval.id)
                     .values(requested_at=utcnow() - dt.timedelta(days=15)))
    with pytest.raises(DealdeskError) as refused:
        seller.decide(approval.id, decision, by="late@x")
    assert refused.value.code == "approval_expired" and refused.value.field == "approval_id"
    assert "14 days" in refused.value.message
    row = seller.store.get_approval(approval.id)
    assert row.status == "canceled" and row.note.startswith("expired: requested")
    assert seller.store.get_negotiation(nid).turn == turn  # no turn ran, nothing went to the buyer
    with pytest.raises(DealdeskError) as again:
        seller.decide(approval.id, decision, by="late@x")
    assert again.value.code == "approval_not_pending"


def test_a_request_within_the_validity_is_decided(escalated) -> None:
    from sqlalchemy import update

    from agent.store import schema as t

    seller, nid, _ = escalated
    approval = seller.store.pending_approval(nid)
    with seller.store.engine.begin() as conn:
        conn.execute(update(t.approvals).where(t.approvals.c.id == approval.id)
                     .values(requested_at=utcnow() - dt.timedelta(days=13)))
    assert seller.decide(approval.id, "approve", by="ok@x") is not None


def test_lines_sold_on_different_fixed_terms_are_refused_by_name(make_seller) -> None:
    """QA re-test: an rfq for a motor (24-month warranty) with bearings (12 months) got the general help: the
    guardrail blocked every offer, which states one set of non-negotiable terms."""
    seller = make_seller()
    nid = seller.start(Buyer(org="mixed-terms", region="EU"))
    reply = seller.send(nid, data={"type": "rfq", "items": [{"sku": "MTR-IE3-1K1", "quantity": "10"},
                                                           {"sku": "BRG-6204", "quantity": "500"}]})
    assert reply.type == "error" and reply.data["code"] == "malformed_message" and reply.data["field"] == "items"
    assert "MTR-IE3-1K1 and BRG-6204 are sold on different fixed terms (warranty)" in reply.data["message"]
    assert seller.send(nid, data={"type": "rfq", "items": [{"sku": "MTR-IE3-1K1", "quantity": "10"}]}).type == \
        "proposal"


def test_after_a_request_expires_the_buyer_is_not_told_it_awaits_approval(escalated) -> None:
    """QA re-test: once the request was canceled as expired, "any news on the approval?" still got "A better offer
    for your request is awaiting approval"."""
    from sqlalchemy import update

    from agent.store import schema as t

    seller, nid, _ = escalated
    approval = seller.store.pending_approval(nid)
    with seller.store.engine.begin() as conn:
        conn.execute(update(t.approvals).where(t.approvals.c.id == approval.id)
                     .values(requested_at=utcnow() - dt.timedelta(days=15)))
    with pytest.raises(DealdeskError):
        seller.decide(approval.id, "approve", by="late@x")
    reply = seller.send(nid, text="any news on the approval?")
    assert "awaiting approval" not in reply.text and "Our offer stands" in reply.text, reply.text


def test_a_deals_row_states_the_instant_its_body_states(seller: Seller, monkeypatch) -> None:
    """The deal's body took its `accepted_at` when the turn built it and the row when the turn committed: across a
    second's boundary they differed, and `audit verify` reported the deal tampered."""
    import agent.graph as graph_module

    nid, first = open_negotiation(seller)
    start = dt.datetime(2026, 11, 28, 1, 43, 45, 500000)
    ticks = iter(range(10_000))
    monkeypatch.setattr(graph_module, "utcnow", lambda: start + dt.timedelta(milliseconds=300 * next(ticks)))
    reply = seller.send(nid, data=accept(first))
    assert reply.type == "deal", reply.text
    (row,) = seller.store.deals(negotiation_id=nid)
    assert row.accepted_at == dt.datetime.fromisoformat(reply.data["accepted_at"]).replace(tzinfo=None)
