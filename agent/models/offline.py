"""The offline model: a deterministic chat model that drives the seller graph with no key and no network.

It implements LangChain's chat-model interface, including `bind_tools`, tool
calls and streaming (tool calls arrive as tool-call chunks, so nothing is
lost), and `with_structured_output(BuyerIntent)` for text understanding. Its
decisions come from `agent.playbook` and `agent.offline.understand`. Like
pydantic-ai's `TestModel`, it is also the project's public test double.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda

from agent.playbook import parse_brief, respond


def turn_messages(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """The messages of the current turn: everything after the last buyer or operator message."""
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], HumanMessage):
            return list(messages[i + 1:])
    return list(messages)


def tool_results(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    out = []
    for m in turn_messages(messages):
        if isinstance(m, ToolMessage):
            try:
                out.append(json.loads(m.content if isinstance(m.content, str) else json.dumps(m.content)))
            except ValueError:
                out.append({"ok": False, "tool": m.name, "error": {"code": "bad_tool_output", "message": "unreadable"}})
    return out


class OfflineModel(BaseChatModel):
    """Deterministic playbook model (the default when no model is configured)."""

    model_name: str = "dealdesk-offline"

    @property
    def _llm_type(self) -> str:
        return "dealdesk-offline"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable:
        # The playbook knows the three tools by name; binding changes nothing but keeps the interface.
        return self

    def with_structured_output(self, schema: Any, **kwargs: Any) -> Runnable:
        from agent.intent import BuyerIntent
        from agent.offline.understand import TextContext, understand

        if schema is not BuyerIntent:
            raise TypeError(f"the offline model gives structured output only as BuyerIntent, not {schema!r}")

        def run(payload: dict[str, Any]) -> BuyerIntent:
            ctx: TextContext = payload["context"]
            return understand(payload["text"], ctx)

        return RunnableLambda(run, name="offline_understand")

    def _decide(self, messages: list[BaseMessage]) -> AIMessage:
        brief = None
        for m in messages:
            if isinstance(m, SystemMessage):
                brief = parse_brief(m.content if isinstance(m.content, str) else "")
                if brief is not None:
                    break
        return respond(brief or {}, tool_results(messages))

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        message = self._decide(messages)
        message.usage_metadata = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        message.response_metadata = {"model_name": self.model_name}
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        message = self._decide(messages)
        text = message.content if isinstance(message.content, str) else ""
        for i in range(0, len(text), 64):
            yield ChatGenerationChunk(message=AIMessageChunk(content=text[i:i + 64]))
        if message.tool_calls:
            chunks = [tool_call_chunk(name=c["name"], args=json.dumps(c["args"]), id=c["id"], index=i)
                      for i, c in enumerate(message.tool_calls)]
            yield ChatGenerationChunk(message=AIMessageChunk(content="", tool_call_chunks=chunks))
