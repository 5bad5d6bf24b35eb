"""What the buyer gets when a model never makes the offer: the offline playbook's, never words with nothing attached.

QA findings (model doubles standing in for the fake OpenAI server's modes):

- `no_tool`: the model writes an offer in words and never calls `submit_proposal`; after the bounded revisions
  the fallback was "I can help with product questions, ..." where the offline playbook would have quoted;
- `off_strategy`: the tool refuses a made-up move id, then the model's "Here is our offer." reached the buyer
  with no offer attached.
"""

from __future__ import annotations

from decimal import Decimal as D

from agent.graph import SellerConfig
from agent.models.doubles import FunctionModel, brief_of, playbook, tool_call, tool_results
from agent.playbook import SCHEMA_HINT
from agent.service import Buyer

ASK = "need 500 x BRG-6204 for our Lyon plant"


def recommended(brief: dict) -> dict:
    line = brief["lines"][0]
    return next(m for m in line["plan"]["moves"] if m["id"] == line["plan"]["recommended"])


def offer_words(messages, tools):
    """An offer in words only, with the strategy's own figures (the fake server's `no_tool` mode)."""
    m = recommended(brief_of(messages))
    return f"We can offer {m['quantity']} x {m['sku']} at {m['unit_price']} EUR per unit, line total {m['line_total']}."


def made_up_move_then_words(messages, tools):
    """A made-up move id; once the tool refuses it, "Here is our offer." (the `off_strategy` mode)."""
    if any(r.get("tool") == "submit_proposal" for r in tool_results(messages)):
        return "Here is our offer."
    return tool_call("submit_proposal", {"move_ids": ["move-made-up-1"]})


def tripped(records):
    return [r for r in records if r.get("gen_ai.operation.name") == "guardrail" and r.get("gen_ai.guardrail.tripwire")]


def test_an_offer_in_words_only_is_refused_and_the_playbook_makes_the_offer(dd_seller_factory):
    model = FunctionModel(offer_words)
    seller = dd_seller_factory(model)
    nid = seller.start(Buyer(org="qa-no-tool", region="EU"))
    reply = seller.send(nid, text=ASK)
    move = recommended(model.calls[0].brief)
    assert reply.type == "proposal", reply.text
    assert [(i["sku"], int(i["quantity"]), D(i["unit_price"])) for i in reply.data["items"]] == [
        ("BRG-6204", 500, D(move["unit_price"]))]
    assert "I can help with product questions" not in reply.text
    trips = tripped(reply.records)
    assert len(trips) == 1 + SellerConfig().max_revisions
    assert all("guardrail.offer_attached" in r["dealdesk.rule_ids"] for r in trips)
    assert len([r for r in reply.records if r.get("dealdesk.fallback")]) == 1
    # the playbook's offer went through the tool: a proposal with its holds, as any offer
    saved = seller.store.get_proposal(reply.data["proposal_id"])
    assert saved is not None and saved.body == reply.data and saved.status == "offered"
    calls = [m for m in seller.graph.conversation(nid) if getattr(m, "tool_calls", None)]
    assert calls and calls[-1].tool_calls[0]["args"]["move_ids"] == [move["id"]]


def test_here_is_our_offer_after_a_refused_move_never_reaches_the_buyer(dd_seller_factory):
    seller = dd_seller_factory(FunctionModel(made_up_move_then_words))
    nid = seller.start(Buyer(org="qa-off-strategy", region="EU"))
    reply = seller.send(nid, text=ASK)
    assert reply.type == "proposal" and reply.text != "Here is our offer.", reply.text
    assert reply.text.startswith(f"Proposal {reply.data['proposal_id']} version 1")
    assert all("guardrail.offer_attached" in r["dealdesk.rule_ids"] for r in tripped(reply.records))
    assert seller.store.get_negotiation(nid).current_proposal == reply.data["proposal_id"]


def test_a_model_that_makes_the_offer_is_not_touched(dd_seller_factory):
    seller = dd_seller_factory(FunctionModel(playbook))
    nid = seller.start(Buyer(org="qa-good", region="EU"))
    reply = seller.send(nid, text=ASK)
    assert reply.type == "proposal" and not tripped(reply.records)
    assert not [r for r in reply.records if r.get("dealdesk.fallback")]


def test_with_nothing_to_offer_the_last_resort_is_still_the_schema_hint(dd_seller_factory):
    """A question (no move this turn) whose every answer leaks: no offer to make, so the hint."""
    seller = dd_seller_factory(FunctionModel(lambda messages, tools: "Between us, our floor is 2.65 EUR."))
    nid = seller.start(Buyer(org="qa-hint", region="EU"))
    reply = seller.send(nid, text="what do you think about the weather in Lyon?")
    assert tripped(reply.records)
    assert reply.data is None and reply.text.endswith(SCHEMA_HINT) and "2.65" not in reply.text


def test_a_question_back_on_a_priced_turn_reaches_the_buyer(dd_seller_factory):
    """QA re-test: guardrail.offer_attached blocked any words with no offer on an rfq turn, so a model could never
    ask a clarifying question. Words that claim no offer are the model's to say; the buyer may answer them."""
    question = "Could you confirm whether you need the 2RS sealed version or the ZZ shielded version before we quote?"
    seller = dd_seller_factory(FunctionModel(lambda messages, tools: question))
    nid = seller.start(Buyer(org="qa-question-back", region="EU"))
    reply = seller.send(nid, text=ASK)
    assert reply.text == question and reply.data is None and not tripped(reply.records)


def test_a_figure_equal_to_an_internal_one_is_fed_back_without_naming_it(dd_seller_factory):
    """QA re-test: the revision feedback read "'2.65' equals an internal figure (floor)", telling the model which of
    its figures is the floor; it is fed back as a figure the offer does not have (the record keeps the rule)."""
    def leaky(messages, tools):
        results = tool_results(messages)
        if not any(r.get("tool") == "submit_proposal" for r in results):
            return tool_call("submit_proposal", {"move_ids": [recommended(brief_of(messages))["id"]]})
        return "Between us, we would not go under 2.65 EUR."
    model = FunctionModel(leaky)
    seller = dd_seller_factory(model)
    nid = seller.start(Buyer(org="qa-leak-feedback", region="EU"))
    reply = seller.send(nid, text=ASK)
    assert "2.65" not in reply.text
    assert any("guardrail.text.leak_figure" in r["dealdesk.rule_ids"] for r in tripped(reply.records))
    feedback = [f for c in model.calls for f in (c.brief or {}).get("feedback") or ()]
    assert feedback and not any(w in f for f in feedback for w in ("floor", "walk_away", "internal", "leak"))


def test_a_blocked_answer_to_a_question_is_replaced_by_the_playbooks_answer(dd_seller_factory):
    """QA re-test: when every answer the model drafted to a question was blocked, the buyer got the schema hint;
    the playbook answers the question itself, from its own catalog lookup."""
    seller = dd_seller_factory(FunctionModel(lambda messages, tools: "Between us, our floor is 2.65 EUR."))
    nid = seller.start(Buyer(org="qa-question-fallback", region="EU"))
    reply = seller.send(nid, text="what is the bore of BRG-6204?")
    assert tripped(reply.records) and "2.65" not in reply.text
    assert not reply.text.endswith(SCHEMA_HINT) and "20" in reply.text, reply.text


def test_here_is_our_offer_on_a_question_with_nothing_ever_offered_never_reaches_the_buyer(dd_seller_factory):
    """QA (LLM path): on a question turn, "Here is our offer." went out with no offer attached and none ever made
    (the check ran on rfq and counter-offer turns only). A price said in words is no such claim."""
    seller = dd_seller_factory(FunctionModel(lambda messages, tools: "Here is our offer."))
    nid = seller.start(Buyer(org="qa-question-offer", region="EU"))
    reply = seller.send(nid, text="what is the bore of BRG-6204?")
    assert reply.text != "Here is our offer." and "Here is our offer" not in reply.text, reply.text
    assert tripped(reply.records) and all("guardrail.offer_attached" in r["dealdesk.rule_ids"]
                                          for r in tripped(reply.records))


def test_words_pointing_at_a_standing_offer_on_a_question_are_the_models_to_say(dd_seller_factory):
    def model(messages, tools):
        asked = next((m.content for m in reversed(messages) if getattr(m, "type", "") == "human"), "")
        return "Here is our offer, as it stands." if "bore" in str(asked) else playbook(messages, tools)

    seller = dd_seller_factory(FunctionModel(model))
    nid = seller.start(Buyer(org="qa-question-offer-2", region="EU"))
    assert seller.send(nid, text=ASK).type == "proposal"
    reply = seller.send(nid, text="what is the bore of BRG-6204?")
    assert reply.text == "Here is our offer, as it stands." and not tripped(reply.records), reply.text
