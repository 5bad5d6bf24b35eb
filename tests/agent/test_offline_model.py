"""The offline model's calls, observed and not (agent/models/offline.py, agent/models/unobserved.py).

With no callback handler anywhere (config, context, the model itself, a configure hook), no cache and
no rate limiter, `invoke` and the structured-output runnable skip LangChain's run bookkeeping and give
the message `BaseChatModel.invoke` gives (content, tool calls, usage, response metadata, an
`lc_run--<run id>-0` id). Any observer or cache gets the full path, and its events.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from typing import Any, TypedDict

import pytest
from langchain_core.caches import InMemoryCache
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tracers.context import register_configure_hook
from langgraph.graph import END, START, StateGraph

from agent.intent import BuyerIntent
from agent.models.offline import OfflineModel
from agent.offline.context import TextContext
from agent.offline.understand import understand
from agent.playbook import render_brief
from agent.service import Buyer

TOOL_CALL = [SystemMessage(render_brief({"intent": {"kind": "question", "question": {"topic": "spec",
                                                                                    "skus": ["BRG-6204"]}},
                                         "lines": []})), HumanMessage("bore of BRG-6204?")]
PROMPTS = {"tool call": TOOL_CALL, "text": [HumanMessage("hello")], "string": "hello"}
RUN_ID = re.compile(r"^lc_run--[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}-0$")  # a uuid7 run

_HOOK: ContextVar[Any] = ContextVar("dealdesk_test_offline_hook", default=None)
register_configure_hook(_HOOK, inheritable=True)


class Events(BaseCallbackHandler):
    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def on_chat_model_start(self, serialized, messages, *, run_id, parent_run_id=None, **kw) -> None:
        self.seen.append(("chat_model_start", run_id, parent_run_id))

    def on_llm_end(self, response, *, run_id, **kw) -> None:
        self.seen.append(("llm_end", run_id))

    def on_chain_start(self, serialized, inputs, *, run_id, name=None, **kw) -> None:
        self.seen.append(("chain_start", name))

    def chat_runs(self) -> list[Any]:
        return [e[1] for e in self.seen if e[0] == "chat_model_start"]


@pytest.fixture
def full_path_only(monkeypatch):
    """A call that reaches LangChain's run machinery fails: what still answers took the fast path."""
    def refuse(*a, **k):
        raise AssertionError("the full path was taken")

    def patch() -> None:
        monkeypatch.setattr(BaseChatModel, "generate", refuse)
        monkeypatch.setattr(RunnableLambda, "invoke", refuse)
    return patch


def dump(message) -> dict[str, Any]:
    out = message.model_dump()
    out.pop("id")
    return out


@pytest.mark.parametrize("prompt", PROMPTS.values(), ids=PROMPTS.keys())
def test_unobserved_invoke_gives_the_full_path_message(prompt, full_path_only):
    model = OfflineModel()
    want = BaseChatModel.invoke(model, prompt)  # LangChain's own path
    full_path_only()
    got = model.invoke(prompt)
    assert type(got) is type(want) and dump(got) == dump(want)
    assert RUN_ID.match(got.id) and RUN_ID.match(want.id) and got.id != want.id
    assert got.usage_metadata == {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    assert got.response_metadata == {"model_name": "dealdesk-offline"}


def test_a_given_run_id_names_the_message_on_both_paths(full_path_only):
    run_id = uuid.uuid4()
    observed = OfflineModel().invoke(TOOL_CALL, {"run_id": run_id, "callbacks": [Events()]})
    full_path_only()
    assert OfflineModel().invoke(TOOL_CALL, {"run_id": run_id}).id == observed.id == f"lc_run--{run_id}-0"


def test_a_handler_in_the_config_sees_the_call():
    events = Events()
    got = OfflineModel().invoke(TOOL_CALL, {"callbacks": [events]})
    (run_id,) = events.chat_runs()
    assert ("llm_end", run_id) in events.seen and got.id == f"lc_run--{run_id}-0"
    assert dump(got) == dump(OfflineModel().invoke(TOOL_CALL))


def test_the_models_own_callbacks_see_the_call():
    events = Events()
    OfflineModel(callbacks=[events]).invoke(TOOL_CALL)
    assert len(events.chat_runs()) == 1


def test_a_configure_hook_sees_the_call():
    events = Events()
    token = _HOOK.set(events)
    try:
        OfflineModel().invoke(TOOL_CALL)
        OfflineModel().with_structured_output(BuyerIntent).invoke(
            {"text": "need 10 x BRG-6204", "context": TextContext(catalog=None)})
    finally:
        _HOOK.reset(token)
    assert len(events.chat_runs()) == 1 and ("chain_start", "offline_understand") in events.seen


def test_a_cache_gets_the_full_path():
    cache = InMemoryCache()
    model = OfflineModel(cache=cache)
    first = model.invoke(TOOL_CALL)
    assert len(cache._cache) == 1  # looked up and stored, as LangChain does
    again = model.invoke(TOOL_CALL)  # a cache hit (LangChain marks its usage with a zero cost)
    assert again.tool_calls == first.tool_calls and again.usage_metadata.get("total_cost") == 0


class _State(TypedDict, total=False):
    prompt: Any
    reply: Any


def _graph(model: OfflineModel):
    g = StateGraph(_State)
    g.add_node("call", lambda state: {"reply": model.invoke(state["prompt"])})
    g.add_edge(START, "call")
    g.add_edge("call", END)
    return g.compile()


def test_in_a_graph_node_the_graphs_callbacks_see_the_call():
    events = Events()
    out = _graph(OfflineModel()).invoke({"prompt": TOOL_CALL}, {"callbacks": [events]})
    ((_, run_id, parent),) = [e for e in events.seen if e[0] == "chat_model_start"]
    assert parent is not None  # the node's run: the handler came from the context
    assert out["reply"].id == f"lc_run--{run_id}-0"


def test_in_a_graph_node_without_callbacks_the_fast_path_gives_the_same_message(full_path_only):
    want = OfflineModel().invoke(TOOL_CALL, {"callbacks": [Events()]})
    full_path_only()
    got = _graph(OfflineModel()).invoke({"prompt": TOOL_CALL})["reply"]
    assert dump(got) == dump(want) and RUN_ID.match(got.id)


# --- structured output ------------------------------------------------------------------------------------


def test_structured_output_unobserved_is_the_parser(dd_demo, full_path_only):
    payload = {"text": "need 500 x BRG-6204, can you do 3.10 EUR?", "context": TextContext(catalog=dd_demo[0])}
    runnable = OfflineModel().with_structured_output(BuyerIntent)
    want = RunnableLambda.invoke(runnable, payload)
    full_path_only()
    assert runnable.invoke(payload) == want == understand(payload["text"], payload["context"])
    assert want.kind == "rfq"


def test_structured_output_observed_is_a_run(dd_demo):
    payload = {"text": "what is the bore of BRG-6204?", "context": TextContext(catalog=dd_demo[0])}
    events = Events()
    got = OfflineModel().with_structured_output(BuyerIntent).invoke(payload, {"callbacks": [events]})
    assert events.seen == [("chain_start", "offline_understand")]
    assert got == OfflineModel().with_structured_output(BuyerIntent).invoke(payload)


# --- in the seller graph ------------------------------------------------------------------------------------


def test_a_traced_seller_turn_says_what_an_untraced_one_says(dd_seller_factory):
    text = "need 120 x BRG-6204, can you do 3.00 EUR?"
    seller = dd_seller_factory()
    plain = seller.send(seller.start(Buyer(org="fast-a", region="EU")), text=text)
    events = Events()
    token = _HOOK.set(events)
    try:
        traced_nid = seller.start(Buyer(org="fast-b", region="EU"))
        traced = seller.send(traced_nid, text=text)
    finally:
        _HOOK.reset(token)
    assert len(events.chat_runs()) == traced.model_calls - 1 == 2  # the agent's two chat calls
    assert ("chain_start", "offline_understand") in events.seen
    assert (plain.type, plain.model_calls) == (traced.type, traced.model_calls) == ("proposal", 3)
    strip = ("proposal_id", "valid_until")
    assert {k: v for k, v in plain.data.items() if k not in strip} == \
        {k: v for k, v in traced.data.items() if k not in strip}
    messages = seller.graph.conversation(traced_nid)
    model_ids = [m.id for m in messages if m.type == "ai" and m.name != "seller"]
    assert model_ids == [f"lc_run--{run_id}-0" for run_id in events.chat_runs()]
