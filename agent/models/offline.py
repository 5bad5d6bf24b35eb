"""The offline model: a deterministic chat model that drives the seller graph with no key and no network.

It implements LangChain's chat-model interface, including `bind_tools`, tool
calls and streaming (tool calls arrive as tool-call chunks, so nothing is
lost), and `with_structured_output(BuyerIntent)` for text understanding. Its
decisions come from `agent.playbook` and `agent.offline.understand`. Like
pydantic-ai's `TestModel`, it is also the project's public test double.

When nothing observes a call (no callback handler in the config or the context, no cache, no
rate limiter, no streaming), `invoke` and the structured runnable answer without LangChain's run
bookkeeping, with the same message (`agent.models.unobserved`); otherwise they take the full path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.globals import get_llm_cache
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models._utils import _normalize_messages
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.utils.utils import LC_ID_PREFIX
from langchain_core.utils.uuid import uuid7

from agent.models.unobserved import unobserved
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


class _Understanding(RunnableLambda):
    """The offline parser as a runnable: called directly when no callback handler would see the run
    (`RunnableLambda.invoke` would only add a run around the call), else as any `RunnableLambda`."""

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if kwargs or unobserved(config) is None:
            return super().invoke(input, config, **kwargs)
        return self.func(input)


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
        from agent.offline.context import TextContext
        from agent.offline.understand import understand

        if schema is not BuyerIntent:
            raise TypeError(f"the offline model gives structured output only as BuyerIntent, not {schema!r}")

        def run(payload: dict[str, Any]) -> BuyerIntent:
            ctx: TextContext = payload["context"]
            return understand(payload["text"], ctx)

        return _Understanding(run, name="offline_understand")

    def _decide(self, messages: list[BaseMessage]) -> AIMessage:
        brief = None
        for m in messages:
            if isinstance(m, SystemMessage):
                brief = parse_brief(m.content if isinstance(m.content, str) else "")
                if brief is not None:
                    break
        return respond(brief or {}, tool_results(messages))

    def _reply(self, messages: list[BaseMessage]) -> AIMessage:
        message = self._decide(messages)
        message.usage_metadata = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        message.response_metadata = {"model_name": self.model_name}
        return message

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages))])

    def _plain(self) -> bool:
        """Nothing in the model changes or observes a call: its own `_generate`, no cache, no rate limiter,
        no streaming, no v1 content (what `BaseChatModel._generate_with_cache` would otherwise act on)."""
        return (type(self)._generate is OfflineModel._generate and self.rate_limiter is None
                and (self.cache is False or (self.cache is None and get_llm_cache() is None))
                and self.output_version != "v1" and not self._should_stream(async_api=False))

    def invoke(self, input: LanguageModelInput, config: RunnableConfig | None = None, *,
               stop: list[str] | None = None, **kwargs: Any) -> AIMessage:
        """`BaseChatModel.invoke`; when nothing can see the run, the same message without the run around it."""
        run = unobserved(config, self.callbacks, self.verbose) if not kwargs and self._plain() else None
        if run is None:
            return super().invoke(input, config, stop=stop, **kwargs)
        message = self._reply(_normalize_messages(self._convert_input(input).to_messages()))
        # What `BaseChatModel._generate_with_cache` adds: an id naming the run (`response_metadata` stays
        # as it is: the generation has no `generation_info` to merge in).
        if message.id is None:
            run_id = run.get("run_id")
            message.id = f"{LC_ID_PREFIX}-{uuid7() if run_id is None else run_id}-0"
        return message

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
