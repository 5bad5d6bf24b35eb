"""A real model (ChatOpenAI over HTTP) whose agent reply is unusable: the buyer still gets the offline offer.

The QA findings: an empty, null or refused reply, a reply of two megabytes, an offer in words with no
`submit_proposal`, and "Here is our offer." after an off-strategy move id. Each is answered by the offline
playbook (the strategy's recommended move, through the same tool and guardrail), and the record says why.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent.service import Buyer

from .fake_openai import Reply, brief_from_body, completion, request_kind

ASK = "Hi, we need 500 x BRG-6204 for a long-term project, what can you offer?"  # an argument: the model reads it


def intent(**fields: Any) -> dict[str, Any]:
    blank = {"kind": "unknown", "items": [], "proposal_id": None, "version": None, "payment_terms": None,
             "delivery_date": None, "currency": None, "buyer_reference": None, "query": None, "category": None,
             "specs": [], "question_topic": None, "question_skus": [], "question_spec": None,
             "discount_percent": None, "total_price": None, "reason": None, "arguments": [], "notes": [],
             "answer": None}
    return {**blank, **fields}


RFQ = intent(kind="rfq", items=[{"sku": "BRG-6204", "quantity": 500, "unit_price": None}],
             arguments=["a long-term project"])


def recommended(body: dict[str, Any]) -> dict[str, Any]:
    line = (brief_from_body(body) or {})["lines"][0]
    return next(m for m in line["moves"] if m["id"] == line["recommended"])


def words(body: dict[str, Any]) -> str:
    m = recommended(body)
    return f"We can offer {m['quantity']} x {m['sku']} at {m['unit_price']} EUR per unit, line total {m['line_total']}."


def call(name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"id": "call_qa1", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


# What the model answers the agent step with (the first step; after a tool result, `AFTER_TOOL`).
AGENT = {
    "empty": lambda body: {"content": ""},
    "null_content": lambda body: {"content": None},
    "refusal": lambda body: {"content": None, "refusal": "I'm sorry, I can't help with that."},
    "huge": lambda body: {"content": "We can offer. " + "blah " * 400_000},
    "no_tool": lambda body: {"content": words(body)},
    "off_strategy": lambda body: {"content": words(body), "tool_calls": [call("submit_proposal",
                                                                               {"move_ids": ["move-made-up-1"]})]},
}
AFTER_TOOL = "Here is our offer."


def handler(mode: str):
    def answer(body: dict[str, Any], headers: dict[str, str]) -> Reply:
        if request_kind(body) == "understand":
            return Reply(200, completion({"content": json.dumps(RFQ)}, body))
        if body["messages"][-1]["role"] == "tool":
            return Reply(200, completion({"content": AFTER_TOOL}, body))
        return Reply(200, completion(AGENT[mode](body), body))

    return answer


def chat_records(reply) -> list[dict[str, Any]]:
    return [r for r in reply.records if r.get("gen_ai.operation.name") == "chat"]


def send(server, model_for, seller_for, mode: str):
    server.reset(handler(mode))
    model = model_for()
    seller = seller_for(model)
    nid = seller.start(Buyer(org=f"qa-{mode}", region="EU"))
    return model, nid, seller.send(nid, text=ASK)


@pytest.mark.parametrize("mode,reason", [("empty", "empty_reply"), ("null_content", "empty_reply"),
                                         ("refusal", "refusal"), ("huge", "reply_too_long")])
def test_an_unusable_reply_is_answered_by_the_offline_model(server, model_for, seller_for, mode, reason) -> None:
    model, nid, reply = send(server, model_for, seller_for, mode)
    assert [r.kind for r in server.requests] == ["understand", "chat"]  # one agent request: no retry of garbage
    assert reply.type == "proposal", reply.text
    assert reply.data["items"][0]["sku"] == "BRG-6204" and int(reply.data["items"][0]["quantity"]) == 500
    assert reply.text.startswith("Proposal ") and len(reply.text) < 1000 and "blah" not in reply.text
    first = chat_records(reply)[0]
    assert first["dealdesk.model.fallback"] == "offline" and first["dealdesk.model.fallback_reason"] == reason
    assert first["dealdesk.model_calls"] == 1 and first["dealdesk.tool_calls"] == ["submit_proposal"]
    assert model.usage(nid).fallbacks[reason] == 1


@pytest.mark.parametrize("mode", ["no_tool", "off_strategy"])
def test_words_with_no_offer_attached_never_reach_the_buyer(server, model_for, seller_for, mode) -> None:
    model, nid, reply = send(server, model_for, seller_for, mode)
    assert reply.type == "proposal", reply.text
    assert reply.text != AFTER_TOOL and reply.text.startswith("Proposal ")
    assert reply.data["items"][0]["sku"] == "BRG-6204" and int(reply.data["items"][0]["quantity"]) == 500
    trips = [r for r in reply.records if r.get("gen_ai.operation.name") == "guardrail"
             and r.get("gen_ai.guardrail.tripwire")]
    assert trips and all("guardrail.offer_attached" in r["dealdesk.rule_ids"] for r in trips)
    assert len(trips) == 3  # the first draft and the two revisions; then the playbook's offer
    assert len([r for r in reply.records if r.get("dealdesk.fallback")]) == 1


def test_the_reply_limit_leaves_room_for_the_offline_playbooks_longest_replies(model_for) -> None:
    model = model_for()
    assert model.settings.max_reply_chars == 2000
    # the longest offline replies measured: a 50-product search (about 750 characters), an offer stating its
    # lead time (about 490), and about 75 more per line of a multi-line offer (200 allowed per line)
    assert model.reply_limit(None) >= 2 * 750
    assert model.reply_limit({"lines": [{}] * 20}) >= 2 * (490 + 75 * 20)


def test_a_long_answer_drafted_with_the_intent_is_not_cut_short(server, model_for, seller_for) -> None:
    """The understanding's `answer` beyond the limit is not kept (it was cut at 2000 characters mid-sentence)."""
    long_answer = "The 6204 fits. " * 400

    def answer(body: dict[str, Any], headers: dict[str, str]) -> Reply:
        if request_kind(body) == "understand":
            return Reply(200, completion({"content": json.dumps(intent(
                kind="question", question_topic="other", answer=long_answer))}, body))
        return Reply(200, completion({"content": "It is a sealed deep groove ball bearing."}, body))

    server.reset(answer)
    model = model_for()
    seller = seller_for(model)
    nid = seller.start(Buyer(org="qa-answer", region="EU"))
    reply = seller.send(nid, text="Hello, tell me something about your bearings for our long-term project?")
    assert "The 6204 fits." not in reply.text and len(reply.text) < 2000
    assert model.usage(nid).errors["answer_too_long"] == 1
