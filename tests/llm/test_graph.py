"""The real SellerGraph driving ChatOpenAI over HTTP: the tool loop, drafting, the guardrail, failures and the budget.

Every test replays a cassette (tests/llm/cassettes/) at the local fake server and
counts what reached it.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from langchain_core.messages import AIMessage

from agent.models.resilient import FALLBACK_KEY, LOCAL_KEY, ResilientModel
from agent.service import Buyer

FREE_TEXT = "Hello! Our Lyon plant needs 500 of your 6204 sealed bearings. A competitor quoted 2.85 EUR, what can you do?"
READABLE = "We need 500 x BRG-6204. A competitor quoted 2.85 EUR, can you match it?"  # the parser can read it
ARGUED_COUNTER = "2.85 is our budget, but we could commit to the same volume every quarter. Meet us at 2.95?"
TRIP = "gen_ai.guardrail.tripwire"


def start(seller) -> str:
    return seller.start(Buyer(org="acme-llm", region="EU"))


def turn_messages(seller, nid: str) -> list[Any]:
    messages = seller.graph.conversation(nid)
    last = max(i for i, m in enumerate(messages) if m.type == "human")
    return messages[last + 1:]


def guardrail_records(reply) -> list[dict[str, Any]]:
    return [r for r in reply.records if r.get("gen_ai.operation.name") == "guardrail"]


def agent_records(reply) -> list[dict[str, Any]]:
    return [r for r in reply.records if r.get("gen_ai.operation.name") == "chat"]


def recommended_move(reply) -> dict[str, Any]:
    plan = next(r for r in reply.records if r.get("gen_ai.operation.name") == "plan")
    return plan["dealdesk.figures"]["lines"][0]


# --- the happy paths ---------------------------------------------------------------------------------


def test_tool_loop_through_the_real_graph(server, model_for, seller_for) -> None:
    model = model_for()
    seller = seller_for(model)
    nid = start(seller)
    first = seller.send(nid, data={"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "500"}]})
    assert first.type == "proposal" and server.count() == 0  # structured turn: no model call
    player = server.use("tool_loop")
    reply = seller.send(nid, text=ARGUED_COUNTER)
    assert player.errors == [] and player.remaining == 0
    assert [r.kind for r in server.requests] == ["understand", "chat", "chat"]
    # the model's move: a move id from the brief, the reply written with it
    assert reply.type == "proposal" and reply.data["version"] == 2
    item = reply.data["items"][0]
    assert reply.text == (f"Thanks for the volume outlook. For 500 x BRG-6204 we can offer {item['unit_price']} EUR "
                          f"each, {item['line_total']} EUR for the line, payment NET30.")
    assert [r.get("dealdesk.tool_calls") for r in agent_records(reply)] == [["calculate_price"], ["submit_proposal"], None]
    assert [g[TRIP] for g in guardrail_records(reply)] == [False]
    understand = next(r for r in reply.records if r["node"] == "understand")
    assert understand["dealdesk.intent"] == "counter_offer" and understand["dealdesk.intent.source"] == "model"
    final = turn_messages(seller, nid)[-2]
    assert isinstance(final, AIMessage) and final.response_metadata[LOCAL_KEY] == "drafted_with_tool_call"
    # the wire: the typed tools (no injected state), the seller prompt, the compact brief, a short history
    chat = server.requests[1].body
    assert [t["function"]["name"] for t in chat["tools"]] == ["catalog_lookup", "calculate_price", "submit_proposal"]
    assert all("state" not in t["function"]["parameters"].get("properties", {}) for t in chat["tools"])
    system = chat["messages"][0]["content"]
    assert "You are the seller agent" in system and "How to work:" in system and "TURN BRIEF (JSON):" in system
    brief = json.loads(system.split("TURN BRIEF (JSON):", 1)[1])
    assert brief["lines"][0]["recommended"] and "rule_ids" not in json.dumps(brief)
    roles = [m["role"] for m in chat["messages"]]
    assert roles == ["system", "user", "assistant", "user"]  # the earlier turn: buyer data and seller reply only
    assert chat["messages"][2]["content"].endswith("; NET30]") and "[proposal " in chat["messages"][2]["content"]
    assert chat["messages"][3]["content"] == f"<buyer_message>\n{ARGUED_COUNTER}\n</buyer_message>"
    third = server.requests[2].body["messages"]
    assert [m["role"] for m in third][-2:] == ["assistant", "tool"] and third[-2]["tool_calls"][0]["function"]["name"] \
        == "calculate_price"
    assert all(isinstance(m.get("content"), (str, type(None))) for m in third)


def test_reply_drafting_from_prefetched_catalog_facts(server, model_for, seller_for) -> None:
    player = server.use("reply_drafting")
    seller = seller_for(model_for())
    nid = start(seller)
    reply = seller.send(nid, text="Before we go on: would that bearing fit the pillow block unit you sell?")
    assert player.errors == [] and [r.kind for r in server.requests] == ["understand", "chat"]
    assert reply.text.startswith("Yes: BRG-6204 is listed as compatible with the pillow block unit BRG-UCP204")
    assert [g[TRIP] for g in guardrail_records(reply)] == [False]
    chat = server.requests[1].body["messages"]
    lookups = [c["function"] for c in chat[-3]["tool_calls"]]
    assert [json.loads(f["arguments"]) for f in lookups] == [{"sku": "BRG-6204"}, {"sku": "BRG-UCP204"}]
    assert [m["role"] for m in chat[-2:]] == ["tool", "tool"]
    prefetch = next(m for m in turn_messages(seller, nid) if isinstance(m, AIMessage) and m.tool_calls)
    assert prefetch.response_metadata[LOCAL_KEY] == "prefetch"


def test_a_question_answered_with_the_understanding_call(server, model_for, seller_for) -> None:
    player = server.use("question_answered")
    seller = seller_for(model_for())
    reply = seller.send(start(seller), text="What is the bore of the 6205 bearing, and how fast can you ship it?")
    assert player.errors == [] and server.count() == 1
    assert reply.text == "The BRG-6205 has a bore of 25 mm and ships in 2 days."
    assert [g[TRIP] for g in guardrail_records(reply)] == [False]  # checked against the looked-up facts


def test_structured_and_clear_text_turns_make_no_model_call(server, model_for, seller_for) -> None:
    seller = seller_for(model_for())
    nid = start(seller)
    for message in ({"data": {"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "500"}]}},
                    {"text": "Can you do 2.85 EUR for 500 x BRG-6204?"}, {"text": "What is the lead time for BRG-6204?"},
                    {"text": "We accept your offer."}):
        reply = seller.send(nid, **message)
        assert reply.type in ("proposal", "deal", None)
    assert reply.type == "deal" and server.count() == 0


# --- the guardrail has the last word ---------------------------------------------------------------


def _guarded(server, model_for, seller_for, cassette: str, **variables: Any):
    player = server.use(cassette, **variables)
    seller = seller_for(model_for(), max_revisions=1)
    reply = seller.send(start(seller), text=FREE_TEXT)
    assert player.errors == [] and player.remaining == 0
    return reply


def test_forty_percent_off_in_words_never_goes_out(server, model_for, seller_for) -> None:
    reply = _guarded(server, model_for, seller_for, "guardrail_forty_percent")
    trips = guardrail_records(reply)
    assert [g[TRIP] for g in trips] == [True, True]
    assert all("guardrail.text.untraced_figure" in g["dealdesk.rule_ids"] for g in trips)
    assert "40%" not in reply.text and "1.95" not in reply.text
    assert reply.type == "proposal" and Decimal(reply.data["items"][0]["unit_price"]) >= \
        Decimal(recommended_move(reply)["floor"])
    assert any(r.get("dealdesk.fallback") for r in reply.records)  # the safe deterministic reply
    assert Decimal(reply.data["items"][0]["discount_percent"]) < 40


def test_a_price_below_the_floor_in_the_text_is_revised(server, model_for, seller_for, surface) -> None:
    floor = surface("BRG-6204", 500).floor_price
    below = floor - Decimal("0.50")
    reply = _guarded(server, model_for, seller_for, "guardrail_below_floor", below=below)
    assert [g[TRIP] for g in guardrail_records(reply)] == [True, False]
    assert str(below) not in reply.text
    price = reply.data["items"][0]["unit_price"]
    assert Decimal(price) >= floor and reply.text == f"For 500 x BRG-6204 we can offer {price} EUR each, payment NET30."


def test_the_floor_never_leaks(server, model_for, seller_for, surface) -> None:
    floor = surface("BRG-6204", 500).floor_price
    reply = _guarded(server, model_for, seller_for, "guardrail_leak_floor", floor=floor)
    trips = guardrail_records(reply)
    assert [g[TRIP] for g in trips] == [True, True]
    assert any(r.startswith("guardrail.text.leak") for g in trips for r in g["dealdesk.rule_ids"])
    assert str(floor) not in reply.text and "floor" not in reply.text.casefold()
    assert reply.type == "proposal"


def test_an_invented_move_is_refused_by_the_tool_and_counted(server, model_for, seller_for) -> None:
    player = server.use("invented_move")
    model = model_for()
    seller = seller_for(model)
    nid = start(seller)
    reply = seller.send(nid, text=FREE_TEXT)
    assert player.errors == [] and server.count() == 3
    assert reply.type == "proposal" and model.usage(nid).errors["tool:off_strategy"] == 1
    assert "off_strategy" in json.dumps(server.requests[2].body["messages"][-1])


# --- garbage, retries, timeouts, budget -----------------------------------------------------------------


@pytest.mark.parametrize("cassette,reason", [("garbage_tool_call", "malformed_tool_call"),
                                             ("unknown_tool", "unknown_tool")])
def test_unusable_tool_calls_fall_back_to_offline_for_that_call(server, model_for, seller_for, cassette,
                                                               reason) -> None:
    player = server.use(cassette)
    model = model_for()
    seller = seller_for(model)
    nid = start(seller)
    reply = seller.send(nid, text=FREE_TEXT)
    assert player.errors == [] and server.count() == 2
    assert reply.type == "proposal" and not any(g[TRIP] for g in guardrail_records(reply))
    fallback = next(m for m in turn_messages(seller, nid) if isinstance(m, AIMessage) and m.tool_calls)
    assert fallback.response_metadata[FALLBACK_KEY] == "offline" and fallback.response_metadata["reason"] == reason
    assert fallback.response_metadata["dealdesk_model_calls"] == 1  # the request whose answer was unusable
    assert agent_records(reply)[0].get("dealdesk.model.fallback") == "offline"
    assert model.usage(nid).errors[reason] == 1 and model.usage(nid).fallbacks[reason] == 1


def test_garbage_understanding_still_answers(server, model_for, seller_for) -> None:
    from .fake_openai import load_cassette

    garbage = json.loads(json.dumps(load_cassette("garbage_understanding")))
    garbage["interactions"][0]["times"] = 2  # json_schema, then the one function-calling try: not JSON either
    server.use(garbage)
    model = model_for()
    seller = seller_for(model)
    nid = start(seller)
    reply = seller.send(nid, text=READABLE)
    assert server.count() == 2 and reply.type == "proposal"
    understand = next(r for r in reply.records if r["node"] == "understand")
    assert understand["dealdesk.intent.source"] == "offline" and understand["dealdesk.model_calls"] == 2
    assert model.usage(nid).errors["invalid_json"] == 2


def test_429_and_5xx_are_retried_with_backoff(server, model_for, seller_for) -> None:
    player = server.use("retries")
    sleeps: list[float] = []
    model = model_for(attempts=3).model_copy(update={"sleep": sleeps.append})  # the waits chosen, not slept
    seller = seller_for(model)
    nid = start(seller)
    reply = seller.send(nid, text=FREE_TEXT)
    assert player.errors == [] and player.remaining == 0
    assert [(r.kind, r.status) for r in server.requests] == [
        ("understand", 429), ("understand", 500), ("understand", 200), ("chat", 503), ("chat", 200)]
    assert reply.type == "proposal" and reply.text.startswith("For 500 x BRG-6204 we can offer")
    assert len(sleeps) == 3 and all(0 <= s <= 0.05 for s in sleeps)
    usage = model.usage(nid)
    assert usage.calls == 5 and not usage.fallbacks


def test_persistent_failure_falls_back_to_offline_and_is_recorded(server, model_for, seller_for) -> None:
    server.use("server_down")
    model = model_for(attempts=3)
    seller = seller_for(model)
    nid = start(seller)
    reply = seller.send(nid, text=READABLE)
    assert server.count() == 3 and reply.type == "proposal"
    understand = next(r for r in reply.records if r["node"] == "understand")
    assert understand["dealdesk.intent.source"] == "offline"
    assert model.usage(nid).fallbacks["server_error"] == 1


@pytest.mark.parametrize("limit,reason", [({"budget_calls": 1}, "budget_calls"),
                                          ({"budget_tokens": 5000}, "budget_tokens")])
def test_an_exhausted_budget_falls_back_to_offline(server, model_for, seller_for, limit, reason) -> None:
    server.use("budget")
    model = model_for(**limit)
    assert isinstance(model, ResilientModel)
    seller = seller_for(model)
    nid = start(seller)
    reply = seller.send(nid, text=FREE_TEXT)
    assert server.count() == 1 and reply.type == "proposal"
    first = agent_records(reply)[0]
    assert first["dealdesk.model.fallback"] == "offline" and first["dealdesk.model.fallback_reason"] == reason
    assert model.usage(nid).fallbacks[reason] == 1
    # the budget is per negotiation: another one still reaches the model
    server.use("budget")
    other = start(seller)
    seller.send(other, text=FREE_TEXT)
    assert server.count("understand") == 1 and model.usage(other).calls >= 1
