"""Public offline model doubles for tests and evals (in the spirit of pydantic-ai's `TestModel` / `FunctionModel`).

Both are LangChain chat models (`BaseChatModel`) that need no key and no network:

- `FunctionModel(fn)`: every call is answered by `fn(messages, tools) -> AIMessage | str`, where
  `messages` is the prompt (the seller graph puts a `SystemMessage` with the turn brief first) and
  `tools` are the bound tools in OpenAI function format (`[]` when unbound).
- `ScriptedModel([...])`: returns the given `AIMessage`s in order (an item may also be a function like
  `FunctionModel`'s); when the script runs out it calls `then`, or raises `ScriptExhausted`.

Shared behaviour:

- `bind_tools(tools)` returns a bound copy (same class) that shares the call log with the original, so a
  test can hold the unbound double and still see every call the graph made through the bound one.
- `invoke` and `stream` give the same message: streaming yields the text in chunks (or each content
  block of a list content whole) and then the tool calls as `tool_call_chunks`, so nothing is lost when
  the chunks are added up.
- `with_structured_output(BuyerIntent)` delegates text understanding to the offline parser exactly as
  `OfflineModel` does (or to `understand=fn(text, context) -> BuyerIntent` when given).
- `calls` lists every chat call (`Call(messages, tools, reply, streamed)`); `understood` counts structured
  calls; `reset()` clears both. `streaming=True` makes `invoke` stream too (as a streaming provider does).

Helpers for writing `fn`: `brief_of(messages)` (the seller graph's turn brief as a dict, see
`agent.playbook.render_brief`), `buyer_text(messages)`, `tool_results(messages)` (this turn's tool
results), `tool_call(name, args)`, `final(text, data=None)` (a final message whose content carries a
`{"type": "data", "data": ...}` block, the structured part the graph's guardrail checks) and
`playbook(messages, tools)` (the offline playbook's answer, for doubles that only sometimes misbehave).
"""

from __future__ import annotations

import hashlib
from abc import abstractmethod
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field

from agent.models.offline import OfflineModel, tool_results, turn_messages
from agent.playbook import parse_brief, respond

__all__ = ["Call", "CallLog", "FunctionModel", "ScriptExhausted", "ScriptedModel", "brief_of", "buyer_text",
           "final", "playbook", "tool_call", "tool_results", "turn_messages"]

Reply = AIMessage | str
ReplyFn = Callable[[list[BaseMessage], list[dict[str, Any]]], Reply]
UnderstandFn = Callable[[str, Any], Any]


class ScriptExhausted(RuntimeError):
    """A `ScriptedModel` was called more times than it has messages (and has no `then`)."""


@dataclass
class Call:
    """One chat call: the prompt, the tools bound (OpenAI format) and the message returned."""

    messages: list[BaseMessage]
    tools: list[dict[str, Any]]
    reply: AIMessage
    streamed: bool = False

    @property
    def brief(self) -> dict[str, Any] | None:
        return brief_of(self.messages)


@dataclass
class CallLog:
    """Shared by a double and its bound copies."""

    calls: list[Call] = field(default_factory=list)
    understood: int = 0
    position: int = 0  # ScriptedModel's cursor


# --- helpers for reply functions ---------------------------------------------------------------------


def brief_of(messages: Sequence[BaseMessage]) -> dict[str, Any] | None:
    """The turn brief the seller graph put in its system message, or None."""
    for m in messages:
        if isinstance(m, SystemMessage):
            brief = parse_brief(m.content if isinstance(m.content, str) else "")
            if brief is not None:
                return brief
    return None


def buyer_text(messages: Sequence[BaseMessage]) -> str:
    """The text of the last buyer (human) message."""
    for m in reversed(messages):
        if isinstance(m, HumanMessage):
            return m.content if isinstance(m.content, str) else " ".join(
                b.get("text", "") if isinstance(b, dict) else str(b) for b in m.content)
    return ""


def tool_call(name: str, args: dict[str, Any], call_id: str | None = None) -> AIMessage:
    """An assistant message with one tool call (id: a digest of name and arguments unless given)."""
    if call_id is None:
        call_id = "call_" + hashlib.sha256(json.dumps([name, args], sort_keys=True, default=str).encode()
                                           ).hexdigest()[:12]
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id, "type": "tool_call"}])


def final(text: str = "", data: dict[str, Any] | None = None) -> AIMessage:
    """A final assistant message: text, plus a structured data part as a `{"type": "data"}` block."""
    if data is None:
        return AIMessage(content=text)
    blocks: list[str | dict[str, Any]] = []
    if text:
        blocks.append({"type": "text", "text": text})
    blocks.append({"type": "data", "data": data})
    return AIMessage(content=blocks)


def playbook(messages: Sequence[BaseMessage], tools: Sequence[Any] = ()) -> AIMessage:
    """What the offline model would answer (the deterministic playbook), as a reply function."""
    return respond(brief_of(messages) or {}, tool_results(messages))


# --- the doubles ----------------------------------------------------------------------------------------


def _as_message(reply: Reply) -> AIMessage:
    if isinstance(reply, str):
        return AIMessage(content=reply)
    if not isinstance(reply, AIMessage):
        raise TypeError(f"a model double must return an AIMessage or a str, not {type(reply).__name__}")
    return reply.model_copy(deep=True)


def _chunks(message: AIMessage, size: int) -> Iterator[AIMessageChunk]:
    """The message as stream chunks that add up to it: text pieces (or whole blocks), then tool-call chunks."""
    if isinstance(message.content, str):
        text = message.content
        for i in range(0, len(text), size):
            yield AIMessageChunk(content=text[i:i + size], id=message.id)
    else:
        for block in message.content:
            yield AIMessageChunk(content=[block], id=message.id)
    calls = [tool_call_chunk(name=c["name"], args=json.dumps(c["args"]), id=c["id"], index=i)
             for i, c in enumerate(message.tool_calls)]
    yield AIMessageChunk(content="" if isinstance(message.content, str) else [], id=message.id,
                         tool_call_chunks=calls, usage_metadata=message.usage_metadata,
                         response_metadata=message.response_metadata, chunk_position="last")


class _Double(BaseChatModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_name: str = "dealdesk-double"
    bound_tools: list[dict[str, Any]] = Field(default_factory=list)
    understand: UnderstandFn | None = Field(default=None, exclude=True)
    chunk_size: int = 16
    streaming: bool = False  # True: `invoke` goes through `_stream` too (as a streaming provider would)
    log: CallLog = Field(default_factory=CallLog, exclude=True)

    @property
    def _llm_type(self) -> str:
        return "dealdesk-double"

    @property
    def calls(self) -> list[Call]:
        return self.log.calls

    @property
    def understood(self) -> int:
        return self.log.understood

    def reset(self) -> None:
        self.log.calls.clear()
        self.log.understood = 0
        self.log.position = 0

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable:
        specs = [t if isinstance(t, dict) and t.get("type") == "function" else convert_to_openai_tool(t)
                 for t in tools]
        return self.model_copy(update={"bound_tools": specs})  # shallow: the call log is shared

    def with_structured_output(self, schema: Any, **kwargs: Any) -> Runnable:
        if self.understand is None:
            inner = OfflineModel().with_structured_output(schema, **kwargs)  # BuyerIntent only, as offline
        else:
            fn = self.understand
            inner = RunnableLambda(lambda payload: fn(payload["text"], payload["context"]), name="double_understand")
        log = self.log

        def run(payload: Any) -> Any:
            log.understood += 1
            return inner.invoke(payload)

        return RunnableLambda(run, name="double_structured_output")

    @abstractmethod
    def _answer(self, messages: list[BaseMessage]) -> AIMessage:
        """The reply to `messages`: each double says where it comes from (a function, a script)."""

    def _decide(self, messages: list[BaseMessage], streamed: bool = False) -> AIMessage:
        message = self._answer(list(messages))
        if message.usage_metadata is None:
            message.usage_metadata = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        message.response_metadata = {**message.response_metadata, "model_name": self.model_name}
        self.log.calls.append(Call(list(messages), list(self.bound_tools), message.model_copy(deep=True), streamed))
        return message

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._decide(messages))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for chunk in _chunks(self._decide(messages, streamed=True), self.chunk_size):
            if run_manager is not None and isinstance(chunk.content, str) and chunk.content:
                run_manager.on_llm_new_token(chunk.content, chunk=ChatGenerationChunk(message=chunk))
            yield ChatGenerationChunk(message=chunk)


class FunctionModel(_Double):
    """A chat model whose every answer is `fn(messages, tools)` (an `AIMessage`, or a str for plain text)."""

    fn: ReplyFn = Field(exclude=True)
    model_name: str = "dealdesk-function"

    def __init__(self, fn: ReplyFn | None = None, /, **kwargs: Any) -> None:
        if fn is not None:
            kwargs["fn"] = fn
        super().__init__(**kwargs)

    def _answer(self, messages: list[BaseMessage]) -> AIMessage:
        return _as_message(self.fn(messages, list(self.bound_tools)))


class ScriptedModel(_Double):
    """A chat model that returns a fixed sequence of messages (an item may be a reply function)."""

    script: list[Any] = Field(default_factory=list)
    then: ReplyFn | None = Field(default=None, exclude=True)
    model_name: str = "dealdesk-scripted"

    def __init__(self, script: Sequence[Reply | ReplyFn] | None = None, /, **kwargs: Any) -> None:
        if script is not None:
            kwargs["script"] = list(script)
        super().__init__(**kwargs)

    @property
    def remaining(self) -> int:
        return max(0, len(self.script) - self.log.position)

    def _answer(self, messages: list[BaseMessage]) -> AIMessage:
        position = self.log.position
        if position < len(self.script):
            self.log.position += 1
            item = self.script[position]
            return _as_message(item(messages, list(self.bound_tools)) if callable(item) else item)
        if self.then is not None:
            return _as_message(self.then(messages, list(self.bound_tools)))
        raise ScriptExhausted(f"the script has {len(self.script)} messages; call {position + 1} has none")
