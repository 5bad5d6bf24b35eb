"""QA of the LLM path against a scripted OpenAI-compatible server (session 20).

What a misbehaving endpoint did before these fixes:

- a tool call with no `id` (some OpenAI-compatible servers send none): the tools node could not build the
  ToolMessage and the turn ended in a pydantic ValidationError (a traceback in `dealdesk chat`);
- a structured answer of a known kind but off the schema's shape (`"items": "lots"`, an item that is a string,
  `"notes": 5`), which a server that ignores `strict` or function calling may send: an AttributeError or
  TypeError out of the understand node, the turn lost;
- HTTP 200 with no chat completion in it (an empty `choices` list, a null message, an error object, a body
  that is not JSON): the fallback's reason was a bare `error`;
- an answer that could not be used (a malformed tool call): its tokens were spent but the decision record
  said 0.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage

from agent.models.resilient import with_call_ids
from agent.service import Buyer

from .fake_openai import Reply, completion, request_kind
from .test_unusable_replies import ASK, RFQ, recommended


def words(body: dict[str, Any]) -> str:
    m = recommended(body)
    return f"We can offer {m['quantity']} x {m['sku']} at {m['unit_price']} EUR per unit."


def handler(agent: Any, understood: Any = None):
    """understand -> `understood` (RFQ by default) as json_schema content; the agent step -> `agent(body)`, a Reply
    or an assistant message; after a tool result, a short text."""
    def answer(body: dict[str, Any], headers: dict[str, str]) -> Reply:
        if request_kind(body) == "understand":
            return Reply(200, completion({"content": json.dumps(RFQ if understood is None else understood)}, body))
        if body["messages"][-1]["role"] == "tool":
            return Reply(200, completion({"content": "Here is our offer."}, body))
        got = agent(body)
        return got if isinstance(got, Reply) else Reply(200, completion(got, body))

    return answer


def send(server, model_for, seller_for, answer, org: str):
    server.reset(answer)
    model = model_for()
    seller = seller_for(model)
    nid = seller.start(Buyer(org=org, region="EU"))
    return model, nid, seller.send(nid, text=ASK)


def records(reply, op: str) -> list[dict[str, Any]]:
    return [r for r in reply.records if r.get("gen_ai.operation.name") == op]


# --- a tool call without an id -----------------------------------------------------------------------


def _submit(body: dict[str, Any], call_id: Any) -> dict[str, Any]:
    call = {"type": "function", "function": {"name": "submit_proposal",
                                             "arguments": json.dumps({"move_ids": [recommended(body)["id"]]})}}
    if call_id is not ...:
        call["id"] = call_id
    return call


@pytest.mark.parametrize("call_id", [..., None, ""], ids=["no_id", "null_id", "empty_id"])
def test_a_tool_call_without_an_id_still_makes_the_offer(server, model_for, seller_for, call_id) -> None:
    answer = handler(lambda body: {"content": words(body), "tool_calls": [_submit(body, call_id)]})
    model, nid, reply = send(server, model_for, seller_for, answer, "qa20-no-id")
    assert reply.type == "proposal", reply.text
    item = reply.data["items"][0]
    assert item["sku"] == "BRG-6204" and int(item["quantity"]) == 500
    assert reply.text == f"We can offer 500 x BRG-6204 at {item['unit_price']} EUR per unit."  # the model's words
    first = records(reply, "chat")[0]
    assert first["dealdesk.tool_calls"] == ["submit_proposal"] and first.get("dealdesk.model.fallback") is None
    assert [r.kind for r in server.requests] == ["understand", "chat"]


def test_two_tool_calls_with_one_id_each_get_their_own() -> None:
    calls = [{"name": "calculate_price", "args": {"sku": "BRG-6204", "quantity": 500}, "id": "same",
              "type": "tool_call"},
             {"name": "catalog_lookup", "args": {"sku": "BRG-6204"}, "id": "same", "type": "tool_call"},
             {"name": "catalog_lookup", "args": {"sku": "BRG-6205"}, "id": None, "type": "tool_call"}]
    message = AIMessage(content="", tool_calls=[])
    message.tool_calls = calls  # as a lenient client may leave them
    fixed = with_call_ids(message)
    ids = [c["id"] for c in fixed.tool_calls]
    assert ids[0] == "same" and len(set(ids)) == 3 and all(isinstance(i, str) and i for i in ids)
    assert [c["name"] for c in fixed.tool_calls] == ["calculate_price", "catalog_lookup", "catalog_lookup"]
    whole = AIMessage(content="", tool_calls=[{"name": "catalog_lookup", "args": {}, "id": "a"}])
    assert with_call_ids(whole) is whole  # nothing to fix: the same message


# --- a structured answer off the schema ------------------------------------------------------------


@pytest.mark.parametrize("understood", [
    {"kind": "rfq", "items": "lots", "version": "two"},
    {**RFQ, "items": ["BRG-6204"]},
    {**RFQ, "notes": 5},
    {**RFQ, "arguments": {"a": 1}},
], ids=["items_a_string", "item_a_string", "notes_a_number", "arguments_an_object"])
def test_a_structured_answer_off_the_schema_is_understood_offline(server, model_for, seller_for, understood) -> None:
    answer = handler(lambda body: {"content": words(body), "tool_calls": [_submit(body, "call_1")]}, understood)
    model, nid, reply = send(server, model_for, seller_for, answer, "qa20-schema")
    assert reply.type == "proposal", reply.text  # the parser's reading of the same words: an rfq
    assert int(reply.data["items"][0]["quantity"]) == 500
    understand = records(reply, "understand")[0]
    assert understand["dealdesk.intent.source"] == "offline"
    assert understand["dealdesk.model.fallback_reason"] == "invalid_intent"
    assert model.usage(nid).errors["invalid_intent"] == 1


# --- HTTP 200 without a chat completion ------------------------------------------------------------


@pytest.mark.parametrize("body", [
    {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": []},
    {"id": "x", "object": "chat.completion", "created": 1, "model": "m",
     "choices": [{"index": 0, "message": None, "finish_reason": "stop"}]},
    {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": None},
    {"error": {"message": "overloaded", "type": "server_error"}},
    None,
], ids=["empty_choices", "null_message", "null_choices", "error_object", "null_body"])
def test_a_200_without_a_completion_is_named_bad_response(server, model_for, seller_for, body) -> None:
    model, nid, reply = send(server, model_for, seller_for, handler(lambda _: Reply(200, body)), "qa20-bad")
    assert reply.type == "proposal", reply.text  # the offline playbook's offer
    first = records(reply, "chat")[0]
    assert first["dealdesk.model.fallback"] == "offline"
    assert first["dealdesk.model.fallback_reason"] == "bad_response"
    assert first["dealdesk.model_calls"] == 1  # not retried: the endpoint answered
    assert model.usage(nid).fallbacks["bad_response"] == 1
    assert model.shared.breaker.in_a_row == 0  # an answer, not an outage


# --- the tokens of an unusable answer ----------------------------------------------------------------


def test_the_tokens_of_an_unusable_answer_are_in_the_record(server, model_for, seller_for) -> None:
    def malformed(body: dict[str, Any]) -> dict[str, Any]:
        call = _submit(body, "call_1")
        call["function"]["arguments"] = call["function"]["arguments"][:-3]  # cut short: not JSON
        return {"content": words(body), "tool_calls": [call]}

    model, nid, reply = send(server, model_for, seller_for, handler(malformed), "qa20-tokens")
    assert reply.type == "proposal"
    first = records(reply, "chat")[0]
    assert first["dealdesk.model.fallback_reason"] == "malformed_tool_call"
    spent = server.requests[1].response["usage"]
    assert first["gen_ai.usage.input_tokens"] == spent["prompt_tokens"] > 0
    assert first["gen_ai.usage.output_tokens"] == spent["completion_tokens"] > 0
    usage = model.usage(nid)
    assert usage.tokens == sum(r["gen_ai.usage.input_tokens"] + r["gen_ai.usage.output_tokens"]
                               for r in reply.records if r.get("gen_ai.usage.input_tokens") is not None)
