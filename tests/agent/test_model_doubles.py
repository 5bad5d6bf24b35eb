"""The public model doubles (agent/models/doubles.py): LangChain chat models that tests script.

They bind tools, answer `invoke` and `stream` alike (tool calls survive streaming), understand text
through the offline parser like `OfflineModel`, and drive the whole seller graph.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from agent.intent import BuyerIntent
from agent.models.doubles import (FunctionModel, ScriptedModel, ScriptExhausted, brief_of, buyer_text, final,
                                  playbook, tool_call, tool_results)
from agent.models.offline import OfflineModel
from agent.offline.context import TextContext
from agent.playbook import render_brief
from agent.service import Buyer
from tools.seller_tools import build_tools

TOOLS = build_tools(lambda state: None)  # schemas only: the doubles never run tools themselves
LONG = "Proposal P-1 version 1: 500 x BRG-6204 at 3.25 EUR each (1625.00 EUR, ships in 2 days). Thank you."
DATA = {"type": "closed", "reason": "testing"}


def _sum(chunks):
    out = None
    for c in chunks:
        out = c if out is None else out + c
    return out


def _echo(messages, tools):
    return AIMessage(content=f"{len(messages)} messages, tools: {','.join(t['function']['name'] for t in tools)}")


# --- bind_tools ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: FunctionModel(_echo), lambda: ScriptedModel([_echo])])
def test_bind_tools_returns_a_bound_copy_sharing_the_call_log(make):
    model = make()
    bound = model.bind_tools(TOOLS)
    assert isinstance(bound, BaseChatModel) and type(bound) is type(model)
    assert [t["function"]["name"] for t in bound.bound_tools] == ["catalog_lookup", "calculate_price",
                                                                 "submit_proposal"]
    assert model.bound_tools == []
    # the injected graph state is not part of the schema the model sees
    submit = bound.bound_tools[2]["function"]["parameters"]
    assert set(submit["properties"]) == {"move_ids", "alternative_ids"} and "state" not in submit["properties"]
    reply = bound.invoke([HumanMessage("hello")])
    assert reply.content == "1 messages, tools: catalog_lookup,calculate_price,submit_proposal"
    assert len(model.calls) == 1 and model.calls is bound.calls  # one log for the double and its bound copies
    assert model.calls[0].tools == bound.bound_tools and model.calls[0].messages[0].content == "hello"


def test_unbound_function_gets_no_tools():
    assert FunctionModel(_echo).invoke("hi").content == "1 messages, tools: "


# --- invoke ---------------------------------------------------------------------------------------------


def test_function_model_invoke_passes_messages_and_returns_tool_calls():
    seen = []

    def fn(messages, tools):
        seen.append(messages)
        return tool_call("submit_proposal", {"move_ids": ["m1"], "alternative_ids": []})

    model = FunctionModel(fn).bind_tools(TOOLS)
    prompt = [SystemMessage("rules\n\n" + render_brief({"intent": {"kind": "rfq"}, "lines": []})),
              HumanMessage("need 500 x BRG-6204")]
    reply = model.invoke(prompt)
    assert isinstance(reply, AIMessage)
    assert reply.tool_calls == [{"name": "submit_proposal", "args": {"move_ids": ["m1"], "alternative_ids": []},
                                 "id": reply.tool_calls[0]["id"], "type": "tool_call"}]
    assert reply.tool_calls[0]["id"].startswith("call_")
    assert reply.usage_metadata == {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    assert reply.response_metadata["model_name"] == "dealdesk-function"
    assert [m.content for m in seen[0]] == [m.content for m in prompt]
    assert brief_of(seen[0]) == {"intent": {"kind": "rfq"}, "lines": []}
    assert buyer_text(seen[0]) == "need 500 x BRG-6204"


def test_function_model_accepts_a_string_and_rejects_other_types():
    assert FunctionModel(lambda m, t: "plain words").invoke("x").content == "plain words"
    with pytest.raises(TypeError, match="AIMessage or a str"):
        FunctionModel(lambda m, t: 42).invoke("x")


def test_reply_is_a_copy_so_a_reused_message_is_not_mutated():
    canned = AIMessage(content="same")
    model = ScriptedModel([canned, canned])
    first, second = model.invoke("a"), model.invoke("b")
    assert first.content == second.content == "same"
    assert canned.usage_metadata is None and canned.response_metadata == {}


def test_scripted_model_returns_its_script_in_order_then_stops():
    model = ScriptedModel([tool_call("catalog_lookup", {"sku": "BRG-6204"}), final("done", DATA), "bye"])
    bound = model.bind_tools(TOOLS)
    assert bound.invoke("1").tool_calls[0]["args"] == {"sku": "BRG-6204"}
    assert model.remaining == 2  # the cursor is shared with the bound copy
    second = bound.invoke("2")
    assert second.content == [{"type": "text", "text": "done"}, {"type": "data", "data": DATA}]
    assert bound.invoke("3").content == "bye"
    with pytest.raises(ScriptExhausted, match="call 4"):
        bound.invoke("4")
    model.reset()
    assert model.remaining == 3 and model.calls == []


def test_scripted_model_items_may_be_functions_and_then_continues():
    model = ScriptedModel([lambda m, t: f"saw {buyer_text(m)}"], then=lambda m, t: "after the script")
    assert model.invoke([HumanMessage("hi")]).content == "saw hi"
    assert model.invoke("x").content == model.invoke("y").content == "after the script"
    assert len(model.calls) == 3


# --- stream ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reply", [
    AIMessage(content=LONG),
    tool_call("submit_proposal", {"move_ids": ["m1", "m2"], "alternative_ids": ["a1"]}),
    AIMessage(content="Let me check both.", tool_calls=[
        {"name": "catalog_lookup", "args": {"sku": "BRG-6204"}, "id": "c1", "type": "tool_call"},
        {"name": "calculate_price", "args": {"sku": "BRG-6204", "quantity": 500}, "id": "c2", "type": "tool_call"}]),
    final(LONG, DATA),
    final("", DATA),
], ids=["text", "tool_call", "text_and_two_tool_calls", "text_and_data_block", "data_block_only"])
@pytest.mark.parametrize("kind", ["function", "scripted"])
def test_stream_adds_up_to_the_invoked_message(reply, kind):
    make = (lambda: FunctionModel(lambda m, t: reply)) if kind == "function" else (
        lambda: ScriptedModel([reply]))
    invoked = make().bind_tools(TOOLS).invoke("go")
    chunks = list(make().bind_tools(TOOLS).stream("go"))
    streamed = _sum(chunks)
    assert streamed.content == invoked.content == reply.content
    assert streamed.tool_calls == invoked.tool_calls == reply.tool_calls
    assert not streamed.invalid_tool_calls
    if reply.tool_calls:
        assert chunks[-1].tool_call_chunks, "tool calls travel as tool-call chunks"
    if isinstance(reply.content, str) and len(reply.content) > 16:
        assert sum(1 for c in chunks if c.content) > 1, "text arrives in several chunks"


def test_streaming_invoke_goes_through_stream_and_keeps_tool_calls():
    model = FunctionModel(lambda m, t: AIMessage(content="checking", tool_calls=[
        {"name": "catalog_lookup", "args": {"sku": "BRG-6204"}, "id": "c1", "type": "tool_call"}]), streaming=True)
    bound = model.bind_tools(TOOLS)
    reply = bound.invoke("go")
    assert reply.content == "checking"
    assert reply.tool_calls == [{"name": "catalog_lookup", "args": {"sku": "BRG-6204"}, "id": "c1",
                                 "type": "tool_call"}]
    assert model.calls[-1].streamed


# --- structured output ----------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: FunctionModel(_echo), lambda: ScriptedModel([])])
def test_with_structured_output_understands_like_the_offline_model(make, dd_demo):
    catalog, _ = dd_demo
    ctx = TextContext(catalog=catalog, region="EU")
    payload = {"text": "need 500 x BRG-6204 delivered to Lyon, can you do 3.10 EUR?", "context": ctx}
    model = make()
    got = model.with_structured_output(BuyerIntent).invoke(payload)
    want = OfflineModel().with_structured_output(BuyerIntent).invoke(payload)
    assert isinstance(got, BuyerIntent) and got == want
    assert got.kind == "rfq" and got.source == "offline"
    assert got.asked_prices[0].unit_price == Decimal("3.10")
    bound = model.bind_tools(TOOLS)
    assert bound.with_structured_output(BuyerIntent).invoke(payload) == want
    assert model.understood == 2 and model.calls == []  # understanding is not a chat call


def test_with_structured_output_refuses_other_schemas():
    with pytest.raises(TypeError, match="BuyerIntent"):
        FunctionModel(_echo).with_structured_output(dict)


def test_with_structured_output_can_be_replaced(dd_demo):
    intent = BuyerIntent(kind="unknown", source="model", notes=["scripted"])
    model = ScriptedModel([], understand=lambda text, ctx: intent)
    assert model.with_structured_output(BuyerIntent).invoke(
        {"text": "anything", "context": TextContext(catalog=dd_demo[0])}) is intent


# --- helpers ---------------------------------------------------------------------------------------------


def test_tool_results_read_only_this_turn():
    messages = [HumanMessage("old"), ToolMessage('{"ok": true, "tool": "catalog_lookup"}', tool_call_id="a"),
                HumanMessage("new"), ToolMessage('{"ok": false, "tool": "submit_proposal"}', tool_call_id="b")]
    assert tool_results(messages) == [{"ok": False, "tool": "submit_proposal"}]


def test_playbook_answers_like_the_offline_model():
    brief = {"intent": {"kind": "question", "question": {"topic": "spec", "skus": ["BRG-6204"]}}, "lines": []}
    prompt = [SystemMessage(render_brief(brief)), HumanMessage("bore of BRG-6204?")]
    want = OfflineModel().invoke(prompt)
    got = playbook(prompt)
    assert got.tool_calls == want.tool_calls and got.tool_calls[0]["args"] == {"sku": "BRG-6204"}


# --- in the seller graph ----------------------------------------------------------------------------------


@pytest.mark.parametrize("streaming", [False, True])
def test_function_model_drives_the_seller_graph_like_the_offline_model(dd_seller_factory, streaming):
    text = "need 500 x BRG-6204 delivered to Lyon, can you do 3.10 EUR?"
    offline = dd_seller_factory()
    want = offline.send(offline.start(Buyer(org="acme", region="EU")), text=text)
    model = FunctionModel(playbook, streaming=streaming)
    seller = dd_seller_factory(model)
    got = seller.send(seller.start(Buyer(org="acme", region="EU")), text=text)
    assert got.type == want.type == "proposal"
    strip = ("proposal_id", "valid_until")
    assert {k: v for k, v in got.data.items() if k not in strip} == {k: v for k, v in want.data.items()
                                                                    if k not in strip}
    assert got.text.replace(got.data["proposal_id"], "P") == want.text.replace(want.data["proposal_id"], "P")
    # understanding (1) + submit_proposal call + final message
    assert got.model_calls == want.model_calls == 3
    assert model.understood == 1 and len(model.calls) == 2
    assert [c.streamed for c in model.calls] == [streaming, streaming]
    first = model.calls[0]
    assert first.brief["intent"]["kind"] == "rfq" and first.brief["lines"][0]["sku"] == "BRG-6204"
    assert {t["function"]["name"] for t in first.tools} == {"catalog_lookup", "calculate_price", "submit_proposal"}
    assert isinstance(first.messages[0], SystemMessage)
    assert "BRG-6204" in buyer_text(first.messages)
    assert first.reply.tool_calls[0]["name"] == "submit_proposal"
    assert isinstance(model.calls[1].messages[-1], ToolMessage)


def test_scripted_model_in_the_seller_graph(dd_seller_factory):
    def submit_recommended(messages, tools):
        line = brief_of(messages)["lines"][0]
        return tool_call("submit_proposal", {"move_ids": [line["plan"]["recommended"]], "alternative_ids": []})

    model = ScriptedModel([submit_recommended, final("Here is our offer.")])
    seller = dd_seller_factory(model)
    reply = seller.send(seller.start(Buyer(org="acme", region="EU")), text="quote 200 x BRG-6205 please")
    assert reply.type == "proposal" and reply.text == "Here is our offer."
    assert [i["sku"] for i in reply.data["items"]] == ["BRG-6205"] and not reply.data.get("alternatives")
    assert model.remaining == 0
    assert seller.store.get_proposal(reply.data["proposal_id"]) is not None
