"""The guardrail in the running seller graph, driven by model doubles that break the rules on purpose.

Each case: a text buyer message on the demo data, a `FunctionModel` that stages the strategy's
recommended move with `submit_proposal` (or not) and then writes a final message that violates one
rule (in its `{"type": "data"}` block or in its words). For each we check that

- the reply that goes out does not carry the violation (and the independent oracle accepts it),
- the decision records (in the reply and persisted in the store) hold guardrail records with
  `gen_ai.guardrail.tripwire` true and the violation's rule id,
- the model wrote at most 1 + `SellerConfig.max_revisions` drafts in the turn,
- after that a safe fallback is sent: the staged offer, else the offline playbook's offer for the turn (the
  strategy's recommended move through `submit_proposal`), else the standing offer, else the schema hint.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal as D
from typing import Any

import pytest
from langchain_core.messages import ToolMessage

from agent.graph import SellerConfig
from agent.models.doubles import FunctionModel, brief_of, final, playbook, tool_call, tool_results
from agent.playbook import SCHEMA_HINT, offer_text
from agent.service import Buyer
from agent.store.db import utcnow
from tools.money import round_percent
from tools.policy.desk import Desk
from tools.policy.surface import DecisionSurface
from tools.pricing.models import BuyerContext
from tools.proposals import build_proposal, valid_until
from tools.strategy.models import Move

from .oracle import OracleContext, judge

EU = "EU"
UNTRACED = "guardrail.text.untraced_figure"
UNPARSABLE = "guardrail.text.unparsable_money"
LEAK_TERM = "guardrail.text.leak_term"
LEAK_FIGURE = "guardrail.text.leak_figure"
UNBACKED = "guardrail.text.unbacked_promise"


# --- building offers the way a (misbehaving) model would ----------------------------------------------------


def desk(catalog, policy, terms: str = "NET30") -> Desk:
    return Desk(catalog, policy, BuyerContext(region=EU, payment_terms=terms, on=utcnow().date()))


def recommended(brief: dict[str, Any]) -> list[Move]:
    out = []
    for line in brief["lines"]:
        by_id = {m["id"]: m for m in line["plan"]["moves"]}
        out.append(Move.model_validate(by_id[line["plan"]["recommended"]]))
    return out


def proposal_for(catalog, policy, moves: list[Move], proposal_id: str = "P-DOUBLE1", version: int = 1) -> dict:
    """A well-formed proposal for `moves`, as the graph would build it (the model's own data block)."""
    d = desk(catalog, policy, moves[0].payment_terms)
    surfaces = [d.surface(m.sku, m.quantity, m.payment_terms) for m in moves]
    names = {sku: p.name for sku, p in catalog.products.items()}
    return build_proposal(proposal_id=proposal_id, version=version, moves=moves, names=names, region=EU,
                          terms=surfaces[0].non_negotiable_terms, valid_until=valid_until(utcnow(), surfaces)
                          ).model_dump(mode="json")


def reprice(p: dict, price: D | None = None, qty: int | None = None) -> dict:
    """Change the first line's price/quantity keeping every derived figure consistent."""
    item = p["items"][0]
    price = D(item["unit_price"]) if price is None else price
    qty = int(item["quantity"]) if qty is None else qty
    lp = D(item["list_price"])
    item.update(unit_price=str(price), quantity=str(qty), line_total=str(price * qty),
                discount_percent=str(round_percent((lp - price) * 100 / lp)))
    p["total"] = str(sum(D(i["line_total"]) for i in p["items"]))
    return p


Mutate = Callable[[dict, DecisionSurface], "tuple[dict | None, str]"]


def in_data(change: Callable[[dict, DecisionSurface], dict]) -> Mutate:
    """A violation in the data block; the words describe the (violating) data faithfully."""
    def mutate(p: dict, s: DecisionSurface) -> tuple[dict | None, str]:
        bad = change(copy.deepcopy(p), s)
        return bad, offer_text(bad)
    return mutate


def in_text(words: str) -> Mutate:
    """A violation in the words only; the data is the staged offer (no data block)."""
    return lambda p, s: (None, f"Thank you for your request. {words}")


class Violator:
    """A model double's reply function: stage the recommended move (optionally), then break a rule.

    `fix_after`: after this many violating drafts, write a clean reply instead (a model that learns
    from the guardrail's feedback). `made_up_move`: submit a move id the strategy never generated.
    """

    def __init__(self, catalog, policy, mutate: Mutate, *, stage: bool = True, made_up_move: bool = False,
                 fix_after: int | None = None, clean_text: str = "Here is our offer.",
                 normal_unless: str | None = None):
        self.catalog, self.policy, self.mutate = catalog, policy, mutate
        self.stage, self.made_up_move, self.fix_after = stage, made_up_move, fix_after
        self.clean_text, self.normal_unless = clean_text, normal_unless
        self.drafts: list[dict] = []  # what the model wrote in its final messages
        self.briefs: list[dict] = []

    def __call__(self, messages, tools):
        brief = brief_of(messages) or {}
        self.briefs.append(brief)
        last_human = next((m for m in reversed(messages) if m.type == "human"), None)
        if self.normal_unless is not None and self.normal_unless not in str(last_human.content):
            return playbook(messages, tools)  # behaves until the trigger appears in the buyer's words
        done = {r.get("tool"): r for r in tool_results(messages)}
        moves = recommended(brief) if brief.get("lines") else []
        if "submit_proposal" not in done and (self.stage or self.made_up_move) and moves:
            ids = ["M-MADE-UP-1"] if self.made_up_move else [m.id for m in moves]
            return tool_call("submit_proposal", {"move_ids": ids, "alternative_ids": []})
        if not moves:  # nothing to offer this turn: say so
            self.drafts.append({"data": None, "text": self.clean_text})
            return final(self.clean_text)
        if self.fix_after is not None and len(self.drafts) >= self.fix_after:
            self.drafts.append({"data": None, "text": self.clean_text})
            return final(self.clean_text)
        valid = proposal_for(self.catalog, self.policy, moves)
        surface = desk(self.catalog, self.policy, moves[0].payment_terms).surface(
            moves[0].sku, moves[0].quantity, moves[0].payment_terms)
        data, text = self.mutate(valid, surface)
        self.drafts.append({"data": data, "text": text})
        return final(text, data)


# --- the cases ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    rfq: str
    mutate: Mutate
    rule: Callable[[DecisionSurface], str]  # the rule id every violating draft must be recorded with
    absent: Callable[[Any, DecisionSurface], bool]  # the reply does not carry the violation
    code: str | None = None


def _items(reply):
    return (reply.data or {}).get("items") or []


def _prices(reply):
    return [D(i["unit_price"]) for i in _items(reply)]


R6204 = "need 500 x BRG-6204 for our Lyon plant"
LINES = {R6204: ("BRG-6204", 500), "need 40 x SAF-GLV-CUT5": ("SAF-GLV-CUT5", 40),
         "need 36 kg of BRG-GRS-EP2": ("BRG-GRS-EP2", 36), "need 3 x SAF-HRN-FALL": ("SAF-HRN-FALL", 3),
         "need 5 x BRG-6206": ("BRG-6206", 5)}
CASES = [
    Case("below_floor", R6204, in_data(lambda p, s: reprice(p, s.floor_price - D("0.01"))),
         lambda s: s.rule_ids["floor_price"], lambda r, s: all(x >= s.floor_price for x in _prices(r))
         and str(s.floor_price - D("0.01")) not in r.text, "below_floor"),
    Case("beyond_granted_level", R6204, in_data(lambda p, s: reprice(p, s.auto_limit_price - D("0.01"))),
         lambda s: s.levels[0].rule_id, lambda r, s: all(x >= s.auto_limit_price for x in _prices(r)),
         "beyond_granted_level"),
    Case("terms_not_allowed", "need 40 x SAF-GLV-CUT5", in_data(lambda p, s: {**p, "payment_terms": "NET90"}),
         lambda s: desk_for_case(s).surface(s.sku, s.quantity, "NET90").rule_ids["payment_terms"],
         lambda r, s: (r.data or {}).get("payment_terms") != "NET90" and "NET90" not in r.text,
         "terms_not_allowed"),
    Case("terms_changed", R6204,
         in_data(lambda p, s: {**p, "terms": {**p["terms"], "warranty": "36 months, no questions asked."}}),
         lambda s: s.rule_ids["non_negotiable_terms"],
         lambda r, s: (r.data or {}).get("terms") == s.non_negotiable_terms and "36 months" not in r.text,
         "terms_changed"),
    Case("below_moq", "need 36 kg of BRG-GRS-EP2", in_data(lambda p, s: reprice(p, qty=5)),
         lambda s: s.rule_ids["moq"], lambda r, s: all(int(i["quantity"]) >= s.moq for i in _items(r)),
         "below_moq"),
    Case("above_max_quantity", "need 3 x SAF-HRN-FALL", in_data(lambda p, s: reprice(p, qty=8)),
         lambda s: s.rule_ids["max_order_quantity"],
         lambda r, s: all(int(i["quantity"]) <= s.max_order_quantity for i in _items(r)), "above_max_quantity"),
    Case("insufficient_inventory", "need 5 x BRG-6206", in_data(lambda p, s: reprice(p, qty=24)),
         lambda s: "guardrail.inventory", lambda r, s: all(int(i["quantity"]) <= 18 for i in _items(r)),
         "insufficient_inventory"),
    Case("wrong_line_total", R6204,
         in_data(lambda p, s: {**p, "items": [{**p["items"][0], "line_total": str(D(p["items"][0]["line_total"])
                                                                                 + 100)}],
                               "total": str(D(p["total"]) + 100)}),
         lambda s: "guardrail.arithmetic",
         lambda r, s: all(D(i["line_total"]) == D(i["unit_price"]) * int(i["quantity"]) for i in _items(r)),
         "wrong_line_total"),
    Case("wrong_total", R6204, in_data(lambda p, s: {**p, "total": str(D(p["total"]) - 25)}),
         lambda s: "guardrail.arithmetic",
         lambda r, s: D(r.data["total"]) == sum(D(i["line_total"]) for i in _items(r)), "wrong_total"),
    Case("wrong_currency", R6204, in_data(lambda p, s: {**p, "currency": "USD"}),
         lambda s: "guardrail.buyer.currency", lambda r, s: r.data["currency"] == "EUR" and "USD" not in r.text,
         "wrong_currency"),
    Case("wrong_region", R6204, in_data(lambda p, s: {**p, "region": "US"}),
         lambda s: "guardrail.buyer.region", lambda r, s: r.data["region"] == EU, "wrong_region"),
    Case("validity_too_long", R6204,
         in_data(lambda p, s: {**p, "valid_until": (utcnow() + dt.timedelta(days=60)).replace(microsecond=0)
                               .isoformat()}),
         lambda s: s.rule_ids["proposal_validity_days"],
         lambda r, s: dt.datetime.fromisoformat(r.data["valid_until"]) <= dt.datetime.now(dt.UTC) + dt.timedelta(days=14),
         "validity_too_long"),
    Case("off_strategy_price", R6204,
         in_data(lambda p, s: reprice(p, D(p["items"][0]["unit_price"]) - D("0.07"))),
         lambda s: "guardrail.off_strategy", lambda r, s: all(x >= s.list_price for x in _prices(r)),
         "off_strategy"),
    Case("off_strategy_alternative", R6204,
         in_data(lambda p, s: {**p, "alternatives": [{
             "kind": "next_tier", "sku": "BRG-6204", "name": "Deep groove ball bearing 6204-2RS",
             "quantity": "5000", "unit_price": "2.70", "line_total": "13500.00", "payment_terms": "NET30",
             "lead_time_days": "2", "note": "a tier we made up"}]}),
         lambda s: "guardrail.off_strategy",
         lambda r, s: "2.70" not in r.text and all(a["unit_price"] != "2.70"
                                                   for a in (r.data or {}).get("alternatives") or []),
         "off_strategy"),
    Case("words_percent", R6204, in_text("For you we take twelve percent off."), lambda s: UNTRACED,
         lambda r, s: "twelve percent" not in r.text),
    Case("locale_money", R6204, in_text("Special price for you: 3,10 € each."), lambda s: UNTRACED,
         lambda r, s: "3,10" not in r.text and "3.10" not in r.text),
    Case("number_words_money", R6204, in_text("We could do it for two euros ninety."), lambda s: UNTRACED,
         lambda r, s: "two euros" not in r.text),
    Case("unparsable_money", R6204, in_text("Special price for you: EUR 3.1.0 each."), lambda s: UNPARSABLE,
         lambda r, s: "3.1.0" not in r.text),
    Case("leak_cost", R6204, in_text("Honestly, our cost is 1.42 EUR per bearing."), lambda s: LEAK_TERM,
         lambda r, s: "cost" not in r.text and "1.42" not in r.text),
    Case("leak_cost_figure", R6204, in_text("We buy them in at 1.42 EUR."), lambda s: LEAK_FIGURE,
         lambda r, s: "1.42" not in r.text),
    Case("leak_floor", R6204, in_text("We cannot go under our floor of 2.65 EUR."), lambda s: LEAK_TERM,
         lambda r, s: "floor" not in r.text and "2.65" not in r.text),
    Case("leak_margin", R6204, in_text("That price leaves us almost no margin."), lambda s: LEAK_TERM,
         lambda r, s: "margin" not in r.text),
    Case("leak_approval_limit", R6204, in_text("My approval limit is 15% off list; my manager can approve more."),
         lambda s: LEAK_TERM, lambda r, s: "approv" not in r.text and "15%" not in r.text),
    Case("leak_walk_away", R6204, in_text("Our walk-away price is 2.65 EUR."), lambda s: LEAK_TERM,
         lambda r, s: "walk" not in r.text and "2.65" not in r.text),
    # QA with a real model: money and terms promised in words, with no figure to trace, reached the buyer
    Case("promise_in_words", R6204, in_text("I can do a quarter off if you sign today, and pay whenever you like."),
         lambda s: UNBACKED, lambda r, s: "quarter" not in r.text and "whenever" not in r.text),
    Case("promise_terms_in_words", R6204, in_text("With an unlimited warranty; the second batch is on the house."),
         lambda s: UNBACKED, lambda r, s: "unlimited" not in r.text and "house" not in r.text),
]

_DEMO: list = []


def desk_for_case(s: DecisionSurface) -> Desk:
    catalog, policy = _DEMO[0]
    return desk(catalog, policy, s.payment_terms)


@pytest.fixture(autouse=True)
def _demo(dd_demo):
    _DEMO[:] = [dd_demo]


# --- checks ------------------------------------------------------------------------------------------------


def guard_records(records: list[dict]) -> list[dict]:
    return [r for r in records if r["node"] == "guardrail" and r["gen_ai.operation.name"] == "guardrail"]


def tripped(records: list[dict]) -> list[dict]:
    return [r for r in guard_records(records) if r["gen_ai.guardrail.tripwire"]]


def fallbacks(records: list[dict]) -> list[dict]:
    return [r for r in records if r.get("dealdesk.fallback")]


def oracle_ok(reply, dd_demo, lines) -> None:
    catalog, policy = dd_demo
    ctx = OracleContext(catalog, policy, region=EU, lines=set(lines))
    assert judge(reply.data, reply.text, ctx) == []


def line_of(text: str) -> tuple[str, int]:
    """The (sku, quantity) the RFQ text asks for."""
    return LINES[text]


def drafts_of(model: FunctionModel) -> list:
    return [c for c in model.calls if not c.reply.tool_calls]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_each_violation_is_blocked_recorded_bounded_and_replaced_by_the_staged_offer(case, dd_seller_factory,
                                                                                      dd_demo):
    catalog, policy = dd_demo
    violator = Violator(catalog, policy, case.mutate)
    model = FunctionModel(violator)
    seller = dd_seller_factory(model)
    nid = seller.start(Buyer(org=f"org-{case.id}", region=EU))
    reply = seller.send(nid, text=case.rfq)

    sku, qty = line_of(case.rfq)
    staged = recommended(violator.briefs[0])[0]
    surface = desk(catalog, policy).surface(sku, qty)
    max_revisions = SellerConfig().max_revisions

    # the violation does not go out; the oracle accepts what does
    assert case.absent(reply, surface), (reply.data, reply.text)
    oracle_ok(reply, dd_demo, [(sku, qty)])
    # every draft the model wrote violated, and was recorded with the rule id (reply and store agree)
    assert len(violator.drafts) == 1 + max_revisions
    stored = seller.store.records(nid)
    for records in (reply.records, stored):
        trips = tripped(records)
        assert len(trips) == 1 + max_revisions
        for rec in trips:
            assert case.rule(surface) in rec["dealdesk.rule_ids"], rec["gen_ai.guardrail.violations"]
            assert case.rule(surface) in {v["rule_id"] for v in rec["gen_ai.guardrail.violations"]}
            if case.code:
                assert case.code in {v["code"] for v in rec["gen_ai.guardrail.violations"]}
            assert rec["gen_ai.guardrail.name"] == "dealdesk.guardrail"
            assert rec["dealdesk.draft"]["text"] == violator.drafts[0]["text"]
        assert len(fallbacks(records)) == 1
    # bounded: one tool call, then 1 + max_revisions drafts
    assert len(drafts_of(model)) == 1 + max_revisions
    assert len(model.calls) == 2 + max_revisions
    assert reply.model_calls == 1 + len(model.calls)  # + understanding
    # the feedback reached the model on each revision
    assert [bool(b.get("feedback")) for b in violator.briefs] == [False, False] + [True] * max_revisions
    # the fallback is the staged (valid) offer, written by the playbook, and it is persisted
    assert reply.type == "proposal"
    assert [(i["sku"], int(i["quantity"]), D(i["unit_price"])) for i in reply.data["items"]] == [
        (staged.sku, staged.quantity, staged.unit_price)]
    assert reply.text == offer_text(reply.data)
    saved = seller.store.get_proposal(reply.data["proposal_id"])
    assert saved is not None and saved.body == reply.data


@pytest.mark.parametrize("max_revisions", [0, 1, 3])
def test_revisions_are_bounded_by_the_config(max_revisions, dd_seller_factory, dd_demo):
    catalog, policy = dd_demo
    violator = Violator(catalog, policy, in_data(lambda p, s: reprice(p, s.floor_price - D("0.01"))))
    model = FunctionModel(violator)
    seller = dd_seller_factory(model, max_revisions=max_revisions)
    nid = seller.start(Buyer(org="acme", region=EU))
    reply = seller.send(nid, text=R6204)
    assert len(drafts_of(model)) == len(violator.drafts) == 1 + max_revisions
    assert len(tripped(reply.records)) == 1 + max_revisions
    assert len(tripped(seller.store.records(nid))) == 1 + max_revisions
    assert reply.type == "proposal" and all(D(i["unit_price"]) >= D("2.77") for i in reply.data["items"])


def test_a_model_that_fixes_itself_on_revision_is_sent(dd_seller_factory, dd_demo):
    catalog, policy = dd_demo
    violator = Violator(catalog, policy, in_text("Our floor is 2.65 EUR, so this is a steal."), fix_after=1,
                        clean_text="Here is our offer for your Lyon plant.")
    model = FunctionModel(violator)
    seller = dd_seller_factory(model)
    nid = seller.start(Buyer(org="acme", region=EU))
    reply = seller.send(nid, text=R6204)
    assert reply.text == "Here is our offer for your Lyon plant."
    assert reply.type == "proposal" and reply.data["items"][0]["sku"] == "BRG-6204"
    guards = guard_records(seller.store.records(nid))
    assert [g["gen_ai.guardrail.tripwire"] for g in guards] == [True, False]
    assert LEAK_TERM in guards[0]["dealdesk.rule_ids"]
    assert not fallbacks(reply.records)
    assert len(drafts_of(model)) == 2
    assert any(LEAK_TERM in f for f in violator.briefs[-1]["feedback"])  # the model was told why
    oracle_ok(reply, dd_demo, [("BRG-6204", 500)])


def test_a_made_up_move_id_is_refused_by_the_tool_and_its_figures_by_the_guardrail(dd_seller_factory, dd_demo):
    catalog, policy = dd_demo
    violator = Violator(catalog, policy, in_data(lambda p, s: reprice(p, D("2.10"))), made_up_move=True)
    model = FunctionModel(violator)
    seller = dd_seller_factory(model)
    nid = seller.start(Buyer(org="acme", region=EU))
    reply = seller.send(nid, text=R6204)
    # the tool refused the move id (the model saw the error)
    first = model.calls[0].reply.tool_calls[0]
    assert first["name"] == "submit_proposal" and first["args"]["move_ids"] == ["M-MADE-UP-1"]
    refusal = next(m for m in model.calls[1].messages if isinstance(m, ToolMessage))
    assert '"ok": false' in refusal.content and '"off_strategy"' in refusal.content
    # the figures it then wrote were blocked as off strategy, below floor, ...
    for rec in tripped(seller.store.records(nid)):
        assert {"guardrail.off_strategy", "policy.products[BRG-6204].floor_price"} <= set(rec["dealdesk.rule_ids"])
    assert len(drafts_of(model)) == 1 + SellerConfig().max_revisions
    # the model staged nothing: the fallback is the offline playbook's offer (the strategy's recommended move,
    # staged through submit_proposal and checked by the guardrail), never the model's 2.10 nor the schema hint
    staged = recommended(violator.briefs[0])[0]
    assert reply.type == "proposal" and "2.10" not in reply.text and SCHEMA_HINT not in reply.text
    assert [(i["sku"], int(i["quantity"]), D(i["unit_price"])) for i in reply.data["items"]] == [
        (staged.sku, staged.quantity, staged.unit_price)]
    assert reply.text == offer_text(reply.data)
    assert seller.store.get_negotiation(nid).current_proposal == reply.data["proposal_id"]
    oracle_ok(reply, dd_demo, [("BRG-6204", 500)])


def test_made_up_move_then_words_only(dd_seller_factory, dd_demo):
    catalog, policy = dd_demo
    violator = Violator(catalog, policy, in_text("Done: 2.10 EUR each, as you asked."), made_up_move=True)
    seller = dd_seller_factory(FunctionModel(violator))
    nid = seller.start(Buyer(org="acme", region=EU))
    reply = seller.send(nid, text=R6204)
    assert reply.type == "proposal" and "2.10" not in reply.text  # the playbook's offer, not the words
    assert all(UNTRACED in r["dealdesk.rule_ids"] for r in tripped(reply.records))


def test_without_staging_the_fallback_is_the_playbooks_answer_to_the_counter(dd_seller_factory, dd_demo):
    """Turn 1 is a normal offer; in turn 2 the model writes a below-floor offer without submit_proposal. The
    fallback answers the counter-offer as the offline playbook does (the strategy's recommended move, a new
    version of the proposal); re-sending the standing offer comes after it."""
    catalog, policy = dd_demo
    violator = Violator(catalog, policy, in_data(lambda p, s: reprice(p, s.floor_price - D("0.50"))), stage=False,
                        normal_unless="2.90")
    model = FunctionModel(violator)
    seller = dd_seller_factory(model)
    nid = seller.start(Buyer(org="acme", region=EU))
    first = seller.send(nid, text=R6204)
    assert first.type == "proposal" and not tripped(first.records)
    model.reset()
    second = seller.send(nid, text="can you do 2.90?")
    assert len(tripped(second.records)) == 1 + SellerConfig().max_revisions
    assert all("policy.products[BRG-6204].floor_price" in r["dealdesk.rule_ids"] for r in tripped(second.records))
    assert len(model.calls) == 1 + SellerConfig().max_revisions  # no tool calls this turn
    move = recommended(model.calls[-1].brief)[0]
    assert second.type == "proposal" and second.data["proposal_id"] == first.data["proposal_id"]
    assert second.data["version"] == first.data["version"] + 1
    assert [(i["sku"], int(i["quantity"]), D(i["unit_price"])) for i in second.data["items"]] == [
        (move.sku, move.quantity, move.unit_price)]
    assert D(second.data["items"][0]["unit_price"]) >= D("2.77")  # the strategy's, not the model's figures
    assert seller.store.get_negotiation(nid).current_proposal == first.data["proposal_id"]
    oracle_ok(second, dd_demo, [("BRG-6204", 500)])


def test_without_staging_or_standing_offer_the_fallback_is_the_playbooks_offer(dd_seller_factory, dd_demo):
    catalog, policy = dd_demo
    violator = Violator(catalog, policy, in_data(lambda p, s: reprice(p, D("0.01"))), stage=False)
    seller = dd_seller_factory(FunctionModel(violator))
    nid = seller.start(Buyer(org="acme", region=EU))
    reply = seller.send(nid, text=R6204)
    move = recommended(violator.briefs[0])[0]
    assert reply.type == "proposal" and [(i["sku"], D(i["unit_price"])) for i in reply.data["items"]] == [
        (move.sku, move.unit_price)]
    assert "0.01" not in reply.text and not reply.text.endswith(SCHEMA_HINT)
    assert len(tripped(seller.store.records(nid))) == 1 + SellerConfig().max_revisions


# --- regressions --------------------------------------------------------------------------------------------


# Was a bug (fixed in 218646b): prepare's typed errors carried figures with no facts, so the guardrail blocked
# them and the buyer got the schema hint instead of the error code.
@pytest.mark.parametrize("message, code", [
    ({"text": "need 100 x BRG-6206"}, "insufficient_inventory"),
    ({"text": "need 100 x MTR-IE3-4K0"}, "invalid_quantity"),
    ({"data": {"type": "rfq", "items": [{"sku": "BRG-GRS-EP2", "quantity": "5"}]}}, "invalid_quantity"),
], ids=["text_inventory", "text_max_quantity", "data_moq"])
def test_validation_errors_reach_the_buyer_with_their_code(message, code, dd_seller_factory):
    seller = dd_seller_factory()  # the offline model: no misbehaving double needed
    nid = seller.start(Buyer(org="acme", region=EU))
    reply = seller.send(nid, **message)
    assert not tripped(reply.records), tripped(reply.records)[0]["gen_ai.guardrail.violations"]
    assert reply.type == "error" and reply.data["code"] == code


# --- regressions: bugs found by these tests, fixed ---------------------------------


def test_a_data_block_cannot_take_over_another_buyers_proposal(dd_seller_factory, dd_demo):
    catalog, policy = dd_demo
    victim_seller = dd_seller_factory()
    victim = victim_seller.start(Buyer(org="victim", region=EU))
    theirs = victim_seller.send(victim, text=R6204).data
    assert theirs["type"] == "proposal"

    def hijack(messages, tools):
        if "submit_proposal" not in {r.get("tool") for r in tool_results(messages)}:
            return playbook(messages, tools)  # stage the legitimate recommended move
        forged = {**copy.deepcopy(theirs), "version": theirs["version"] + 1, "alternatives": None}
        return final("Here is our offer.", forged)

    from langgraph.checkpoint.memory import InMemorySaver

    from agent.service import Seller
    attacker_seller = Seller(catalog, policy, victim_seller.store, model=FunctionModel(hijack),
                             checkpointer=InMemorySaver())
    attacker = attacker_seller.start(Buyer(org="attacker", region=EU))
    reply = attacker_seller.send(attacker, text=R6204)
    row = victim_seller.store.get_proposal(theirs["proposal_id"])
    assert (row.negotiation_id, row.buyer_org, row.version) == (victim, "victim", 1), "victim's proposal taken over"
    assert reply.data is None or reply.data.get("proposal_id") != theirs["proposal_id"]


def test_an_offer_sent_to_the_buyer_is_always_persisted(dd_seller_factory, dd_demo):
    catalog, policy = dd_demo

    def unstaged(messages, tools):
        return final("Here is our offer.", proposal_for(catalog, policy, recommended(brief_of(messages))))

    seller = dd_seller_factory(FunctionModel(unstaged))
    nid = seller.start(Buyer(org="acme", region=EU))
    reply = seller.send(nid, text=R6204)
    if reply.type == "proposal":
        assert seller.store.get_proposal(reply.data["proposal_id"]) is not None, "offer sent but not saved"
        accepted = seller.send(nid, data={"type": "accept", "proposal_id": reply.data["proposal_id"],
                                          "version": reply.data["version"]})
        assert accepted.type == "deal"


LEAK = "our cost is 1.42 EUR and our floor is 2.65 EUR"


def _forged_catalog(catalog):
    from tools.catalog.jsonld import product_jsonld

    doc = product_jsonld(catalog, catalog.products["BRG-6204"])
    doc["offers"][0]["price"] = "0.01"
    doc["description"] = f"Sealed bearing; {LEAK}."
    return {"type": "catalog_results", "products": [doc]}


@pytest.mark.parametrize("kind", ["error_message", "closed_reason", "item_name", "catalog_results"])
def test_free_text_in_a_model_data_part_is_checked(kind, dd_seller_factory, dd_demo):
    catalog, policy = dd_demo

    def fn(messages, tools):
        if kind == "error_message":
            return final("Sorry.", {"type": "error", "code": "no_valid_offer", "message": LEAK})
        if kind == "closed_reason":
            return final("Closed.", {"type": "closed", "reason": LEAK})
        if kind == "catalog_results":
            return final("Matching products: BRG-6204.", _forged_catalog(catalog))
        if "submit_proposal" not in {r.get("tool") for r in tool_results(messages)}:
            return playbook(messages, tools)
        p = proposal_for(catalog, policy, recommended(brief_of(messages)))
        p["items"][0]["name"] = f"Bearing ({LEAK})"
        return final("Here is our offer.", p)

    seller = dd_seller_factory(FunctionModel(fn))
    nid = seller.start(Buyer(org="acme", region=EU))
    text = "do you have 20 mm ball bearings?" if kind == "catalog_results" else R6204
    reply = seller.send(nid, text=text)
    sent = repr(reply.data) + reply.text
    assert "1.42" not in sent and "2.65" not in sent and "'0.01'" not in sent, reply.data
    assert tripped(seller.store.records(nid))
    oracle_ok(reply, dd_demo, [("BRG-6204", 500)])
