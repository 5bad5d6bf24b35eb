"""The operators' read model (agent/review.py) on a small simulated day, on SQLite and PostgreSQL.

Every answer is checked against the store's own tables (negotiations, proposals, events,
approvals, deals, decision records), never against the code's own idea of them.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from agent import review
from agent.cli import app
from agent.cli_ops import timeline_lines

NO_DEAL = ("closed", "rejected", "canceled")


def negotiations(store):
    return store.list_negotiations(limit=1000)


def test_list_deals_filters_by_outcome_buyer_since_and_blocks(sim_day) -> None:
    store = sim_day.store
    negs = {n.id: n for n in negotiations(store)}
    listed = review.list_deals(store)
    assert {d.negotiation_id for d in listed} == set(negs) and len(negs) == 10
    assert [d.updated_at for d in listed] == sorted((d.updated_at for d in listed), reverse=True)
    for outcome, statuses in (("deal", ("deal",)), ("open", ("open",)), ("no_deal", NO_DEAL)):
        assert {d.negotiation_id for d in review.list_deals(store, outcome=outcome)} == {
            n.id for n in negs.values() if n.status in statuses}
    assert any(d.outcome == "deal" for d in listed) and any(d.outcome == "no_deal" for d in listed)
    org = sim_day.day.orgs["neg-sim-000"]
    assert {d.negotiation_id for d in review.list_deals(store, buyer=org)} == {
        n.id for n in negs.values() if n.buyer_org == org}
    assert review.list_deals(store, since=dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=1)) == []
    assert len(review.list_deals(store, since="1h")) == 10
    assert len(review.list_deals(store, since=dt.date.today() - dt.timedelta(days=2))) == 10
    blocked = review.list_deals(store, blocked=True)
    assert [d.negotiation_id for d in blocked] == sim_day.day.texts and blocked[0].blocks == 1
    assert {d.negotiation_id for d in review.list_deals(store, blocked=False)} == set(negs) - set(sim_day.day.texts)
    assert len(review.list_deals(store, limit=3)) == 3
    with pytest.raises(ValueError):
        review.list_deals(store, outcome="won")  # type: ignore[arg-type]
    # each summary agrees with the tables
    for d in listed:
        deals = store.deals(negotiation_id=d.negotiation_id)
        assert d.deal_id == (deals[0].id if deals else None)
        assert d.deal_total == (deals[0].total if deals else None)
        approvals = store.approvals(negotiation_id=d.negotiation_id)
        assert (d.approvals, d.pending_approvals) == (len(approvals), sum(a.status == "pending" for a in approvals))
        offered = [p for p in store.proposals(d.negotiation_id) if p.body.get("status") == "offered"]
        assert d.first_total == (offered[0].total if offered else None)  # never a version held for an approval
        assert d.turns == negs[d.negotiation_id].turn
    as_json = json.loads(json.dumps([d.model_dump(mode="json") for d in listed]))
    assert all(isinstance(x["first_total"], str | None) for x in as_json)  # decimals as strings


def test_the_first_total_is_the_first_offer_never_a_version_shadow_held(tmp_path) -> None:
    """QA (operators): in shadow mode the bot's draft is written as a version held for an operator and never shown
    to the buyer; `deals list` gave its total as the FIRST offer's, also when the operator rejected it and the
    buyer was never offered anything. FIRST is the first version sent to the buyer as an offer."""
    from agent.config import load_data
    from agent.service import Buyer, Seller
    from agent.store.autonomy import AutonomyStore

    seller = Seller.open(*load_data(), f"sqlite:///{tmp_path / 'dd.db'}")
    try:
        AutonomyStore(seller.store.engine).set("global", "shadow", by="qa")
        rfq = {"type": "rfq", "items": [{"sku": "BRG-6205", "quantity": "100"}]}
        shown, rejected = seller.start(Buyer(org="org-shown", region="EU")), seller.start(Buyer(org="org-no",
                                                                                                 region="EU"))
        for nid in (shown, rejected):
            assert seller.send(nid, data=rfq).data is None  # the buyer hears only that it is being reviewed
            (held,) = seller.store.proposals(nid)
            assert held.status == "pending_approval"
            assert review.summary(seller.store, nid).first_total is None  # nothing was offered yet
            assert review.summary(seller.store, nid).last_total == held.total  # what awaits the operator
        seller.decide(seller.store.pending_approval(rejected).id, "reject", by="qa")
        assert review.summary(seller.store, rejected).first_total is None  # and never was
        sent = seller.decide(seller.store.pending_approval(shown).id, "approve", by="qa").data
        assert sent["type"] == "proposal" and sent["version"] == 2
        assert review.summary(seller.store, shown).first_total == Decimal(sent["total"])
        listed = {d.negotiation_id: d for d in review.list_deals(seller.store)}
        assert listed[rejected].first_total is None and listed[shown].first_total == Decimal(sent["total"])
    finally:
        seller.close()


def test_timeline_shows_each_turns_buyer_offer_guardrail_and_approvals(sim_day) -> None:
    store = sim_day.store
    for n in negotiations(store):
        tl = review.timeline(store, n.id)
        assert tl is not None and tl.summary.negotiation_id == n.id
        assert [t.turn for t in tl.turns] == list(range(1, n.turn + 1))
        # every proposal version appears exactly once, on the turn that put it on the table
        offers = [(t.offer.proposal_id, t.offer.version) for t in tl.turns if t.offer is not None]
        assert offers == [(p.id, p.version) for p in store.proposals(n.id)]
        events = store.events(n.id)
        for turn in tl.turns:
            assert turn.records and all(r["turn"] == turn.turn for r in turn.records)
            if turn.actor == "buyer":
                asked = [(e.sku, e.quantity, e.unit_price) for e in events if e.turn == turn.turn and e.side == "buyer"]
                assert [(ln.sku, ln.quantity, ln.unit_price) for ln in turn.buyer.lines] == asked
                assert turn.buyer.digest and turn.buyer.intent
            if turn.offer is not None:
                sold = {(e.sku, e.unit_price) for e in events if e.turn == turn.turn and e.side == "seller"}
                assert {(ln.sku, ln.unit_price) for ln in turn.offer.lines} == sold
                line = turn.offer.lines[0]
                assert line.list_price is not None and line.floor is not None and line.target is not None
                assert line.floor <= line.unit_price <= line.list_price
                if turn.actor == "buyer":
                    assert turn.offer.rule_ids  # the rules behind the plan
            assert turn.guardrail.checked or turn.outgoing is None
        if n.status == "deal":
            assert tl.deal is not None and tl.turns[-1].deal_id == tl.deal["deal_id"]
            assert tl.turns[-1].buyer.intent == "accept"
    assert review.timeline(store, "neg-unknown") is None


def test_approvals_appear_on_the_turn_that_asked_and_the_turn_that_decided(sim_day) -> None:
    store = sim_day.store
    approvals = store.approvals()
    assert approvals, "the simulated day raises at least one approval"
    for a in approvals:
        tl = review.timeline(store, a.negotiation_id)
        asked = [t for t in tl.turns if any(v.id == a.id for v in t.approvals_requested)]
        assert len(asked) == 1, a.id
        turn = asked[0]
        view = next(v for v in turn.approvals_requested if v.id == a.id)
        assert (view.level, view.status, view.decided_by) == (a.level, a.status, a.decided_by)
        assert view.reasons and view.reasons[0]["rule_id"]
        assert turn.routing == "operator" and turn.offer is not None and turn.offer.pending is not None
        assert [m["unit_price"] for m in view.requested] == [m["unit_price"] for m in a.requested["moves"]]
        if a.status in ("approved", "rejected", "edited"):
            decided = [t for t in tl.turns if t.operator is not None and t.operator.approval_id == a.id]
            assert len(decided) == 1 and decided[0].actor == "operator"
            assert decided[0].operator.by == a.decided_by
            assert decided[0].operator.decision == a.status
            assert decided[0].approvals_decided[0].decided_at == a.decided_at
        detail = review.approval_detail(store, a.id)
        assert detail is not None and detail.approval.id == a.id and detail.negotiation.negotiation_id == a.negotiation_id
        assert detail.offer is not None and detail.offer.proposal_id == a.proposal_id and detail.series
    assert review.approval_detail(store, "A-NOPE") is None


def test_concession_series_follows_the_offers(sim_day) -> None:
    store = sim_day.store
    for n in negotiations(store):
        points = review.concession_series(store, n.id)
        props = store.proposals(n.id)
        assert [(p.proposal_id, p.version) for p in points] == [(p.id, p.version) for p in props]
        assert [p.offer for p in points] == [Decimal(p.body["items"][0]["unit_price"]) for p in props]
        rounds = [p.round for p in points]
        assert rounds == sorted(set(rounds))  # strictly increasing: one x per offer
        for p in points:
            assert p.list_price is not None and p.target is not None and p.floor is not None
            assert p.floor <= p.target <= p.list_price
    deal = next(n for n in negotiations(store) if n.status == "deal" and len(store.proposals(n.id)) > 2)
    points = review.concession_series(store, deal.id)
    assert points[0].buyer_bid is None and points[1].buyer_bid is not None  # the rfq asks no price; counters do
    assert points[0].offer >= points[-1].offer  # the seller conceded
    assert review.concession_series(store, "neg-unknown") == []


def test_guardrail_blocks_say_what_was_blocked_and_why(sim_day) -> None:
    store = sim_day.store
    blocks = review.guardrail_blocks(store)
    assert [b.negotiation_id for b in blocks] == sim_day.day.texts
    b = blocks[0]
    rules = {v.rule_id for v in b.violations}
    assert {"guardrail.text.leak_term", "guardrail.text.leak_figure"} <= rules
    assert "floor price is 2.65" in b.draft and b.resolution == "revised" and b.buyer_org == "org-text"
    trips = [r for r in store.records(b.negotiation_id) if r.get("gen_ai.guardrail.tripwire")]
    assert len(trips) == 1 and trips[0]["dealdesk.draft"]["text"] == b.draft
    turn = review.timeline(store, b.negotiation_id).turns[0]
    assert turn.guardrail.tripwire and turn.guardrail.drafts == [b.draft] and not turn.guardrail.fallback
    assert turn.offer is not None  # the revised draft went out as the strategy's offer
    assert review.guardrail_blocks(store, since="1h") == blocks
    assert review.guardrail_blocks(store, since=dt.datetime(2999, 1, 1)) == []
    assert review.guardrail_blocks(store, negotiation_id="neg-sim-000") == []


def test_decision_rows_export_every_record_in_write_order(sim_day) -> None:
    store = sim_day.store
    rows = list(review.decision_rows(store, batch=50))  # several batches
    total = sum(len(store.records(n.id)) for n in negotiations(store))
    assert len(rows) == total and [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    one = list(review.decision_rows(store, negotiation_id="neg-sim-000"))
    assert [r["record"] for r in one] == store.records("neg-sim-000")
    assert list(review.decision_rows(store, since="2999-01-01")) == []


def test_parse_since() -> None:
    now = dt.datetime(2025, 5, 10, 12, 0)
    assert review.parse_since("24h", now=now) == dt.datetime(2025, 5, 9, 12, 0)
    assert review.parse_since("7d", now=now) == dt.datetime(2025, 5, 3, 12, 0)
    assert review.parse_since("90m", now=now) == dt.datetime(2025, 5, 10, 10, 30)
    assert review.parse_since("2025-01-31") == dt.datetime(2025, 1, 31)
    assert review.parse_since("2025-01-31T12:00:00Z") == dt.datetime(2025, 1, 31, 12)
    assert review.parse_since(dt.date(2025, 1, 31)) == dt.datetime(2025, 1, 31)
    assert review.parse_since(None) is None
    with pytest.raises(ValueError):
        review.parse_since("yesterday-ish")
    for far in ("99999999999d", "99999999999w"):  # QA: an OverflowError, a 500 on the console's deals page
        with pytest.raises(ValueError, match="too far back"):
            review.parse_since(far, now=now)


def test_the_cli_reads_the_same_store(sim_day, monkeypatch) -> None:
    """The operator commands against this backend (the full CLI suite runs on SQLite in test_cli_ops.py)."""
    monkeypatch.setenv("COLUMNS", "300")
    runner = CliRunner()

    def run(*args: str):
        result = runner.invoke(app, [*args, "--db", sim_day.url], catch_exceptions=False)
        return result

    listed = run("deals", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert len(json.loads(listed.output)) == 10
    shown = run("deals", "show", sim_day.day.texts[0])
    assert shown.exit_code == 0 and "BLOCKED" in shown.output and "guardrail.text.leak_term" in shown.output
    head = run("audit", "head")
    assert head.exit_code == 0
    verified = run("audit", "verify", "--head", head.output.strip())
    assert verified.exit_code == 0 and "OK" in verified.output, verified.output


def test_a_begin_record_that_keeps_the_inbound_message_shows_it(ops_store) -> None:
    """When the begin record carries the buyer's message (`dealdesk.inbound`), the timeline shows it in full."""
    nid = "neg-inbound"
    ops_store.create_negotiation(nid, buyer_org="org-x", region="EU", segment="standard")
    said = "Need 500 x BRG-6204 by Friday, can you do 3.10?"
    base = {"gen_ai.conversation.id": nid, "turn": 1, "message_id": "m-1", "dealdesk.input.digest": "sha256:ab"}
    ops_store.add_records([
        {**base, "node": "begin", "gen_ai.operation.name": "receive", "dealdesk.inbound": {"text": said}},
        {**base, "node": "understand", "gen_ai.operation.name": "understand", "dealdesk.intent": "rfq",
         "dealdesk.intent.source": "offline", "dealdesk.intent.notes": ["item BRG-6204 x 500", "asked 3.10"]},
        {**base, "node": "guardrail", "gen_ai.operation.name": "guardrail", "gen_ai.guardrail.tripwire": True,
         "gen_ai.guardrail.violations": [{"rule_id": "guardrail.text.leak_term", "code": "leak_term",
                                          "message": "'floor' reveals floor", "field": "text"}],
         "dealdesk.draft": {"text": "our floor is 2.65", "data": None}},
        {**base, "node": "guardrail", "gen_ai.operation.name": "fallback", "dealdesk.fallback": True,
         "gen_ai.guardrail.tripwire": False},
        {**base, "node": "commit", "gen_ai.operation.name": "commit", "dealdesk.outgoing.type": None}])
    (turn,) = review.timeline(ops_store, nid).turns
    assert turn.buyer.text == said and turn.buyer.intent == "rfq" and turn.buyer.source == "offline"
    assert turn.buyer.notes == ["item BRG-6204 x 500", "asked 3.10"]
    shown = list(timeline_lines(review.timeline(ops_store, nid)))
    assert "  read as:     item BRG-6204 x 500" in shown and "  read as:     asked 3.10" in shown
    assert turn.guardrail.tripwire and turn.guardrail.fallback and turn.guardrail.revisions == 0
    (block,) = review.guardrail_blocks(ops_store)
    assert block.resolution == "fallback" and block.draft == "our floor is 2.65" and block.buyer_org == "org-x"
    assert [d.negotiation_id for d in review.list_deals(ops_store, blocked=True)] == [nid]


def test_a_question_answered_with_no_model_shows_its_rule_and_figures(ops_store) -> None:
    """A price-breaks or order-limits answer shows on its turn (the playbook rule and what it said), and its
    figures are not taken for a later offer's strategy figures."""
    from agent.config import load_data
    from agent.service import Buyer, Seller

    catalog, policy = load_data()
    seller = Seller(catalog, policy, ops_store)
    try:
        nid = seller.start(Buyer(org="org-q", region="EU"))
        seller.send(nid, text="what are your price breaks for BRG-6204?")
        seller.send(nid, text="MOQ on BRG-GRS-EP2?")
        seller.send(nid, data={"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "100"}]})
        breaks, limits, rfq = review.timeline(ops_store, nid).turns
    finally:
        seller.close()  # its checkpointer's connection (and the store's engine, which the fixture disposes again)
    assert breaks.answered == "playbook.price_breaks" and breaks.offer is None
    assert [p["sku"] for p in breaks.answer_figures["products"]] == ["BRG-6204"]
    assert limits.answered == "playbook.order_limits" and limits.answer_figures["products"][0]["moq"] == 18
    assert rfq.answered is None and rfq.offer.lines[0].target is not None
    shown = list(timeline_lines(review.timeline(ops_store, nid)))
    assert any(line.startswith("  answered:    playbook.price_breaks: {") for line in shown)
