"""The tools node: LangChain's tool-call semantics (`BaseTool.invoke`), without its per-call machinery."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import StructuredTool
from langgraph.prebuilt import InjectedState
from pydantic import BaseModel, Field, ValidationError

from agent.tool_calls import ToolCalls


class EchoArgs(BaseModel):
    word: str
    times: int = Field(default=2, ge=1)
    state: Annotated[dict, InjectedState]


def echo(state: Annotated[dict, InjectedState], word: str, times: int = 1) -> tuple[str, dict[str, Any]]:
    if word == "boom":
        raise RuntimeError("boom")
    return f"{word * times} for {state['who']}", {"times": times, "state": state}


ECHO = StructuredTool.from_function(echo, name="echo", description="Echo a word.", args_schema=EchoArgs,
                                    response_format="content_and_artifact")
STATE = {"who": "the seller", "messages": []}


def call(args: dict[str, Any], name: str = "echo", call_id: str = "c1") -> dict[str, Any]:
    return {"type": "tool_call", "name": name, "id": call_id, "args": args}


@pytest.mark.parametrize("args", [{"word": "a"}, {"word": "a", "times": "3"}, {"word": "a", "unknown": 1},
                                  {"word": "a", "state": {"who": "the model"}}])
def test_a_call_gives_the_message_langchain_gives(args: dict[str, Any]) -> None:
    got = ToolCalls([ECHO]).run(call(args), STATE)
    want = ECHO.invoke(call({**args, "state": STATE}))
    assert (got.content, got.artifact, got.status, got.name, got.tool_call_id) == \
        (want.content, want.artifact, want.status, want.name, want.tool_call_id)
    assert got.artifact["state"] is STATE  # the graph state itself, whatever the model put there


def test_every_failure_is_an_error_message_for_the_model() -> None:
    node = ToolCalls([ECHO])
    unknown = node.run(call({"word": "a"}, name="nope"), STATE)
    assert unknown.status == "error" and unknown.content == "Error: 'nope' is not a valid tool, try one of [echo]."
    invalid = node.run(call({"word": "a", "times": 0}), STATE)
    with pytest.raises(ValidationError) as langchain:
        ECHO.invoke(call({"word": "a", "times": 0, "state": STATE}))
    assert invalid.status == "error" and invalid.content == f"Error: {langchain.value!r}\n Please fix your mistakes."
    boom = node.run(call({"word": "boom"}), STATE)
    assert boom.status == "error" and boom.content == "Error: RuntimeError('boom')\n Please fix your mistakes."


def test_the_node_answers_the_last_message_calls_in_order() -> None:
    node = ToolCalls([ECHO])
    asked = AIMessage("", tool_calls=[call({"word": "a"}, call_id="1"), call({"word": "b"}, call_id="2")])
    out = node({**STATE, "messages": [asked]})
    assert [(m.tool_call_id, m.content) for m in out["messages"]] == [("1", "aa for the seller"),
                                                                      ("2", "bb for the seller")]
    assert node({**STATE, "messages": [HumanMessage("hi")]}) == {"messages": []}
