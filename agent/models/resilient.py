"""The real model, made safe to depend on: retries, timeouts, a budget, offline fallback, and no wasted calls.

`ResilientModel` is a LangChain chat model around an OpenAI-compatible one
(`ChatOpenAI`). The seller graph uses it exactly like the `OfflineModel`:

- `bind_tools(tools)` binds the tools on the real model and keeps the offline
  model able to answer the same call;
- `with_structured_output(BuyerIntent)` takes what the graph passes,
  `{"text": ..., "context": TextContext}`, and returns a `BuyerIntent`.

Robustness. Each request has a timeout (`ChatOpenAI(timeout=...)`, its own
retries off); tenacity retries timeouts, connection errors, 429 (honouring
Retry-After) and 5xx with exponential backoff and jitter, within a deadline.
Every conversation (the graph's `thread_id`, i.e. the negotiation) has a budget
of model requests and tokens. Inside a server turn (`turn_deadline`, set by
`ServerContext.run_turn`) every request, retry and wait also ends `model_margin`
before the turn's timeout, so the offline model still answers within the turn.
On persistent failure, an exhausted budget, no time left in the turn, an
HTTP 200 with no chat completion in it (`bad_response`: a body that is not JSON,
no or empty `choices`, a null message, an error object), an unusable answer
(malformed or unknown tool calls, a refusal, no tool call and no words, a reply
longer than `reply_limit`, invalid JSON, an intent that fails validation or is
off the schema's shape, an invented SKU) the call is answered by the offline model
instead, and the message says so in `response_metadata`:
`{"dealdesk_fallback": "offline", "reason": ...}` (an intent says so in its
`notes`). Each such event is a typed error, counted per conversation in
`ResilientModel.ledger` and in the `metered()` context of the caller.

Few calls. The model is asked only what needs a language model:

- understanding (`understand="cascade"`, the default): the offline parser reads
  the text first; when it accounts for the whole message (a known kind, no
  doubt in its notes, no argument, nothing it skipped) its intent is used and
  the turn runs like a structured one, with no model call at all. Otherwise the
  model reads the message (structured output: `json_schema` where the server
  supports it, function calling otherwise). `understand="model"` always asks.
- the agent: a model call chooses the move and writes the reply in the same
  message (`prompts/reply.md`); after a successful `submit_proposal` that text
  is the final message without asking again. A question about named SKUs (or a
  search) gets the catalog facts looked up first, without the model (the tool
  calls the playbook would make), so the model answers in one call; when the
  understanding call already drafted the answer from the catalog facts in its
  context (`answer` in the intent schema), that draft is the reply and the
  turn takes one call in all. Turns understood offline are answered by the
  playbook. The guardrail checks every one of these replies as usual.
- what is sent: the seller prompt plus `prompts/reply.md`, the turn brief
  without what the model does not need (rule ids, approval levels), earlier
  turns as buyer message and seller reply only (`history_turns` of them), and
  this turn's tool calls and results.

The offline model stays the default; `agent.models.factory.make_model` builds this
only when a key is configured.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import hashlib
import json
import logging
import re
import threading
import time
import weakref
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, get_args

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.runnables.config import ensure_config
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay
from tenacity.wait import wait_base

from agent.contract import Accept, CatalogQuery, CounterItem, CounterOffer, InQty, Reject, Rfq, RfqItem
from agent.intent import NO_PROPOSAL_TO_ACCEPT, NO_PROPOSAL_TO_REJECT, BuyerIntent, Question, QuestionTopic
from agent.models.breaker import CircuitBreaker, Transition
from agent.models.offline import OfflineModel, tool_results, turn_messages
from agent.models.openai import ModelSettings
from agent.playbook import BRIEF_MARKER, parse_brief, respond
from agent.prompts import DELIMITED_BUYER_TEXT, delimit_buyer_text
from agent.prompts import load as load_prompt
from tools.pricing.engine import today as utc_today

_log = logging.getLogger("dealdesk.model")

FALLBACK_KEY = "dealdesk_fallback"
LOCAL_KEY = "dealdesk_local"
INTENT_TOOL = "record_buyer_intent"
MODEL_NOTE = "understood by the model"
FALLBACK_NOTE = "model fallback"
# A reply may state each line of the offer it goes with: this many characters more per line (`reply_limit`).
REPLY_CHARS_PER_LINE = 200


# --- accounting ---------------------------------------------------------------------------------------


@dataclass
class Usage:
    """One conversation's model use."""

    calls: int = 0            # HTTP requests to the model, retries included
    input_tokens: int = 0
    output_tokens: int = 0
    fallbacks: Counter = field(default_factory=Counter)  # reason -> count
    errors: Counter = field(default_factory=Counter)     # typed error code -> count
    local: Counter = field(default_factory=Counter)      # steps answered without a model call
    seen_tool_errors: set = field(default_factory=set)

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class Ledger:
    """Usage per conversation (thread-safe); shared by a model and its bound copies.

    At most `keep` conversations are remembered (the least recently used is forgotten, and with it its budget).
    """

    def __init__(self, keep: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._by: dict[str, Usage] = {}
        self.keep = keep

    def _usage(self, conversation: str) -> Usage:
        usage = self._by.pop(conversation, None) or Usage()
        self._by[conversation] = usage
        while len(self._by) > self.keep:
            self._by.pop(next(iter(self._by)))
        return usage

    def get(self, conversation: str) -> Usage:
        with self._lock:
            return self._usage(conversation)

    def first_time(self, conversation: str, key: str) -> bool:
        """True once per key and conversation (tool errors are counted once)."""
        with self._lock:
            seen = self._usage(conversation).seen_tool_errors
            if key in seen:
                return False
            seen.add(key)
            return True

    def reset(self, conversation: str | None = None) -> None:
        with self._lock:
            if conversation is None:
                self._by.clear()
            else:
                self._by.pop(conversation, None)

    def conversations(self) -> list[str]:
        with self._lock:
            return list(self._by)

    def add(self, conversation: str, *, calls: int = 0, input_tokens: int = 0, output_tokens: int = 0) -> Usage:
        with self._lock:
            usage = self._usage(conversation)
            usage.calls += calls
            usage.input_tokens += input_tokens
            usage.output_tokens += output_tokens
            return usage

    def count(self, conversation: str, kind: str, code: str) -> None:
        """kind: fallbacks, errors or local."""
        with self._lock:
            getattr(self._usage(conversation), kind)[code] += 1


@dataclass
class Meter:
    """What the model did inside one `metered()` block (same thread or a context copied from it)."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    fallbacks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    local: list[str] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def fallback(self) -> str | None:
        return self.fallbacks[-1] if self.fallbacks else None


_METER: contextvars.ContextVar[Meter | None] = contextvars.ContextVar("dealdesk_meter", default=None)


@contextlib.contextmanager
def metered() -> Iterator[Meter]:
    """Count real model requests, tokens, fallbacks and local steps made inside the block.

    For the graph: `with metered() as m: understood = model.with_structured_output(...).invoke(...)`, then
    `m.calls` is the number of requests the model server saw (0 when the parser was sure).
    """
    meter = Meter()
    token = _METER.set(meter)
    try:
        yield meter
    finally:
        _METER.reset(token)


# --- the turn's deadline ----------------------------------------------------------------------------------

# When the model must be done with this turn (time.monotonic()), set by whoever bounds the turn (the server's
# `run_turn`); None: no bound beyond each call's own deadline (`ModelSettings.deadline`).
_TURN_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("dealdesk_turn_deadline",
                                                                             default=None)
# Below this many seconds left, a request is not started (the offline model answers at once).
MIN_REQUEST_S = 0.5


def model_margin(turn_timeout_s: float) -> float:
    """The time a turn keeps after the model's deadline for the offline fallback, the guardrail and the commit:
    a fifth of the turn, at least 1 s and at most 10 s (6 s of a 30 s turn)."""
    return min(10.0, max(1.0, 0.2 * turn_timeout_s))


@contextlib.contextmanager
def turn_deadline(turn_timeout_s: float, *, started: float | None = None) -> Iterator[float]:
    """Inside the block, every model request of the turn ends (and no new one starts) `model_margin` before
    `turn_timeout_s` from `started` (default: now), so that the offline model answers within the turn.
    Yields the model's deadline (time.monotonic()). An enclosing, earlier deadline stands."""
    until = (time.monotonic() if started is None else started) + turn_timeout_s - model_margin(turn_timeout_s)
    outer = _TURN_DEADLINE.get()
    token = _TURN_DEADLINE.set(until if outer is None else min(outer, until))
    try:
        yield _TURN_DEADLINE.get()  # type: ignore[misc]
    finally:
        _TURN_DEADLINE.reset(token)


def time_left() -> float | None:
    """Seconds the model has left in this turn (None: the turn sets no deadline)."""
    until = _TURN_DEADLINE.get()
    return None if until is None else until - time.monotonic()


def out_of_time() -> bool:
    """Too little of the turn left to start a model request (`MIN_REQUEST_S`)."""
    left = time_left()
    return left is not None and left < MIN_REQUEST_S


def conversation_id() -> str:
    """The graph's thread id (one negotiation), from the runnable config in context."""
    try:
        config = ensure_config()
    except Exception:  # noqa: BLE001 - outside any runnable context
        return "default"
    conf = config.get("configurable") or {}
    meta = config.get("metadata") or {}
    return str(conf.get("thread_id") or meta.get("thread_id") or "default")


# --- errors and retries --------------------------------------------------------------------------------


class ModelFailure(Exception):
    """A model call that did not give a usable answer; `reason` is the typed error code."""

    def __init__(self, reason: str, detail: str = "", requests: int = 0) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.requests = requests  # HTTP requests made before giving up


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if status is None:
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def classify(exc: BaseException) -> str:
    """A typed reason for a failed request: timeout, rate_limited, server_error, connection, auth, not_found,
    bad_request, ..."""
    import httpx
    import openai

    if isinstance(exc, ModelFailure):
        return exc.reason
    if isinstance(exc, (openai.APITimeoutError, httpx.TimeoutException, TimeoutError)):
        return "timeout"
    status = _status(exc)
    if isinstance(exc, openai.RateLimitError) or status == 429:
        return "rate_limited"
    if status is not None and status >= 500:
        return "server_error"
    if isinstance(exc, (openai.APIConnectionError, httpx.TransportError, ConnectionError)):
        return "connection"
    if status in (401, 403):
        return "auth"
    if status == 404:  # no such model or path: the configuration, not the request (not a reason to switch methods)
        return "not_found"
    if status in (400, 409, 413, 415, 422):
        return "bad_request"
    return "error"


def bad_response(exc: BaseException) -> bool:
    """Did the server answer HTTP 2xx with something that is not a chat completion? A body that is not JSON, not an
    object (an HTML page from a proxy, `null`), an error object instead of a completion, no `choices` or an empty
    list of them, a choice without a message: each is what `ChatOpenAI` raised reading it (a JSONDecodeError, a
    ValueError, a TypeError on null choices, an IndexError on `choices[0]`, an AttributeError on a null message)."""
    if isinstance(exc, (json.JSONDecodeError, IndexError)):
        return True
    text = str(exc)
    if isinstance(exc, ValueError) and (text.startswith("Unexpected response type")
                                        or (exc.args and isinstance(exc.args[0], dict))):
        return True
    if isinstance(exc, TypeError) and ("'choices'" in text or text.startswith("'NoneType' object is not")):
        return True
    return isinstance(exc, AttributeError) and "'NoneType' object" in text


RETRYABLE = ("timeout", "rate_limited", "server_error", "connection")
# reasons a call gave up on that say the model is not answering (the circuit breaker counts them); a
# turn's time used up by requests is one, an answer that could not be used is not
OUTAGES = (*RETRYABLE, "turn_deadline")


def _logged(change: Transition | None, model: str) -> None:
    """The breaker's changes of state go to the server log (an operator sees the model is being skipped)."""
    if change is None:
        return
    if change.state == "open":
        _log.warning("model %s: %d calls in a row gave up on an outage; answering offline for %.0f s",
                     model, change.failures, change.cooldown)
    else:
        _log.warning("model %s answers again; asking it again", model)


def _retryable(exc: BaseException) -> bool:
    return classify(exc) in RETRYABLE


def _retry_after(exc: BaseException | None) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        if headers.get("retry-after"):
            return float(headers["retry-after"])
    except (TypeError, ValueError):
        return None
    return None


class _Backoff(wait_base):
    """Exponential backoff with jitter; a server's Retry-After is honoured up to `maximum`."""

    def __init__(self, initial: float, maximum: float, jitter: float) -> None:
        self.initial, self.maximum, self.jitter = initial, maximum, jitter

    def __call__(self, retry_state: RetryCallState) -> float:
        import random

        n = max(retry_state.attempt_number - 1, 0)
        wait = min(self.initial * (2 ** n), self.maximum) + random.uniform(0, self.jitter)
        outcome = retry_state.outcome
        hint = _retry_after(outcome.exception() if outcome is not None and outcome.failed else None)
        if hint is not None:
            wait = max(wait, hint)
        return min(wait, self.maximum)


# --- what is sent --------------------------------------------------------------------------------------

_MOVE_KEYS = ("id", "kind", "sku", "quantity", "unit_price", "list_price", "discount_percent", "line_total",
              "payment_terms", "lead_time_days", "needs_approval", "alternative", "rationale")


def compact_brief(brief: dict[str, Any]) -> dict[str, Any]:
    """The turn brief as the model needs it: the intent, the moves' figures, feedback (no rule ids, no levels)."""
    lines = []
    currency = None
    for ln in brief.get("lines") or []:
        plan = ln.get("plan") or {}
        moves = []
        for m in plan.get("moves") or []:
            currency = currency or m.get("currency")
            move = {k: m[k] for k in _MOVE_KEYS if k in m and m[k] not in (None, "", [])}
            if "discount_percent" in move:
                try:
                    move["discount_percent"] = str(Decimal(str(move["discount_percent"])).quantize(Decimal("0.01")))
                except (InvalidOperation, ValueError):
                    pass
            moves.append(move)
        lines.append({"sku": ln.get("sku"), "quantity": ln.get("quantity"), "asked": ln.get("asked"),
                      "recommended": plan.get("recommended"), "standing": plan.get("standing"),
                      "closing": plan.get("closing"), "moves": moves,
                      # the buyer has had this line's related-SKU suggestions (the system prompt's rule)
                      **({"offered_before": True} if plan.get("offered_before") else {})})
    intent = _strip(dict(brief.get("intent") or {}))
    out: dict[str, Any] = {"intent": intent, "lines": lines}
    if currency:
        out["currency"] = currency
    if brief.get("feedback"):
        out["feedback"] = brief["feedback"]
    return out


def _strip(value: Any) -> Any:
    """Without nulls and empty lists or objects, recursively."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def brief_of(messages: Sequence[BaseMessage]) -> dict[str, Any] | None:
    for m in messages:
        if isinstance(m, SystemMessage) and isinstance(m.content, str) and BRIEF_MARKER in m.content:
            try:
                return parse_brief(m.content)
            except ValueError:
                return None
    return None


def _text(message: BaseMessage) -> str:
    if isinstance(message.content, str):
        return message.content
    return " ".join(b.get("text", "") for b in message.content
                    if isinstance(b, dict) and b.get("type") == "text").strip()


def _summary(data: dict[str, Any] | None) -> str:
    """A seller reply's data part in a few tokens, so the model knows what was offered."""
    if not isinstance(data, dict):
        return ""
    kind = data.get("type")
    if kind == "proposal":
        cur = data.get("currency", "")
        items = "; ".join(f"{i.get('quantity')} x {i.get('sku')} at {i.get('unit_price')} {cur}"
                          for i in data.get("items") or [])
        return (f"[proposal {data.get('proposal_id')} v{data.get('version')}: {items}; total {data.get('total')} "
                f"{cur}; {data.get('payment_terms')}]")
    if kind == "deal":
        return f"[deal {data.get('deal_id')} on {data.get('proposal_id')} v{data.get('version')}]"
    if kind == "error":
        return f"[error {data.get('code')}: {data.get('message')}]"
    return f"[{kind}]" if kind else ""


def prepare_messages(messages: Sequence[BaseMessage], *, history_turns: int,
                     extra_system: str = "") -> list[BaseMessage]:
    """What the real model is sent for one agent step (see the module docstring)."""
    system: list[BaseMessage] = []
    rest: list[BaseMessage] = []
    for m in messages:
        (system if isinstance(m, SystemMessage) else rest).append(m)
    out: list[BaseMessage] = []
    for m in system:
        content = m.content if isinstance(m.content, str) else _text(m)
        if BRIEF_MARKER in content:
            head, _, _ = content.partition(BRIEF_MARKER)
            brief = parse_brief(content) or {}
            content = head.rstrip() + ("\n\n" + extra_system.strip() if extra_system else "") + "\n\n" + \
                BRIEF_MARKER + "\n" + json.dumps(compact_brief(brief), default=str, sort_keys=True,
                                                 separators=(",", ":"))
        out.append(SystemMessage(content=content))
    # turns: each starts at a buyer (or operator) message
    starts = [i for i, m in enumerate(rest) if isinstance(m, HumanMessage)]
    if not starts:
        return out + [_clean(m) for m in rest]
    current = starts[-1]
    earlier: list[list[BaseMessage]] = []
    for a, b in zip(starts[:-1], starts[1:]):
        earlier.append(rest[a:b])
    for turn in earlier[-history_turns:] if history_turns > 0 else []:
        human = turn[0]
        if getattr(human, "name", None) != "operator":  # an operator's decision is internal; its reply is not
            out.append(HumanMessage(content=_text(human)))
        final = next((m for m in reversed(turn) if isinstance(m, AIMessage) and getattr(m, "name", None) == "seller"),
                     None) or next((m for m in reversed(turn) if isinstance(m, AIMessage) and not m.tool_calls), None)
        if final is not None:
            summary = _summary((final.additional_kwargs or {}).get("data"))
            out.append(AIMessage(content=(_text(final) + (" " + summary if summary else "")).strip()))
    out.append(HumanMessage(content=_text(rest[current])))
    out += [_clean(m) for m in rest[current + 1:]]
    return out


def _clean(m: BaseMessage) -> BaseMessage:
    """A message in the form every OpenAI-compatible server accepts (text content, no extra fields)."""
    if isinstance(m, AIMessage):
        return AIMessage(content=_text(m), tool_calls=list(m.tool_calls), id=m.id)
    if isinstance(m, ToolMessage):
        content = m.content if isinstance(m.content, str) else json.dumps(m.content, default=str)
        return ToolMessage(content=content, tool_call_id=m.tool_call_id, name=m.name)
    if isinstance(m, HumanMessage):
        return HumanMessage(content=_text(m))
    return m


def _call_id(name: str, args: dict[str, Any]) -> str:
    key = hashlib.sha256(json.dumps([name, args], sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"call_{key}"


def local_step(messages: Sequence[BaseMessage], brief: dict[str, Any] | None,
               answer: Any = None) -> tuple[AIMessage, str] | None:
    """An agent step that needs no model: (message, reason), or None to ask the model.

    `answer()` gives the answer drafted with the intent for this turn's question (once), or None.
    """
    if brief is None:
        return None
    intent = brief.get("intent") or {}
    turn = turn_messages(messages)
    if intent.get("source") in ("offline", "data"):
        # understood without the model: the playbook answers, as for a structured message
        return respond(brief, tool_results(messages)), "playbook"
    last = messages[-1] if messages else None
    if isinstance(last, ToolMessage):
        caller = next((m for m in reversed(turn) if isinstance(m, AIMessage) and m.tool_calls), None)
        if caller is not None and {c["name"] for c in caller.tool_calls} == {"submit_proposal"}:
            ids = {c["id"] for c in caller.tool_calls}
            results = [m for m in turn if isinstance(m, ToolMessage) and m.tool_call_id in ids]
            if results and all(_ok(m) for m in results):
                text = _text(caller)
                return AIMessage(content=text), ("drafted_with_tool_call" if text else "offer_text")
        if caller is not None and caller.response_metadata.get(LOCAL_KEY) == "prefetch" and answer is not None:
            ids = {c["id"] for c in caller.tool_calls}
            results = [m for m in turn if isinstance(m, ToolMessage) and m.tool_call_id in ids]
            drafted = answer() if results and all(_ok(m) for m in results) else None
            if drafted:
                return AIMessage(content=drafted), "answered_with_intent"
        return None
    if any(isinstance(m, AIMessage) for m in turn):
        return None
    kind = intent.get("kind")
    question = intent.get("question") or {}
    if kind == "question" and not question.get("skus") and answer is not None:
        drafted = answer()
        if drafted:
            return AIMessage(content=drafted), "answered_with_intent"
    if kind == "question" and question.get("skus"):
        calls = [{"name": "catalog_lookup", "args": {"sku": sku}, "id": _call_id("catalog_lookup", {"sku": sku}),
                  "type": "tool_call"} for sku in list(dict.fromkeys(question["skus"]))[:4]]
        return AIMessage(content="", tool_calls=calls), "prefetch"
    if kind == "catalog_query":
        step = respond(brief, [])
        if step.tool_calls:
            return step, "prefetch"
    return None


def without_refused_proposals(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """The messages without this turn's refused `submit_proposal` calls (an off-strategy move id, ...) and their
    results, for the offline model standing in for the real one: it offers the strategy's recommended moves
    instead of apologising for a call it did not make. Other calls and every result stay as they are."""
    turn = turn_messages(messages)
    start = len(messages) - len(turn)
    refused = {m.tool_call_id for m in turn if isinstance(m, ToolMessage) and m.name == "submit_proposal"
               and not _ok(m)}
    if not refused:
        return list(messages)
    kept: list[BaseMessage] = list(messages[:start])
    for m in turn:
        if isinstance(m, ToolMessage) and m.tool_call_id in refused:
            continue
        if isinstance(m, AIMessage) and m.tool_calls and {c["id"] for c in m.tool_calls} & refused:
            calls = [c for c in m.tool_calls if c["id"] not in refused]
            if not calls:
                continue
            m = m.model_copy(update={"tool_calls": calls})
        kept.append(m)
    return kept


def with_call_ids(message: AIMessage) -> AIMessage:
    """The message with an id of its own on every tool call: some OpenAI-compatible servers send a tool call with no
    id (or the same id twice), and each tool result must name the one call it answers (a ToolMessage without a
    `tool_call_id` cannot be built: the turn ended in a traceback)."""
    calls = list(message.tool_calls or [])
    seen: set[str] = set()
    fixed, changed = [], False
    for n, call in enumerate(calls):
        cid = call.get("id")
        if not isinstance(cid, str) or not cid.strip() or cid in seen:
            cid = f"{_call_id(call['name'], call.get('args') or {})}_{n}"
            changed = True
        seen.add(cid)
        fixed.append({**call, "id": cid})
    return message.model_copy(update={"tool_calls": fixed}) if changed else message


def _ok(m: ToolMessage) -> bool:
    if isinstance(m.artifact, dict):
        return bool(m.artifact.get("ok"))
    try:
        return bool(json.loads(m.content if isinstance(m.content, str) else "{}").get("ok"))
    except ValueError:
        return False


# --- understanding -------------------------------------------------------------------------------------

_QUANTITY: TypeAdapter[int] = TypeAdapter(InQty)


def _count(raw: str) -> int | None:
    """A quantity as the wire contract reads one, or None (the question is still answered without it)."""
    try:
        return _QUANTITY.validate_python(raw)
    except ValidationError:
        return None


_NULL_STR = {"type": ["string", "null"]}
_STR_LIST = {"type": "array", "items": {"type": "string"}}
INTENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "kind": {"type": "string",
                 "enum": ["rfq", "counter_offer", "accept", "reject", "question", "catalog_query", "unknown"]},
        "items": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "properties": {"sku": {"type": "string"}, "quantity": {"type": ["integer", "null"]},
                           "unit_price": {"type": ["string", "null"], "description": "decimal as written, e.g. 2.95"}},
            "required": ["sku", "quantity", "unit_price"]}},
        "proposal_id": _NULL_STR,
        "version": {"type": ["integer", "null"]},
        "payment_terms": _NULL_STR,
        "delivery_date": {"type": ["string", "null"], "description": "YYYY-MM-DD"},
        "currency": _NULL_STR,
        "buyer_reference": _NULL_STR,
        "query": _NULL_STR,
        "category": _NULL_STR,
        "specs": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "properties": {"name": {"type": "string"}, "value": {"type": "string"}}, "required": ["name", "value"]}},
        "question_topic": {"type": ["string", "null"], "enum": [*get_args(QuestionTopic), None]},
        "question_skus": _STR_LIST,
        "question_spec": _NULL_STR,
        "reason": _NULL_STR,
        "discount_percent": {"type": ["string", "null"],
                             "description": "a discount asked in percent off the current proposal, as written, e.g. 5"},
        "total_price": {"type": ["string", "null"],
                        "description": "a total asked for the whole current proposal (a budget, 'for the lot'), "
                                       "as written, e.g. 900"},
        "arguments": _STR_LIST,
        "notes": _STR_LIST,
        "answer": {"type": ["string", "null"],
                   "description": "for a question or a catalog_query only: the reply to the buyer from the "
                                  "catalog facts in the context"},
    },
    "required": ["kind", "items", "proposal_id", "version", "payment_terms", "delivery_date", "currency",
                 "buyer_reference", "query", "category", "specs", "question_topic", "question_skus", "question_spec",
                 "discount_percent", "total_price", "reason", "arguments", "notes", "answer"],
}


class IntentError(Exception):
    """The model's intent cannot be used: `code` is invalid_json, invalid_intent or invented_sku."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass
class _CatalogIndex:
    by_fold: dict[str, str]
    entries: list[tuple[str, str, str, frozenset[str]]]  # sku, name, category, words
    words: frozenset[str]
    categories: tuple[str, ...]


_INDEX: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_INDEX_LOCK = threading.Lock()
_WORD = re.compile(r"[a-z0-9]+")


def _catalog_index(catalog: Any) -> _CatalogIndex:
    with _INDEX_LOCK:
        try:
            hit = _INDEX.get(catalog)
        except TypeError:
            hit = None
        if hit is not None:
            return hit
    entries = []
    vocab: set[str] = set()
    cats: list[str] = []
    for sku, p in catalog.products.items():
        words = frozenset(_WORD.findall(f"{sku} {p.name} {p.category}".casefold()))
        spec_words = set()
        for k in (p.specs or {}):
            spec_words.update(_WORD.findall(str(k).casefold().replace("_", " ")))
        entries.append((sku, p.name, p.category, words))
        vocab |= words | spec_words
        if p.category not in cats:
            cats.append(p.category)
    index = _CatalogIndex({s.casefold(): s for s in catalog.products}, entries, frozenset(vocab), tuple(cats))
    with _INDEX_LOCK:
        try:
            _INDEX[catalog] = index
        except TypeError:
            pass
    return index


def relevant_products(text: str, ctx: Any, limit: int = 12, facts: int = 4) -> list[dict[str, Any]]:
    """The catalog entries a message may refer to: named SKUs, the proposal's, then the best name matches.

    The first `facts` of them carry what `catalog_lookup` would say of them (specs, lead time, companions),
    so that a question can be answered in the same call.
    """
    index = _catalog_index(ctx.catalog)
    low = text.casefold()
    words = set(_WORD.findall(low))
    scored = []
    proposal = set(ctx.proposal_skus or ())
    for sku, name, category, ewords in index.entries:
        score = 0.0
        if sku.casefold() in low:
            score += 100
        if sku in proposal:
            score += 50
        overlap = words & ewords
        score += sum(3 if any(c.isdigit() for c in w) else 1 for w in overlap if len(w) > 1)
        if score >= 2:
            scored.append((-score, sku, name, category))
    scored.sort()
    out: list[dict[str, Any]] = []
    for i, (_, s, n, c) in enumerate(scored[:limit]):
        entry: dict[str, Any] = {"sku": s, "name": n, "category": c}
        if i < facts:
            p = ctx.catalog.products[s]
            entry.update({"unit": p.unit, "specs": {k: str(v) for k, v in p.specs.items()},
                          "lead_time_days": p.capacity.lead_time_days, "compatible": list(p.compatible),
                          "related": list(p.related)})
        out.append(entry)
    return out


def understanding_context(text: str, ctx: Any, today: dt.date | None = None) -> dict[str, Any]:
    current = None
    if ctx.proposal_id:
        current = {"id": ctx.proposal_id, "version": ctx.proposal_version,
                   "lines": [{"sku": s, "quantity": q} for s, q in zip(ctx.proposal_skus, ctx.proposal_quantities)]}
    named = None
    if not ctx.proposal_id and ctx.topic:  # no offer: what "500 then" is about (agent/topic.py)
        named = [{"sku": s, "quantity": q} for s, q in zip(ctx.proposal_skus, ctx.proposal_quantities)]
    return {"today": (today or utc_today()).isoformat(), "region": ctx.region, "currency": ctx.currency,
            "current_proposal": current, "last_named": named, "catalog": relevant_products(text, ctx),
            "categories": list(_catalog_index(ctx.catalog).categories)}


def understanding_messages(text: str, ctx: Any, today: dt.date | None = None) -> list[BaseMessage]:
    prompt = load_prompt("understand")
    context = json.dumps(understanding_context(text, ctx, today), default=str, separators=(",", ":"))
    return [SystemMessage(content=prompt.text.replace("{{context}}", context)),
            HumanMessage(content=delimit_buyer_text(text))]


def _terms(raw: str | None) -> str | None:
    if not raw:
        return None
    code = re.sub(r"[^A-Za-z0-9_\-]", "", raw).upper()
    if code in ("PREPAID", "PREPAYMENT", "ADVANCE"):
        code = "PREPAY"
    return code[:32] or None


def _price(raw: Any) -> Decimal | None:
    if raw is None or isinstance(raw, bool):
        return None
    cleaned = re.sub(r"[^0-9.,]", "", str(raw))
    if "," in cleaned and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")
    cleaned = cleaned.replace(",", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    return value if value.is_finite() and value >= 0 else None


_LISTS = ("items", "specs", "question_skus", "arguments", "notes")


def _off_schema(data: dict[str, Any]) -> str | None:
    """Where a structured answer that has a known kind still does not have the schema's shape (a server that ignores
    `strict`, or function calling, which nothing enforces): `items` that is a string, an item that is not an object."""
    for key in _LISTS:
        value = data.get(key)
        if value is not None and not isinstance(value, list):
            return f"{key}: expected an array, got {type(value).__name__}"
    for n, entry in enumerate(data.get("items") or []):
        if not isinstance(entry, dict):
            return f"items.{n}: expected an object, got {type(entry).__name__}"
    return None


def to_buyer_intent(data: Any, ctx: Any, text: str) -> BuyerIntent:
    """The model's structured answer as a validated `BuyerIntent` (source "model"); raises `IntentError`, also for an
    answer off the schema's shape (never an AttributeError out of the turn)."""
    if not isinstance(data, dict) or data.get("kind") not in INTENT_SCHEMA["properties"]["kind"]["enum"]:
        raise IntentError("invalid_intent", "no known intent kind")
    where = _off_schema(data)
    if where is not None:
        raise IntentError("invalid_intent", where)
    try:
        return _to_buyer_intent(data, ctx, text)
    except (AttributeError, TypeError, KeyError) as exc:  # a value of a type the schema does not allow
        raise IntentError("invalid_intent", f"off the schema: {type(exc).__name__}: {str(exc)[:120]}") from None


def _to_buyer_intent(data: dict[str, Any], ctx: Any, text: str) -> BuyerIntent:
    index = _catalog_index(ctx.catalog)
    low = text.casefold()

    def sku(raw: Any) -> str:
        if not isinstance(raw, str) or not raw.strip():
            raise IntentError("invalid_intent", "an item without a SKU")
        raw = raw.strip()
        known = index.by_fold.get(raw.casefold())
        if known:
            return known
        if raw.casefold() in low:
            return raw  # the buyer's own (unknown) SKU: the seller answers unknown_sku
        raise IntentError("invented_sku", f"{raw!r} is neither in the catalog nor in the message")

    notes = [str(n)[:200] for n in (data.get("notes") or []) if n][:20]
    notes += [f"buyer argument: {str(a)[:200]}" for a in (data.get("arguments") or []) if a][:10]
    notes.append(MODEL_NOTE)
    kind = data["kind"]
    pid = data.get("proposal_id") or ctx.proposal_id
    version = data.get("version")
    if version is None and pid and pid == ctx.proposal_id:
        version = ctx.proposal_version
    try:
        if kind == "rfq":
            items, asked = [], []
            for it in data.get("items") or []:
                s, q = sku(it.get("sku")), it.get("quantity")
                if not isinstance(q, int) or isinstance(q, bool):
                    notes.append(f"{s} named without a quantity; left out")
                    continue
                items.append(RfqItem(sku=s, quantity=q))
                price = _price(it.get("unit_price"))
                if price is not None:
                    asked.append(CounterItem(sku=s, quantity=q, unit_price=price))
            if not items:
                return BuyerIntent(kind="unknown", source="model", notes=[*notes, "a quote needs a SKU and a quantity"])
            delivery = None
            if data.get("delivery_date"):
                try:
                    delivery = dt.date.fromisoformat(str(data["delivery_date"]))
                except ValueError:
                    notes.append(f"delivery date {str(data['delivery_date'])[:20]!r} dropped: not YYYY-MM-DD")
            currency = data.get("currency") if isinstance(data.get("currency"), str) and \
                re.fullmatch(r"[A-Z]{3}", data["currency"] or "") else None
            rfq = Rfq(items=items, currency=currency, payment_terms=_terms(data.get("payment_terms")),
                      delivery_date=delivery, buyer_reference=(data.get("buyer_reference") or None))
            percent = _percent_written(data.get("discount_percent")) if not asked else None
            if percent is not None and 0 < percent < 100:  # "with 5% off": the graph prices it for this buyer
                notes.append(f"asked {percent}% off the price quoted")
            else:
                percent = None
            return BuyerIntent(kind="rfq", message=rfq, asked_prices=asked, asked_discount_percent=percent,
                               source="model", notes=notes)
        if kind == "counter_offer":
            if not pid or not version:
                return BuyerIntent(kind="unknown", source="model",
                                   notes=[*notes, "a counter-offer needs the proposal and its version"])
            proposal = dict(zip(ctx.proposal_skus, ctx.proposal_quantities)) if pid == ctx.proposal_id else {}
            items = []
            for it in data.get("items") or []:
                s = sku(it.get("sku"))
                q = it.get("quantity") if isinstance(it.get("quantity"), int) else proposal.get(s)
                price = _price(it.get("unit_price"))
                if q is None or price is None:
                    continue
                items.append(CounterItem(sku=s, quantity=q, unit_price=price))
            terms = _terms(data.get("payment_terms"))
            if not items:
                named = [sku(it.get("sku")) for it in data.get("items") or []]
                off = _off_the_offer(data, ctx, pid, set(named)) or _for_the_lot(data, ctx, pid) \
                    or _split(text, ctx, pid) or _other_terms(terms, ctx, pid)
                if off is None:
                    skus = named or list(ctx.proposal_skus)
                    return BuyerIntent(kind="question", question=Question(topic="price", skus=skus[:100]),
                                       source="model", notes=[*notes, "prices asked without figures per line"])
                items, how = off
                notes += how
            elif pid == ctx.proposal_id:  # a price on some lines: the others stay at their offered price
                items, how = _with_offer_lines(ctx, items)
                notes += how
            co = CounterOffer(proposal_id=pid, version=version, items=items, payment_terms=terms)
            return BuyerIntent(kind="counter_offer", message=co, source="model", notes=notes)
        if kind == "accept":
            if not pid or not version:
                return BuyerIntent(kind="unknown", source="model", notes=[*notes, NO_PROPOSAL_TO_ACCEPT])
            taken = _lines_taken(data, ctx, pid, sku)
            if taken:  # "accept the bearings only": never a deal on lines the buyer did not take
                notes.append(f"acceptance of {', '.join(i.sku for i in taken)} only: a proposal for those lines first")
                return BuyerIntent(kind="rfq", message=Rfq(items=taken), source="model", notes=notes)
            return BuyerIntent(kind="accept", message=Accept(proposal_id=pid, version=version), source="model",
                               notes=notes)
        if kind == "reject":
            if not pid:
                return BuyerIntent(kind="unknown", source="model", notes=[*notes, NO_PROPOSAL_TO_REJECT])
            reason = (data.get("reason") or " ".join(text.split()))[:1000] or None
            return BuyerIntent(kind="reject", message=Reject(proposal_id=pid, reason=reason), source="model",
                               notes=notes)
        if kind == "catalog_query":
            items = [it for it in data.get("items") or [] if isinstance(it, dict)]
            skus = [sku(it.get("sku")) for it in items if it.get("sku")]
            specs = {str(s.get("name"))[:64]: str(s.get("value"))[:64] for s in data.get("specs") or []
                     if isinstance(s, dict) and s.get("name") and s.get("value") is not None}
            query = CatalogQuery(sku=skus[0] if len(skus) == 1 else None, query=(data.get("query") or None),
                                 category=(data.get("category") or None), specs=specs or None)
            # the quantity a search names ("about 800 pcs"), for the one product it finds (agent/topic.py)
            counts = [q for it in items if isinstance(q := it.get("quantity"), int) and not isinstance(q, bool)
                      and 1 <= q <= 10_000_000]
            return BuyerIntent(kind="catalog_query", message=query, quantity=counts[0] if len(counts) == 1 else None,
                               source="model", notes=notes)
        if kind == "question":
            skus = [sku(s) for s in data.get("question_skus") or []] or \
                [sku(it.get("sku")) for it in data.get("items") or []]
            topic = data.get("question_topic") or "other"
            off = (_off_the_offer(data, ctx, pid, set(skus)) or _for_the_lot(data, ctx, pid)
                   or _split(text, ctx, pid)) if topic == "price" else None
            if off is not None and version:  # "10% off?" read as a question: it is a counter-offer all the same
                items, how = off
                co = CounterOffer(proposal_id=pid, version=version, items=items,
                                  payment_terms=_terms(data.get("payment_terms")))
                return BuyerIntent(kind="counter_offer", message=co, source="model", notes=[*notes, *how])
            # A lead-time, availability or price question on one product for a quantity: the quantity its item
            # names (a price question's answer is the volume breaks and that quantity's price).
            counts = {str(it.get("quantity")) for it in data.get("items") or [] if it.get("quantity")}
            quantity = _count(counts.pop()) if topic in ("lead_time", "availability", "price") \
                and len(set(skus)) == 1 and len(counts) == 1 else None
            asked = str(data.get("currency") or "").strip().upper() if topic == "currency" else ""
            question = Question(topic=topic, skus=skus[:100], spec=(data.get("question_spec") or None),
                                quantity=quantity, currency=asked if re.fullmatch(r"[A-Z]{3}", asked) else None)
            return BuyerIntent(kind="question", question=question, source="model", notes=notes)
        return BuyerIntent(kind="unknown", source="model", notes=notes)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise IntentError("invalid_intent", f"{where}: {err['msg']}") from None


def _percent_written(raw: Any) -> Decimal | None:
    """The model's `discount_percent` as a number as written, from 0 to 999 ("5", "7.5", "5%"): nothing signed,
    nothing else; None otherwise."""
    if raw is None:
        return None
    written = re.fullmatch(r"\s*(\d{1,3}(?:[.,]\d{1,4})?)\s*(?:%|percent)?\s*", str(raw), re.I)
    return None if written is None else Decimal(written.group(1).replace(",", "."))


def _off_the_offer(data: dict[str, Any], ctx: Any, pid: str | None,
                   named: set[str]) -> tuple[list[CounterItem], list[str]] | None:
    """The model's `discount_percent` on the current proposal (on the products `named`, or all of it) as
    counter-offer lines: priced here from the offer's own unit prices (`discount_items`, as the offline
    parser does), never by the model. None for a product the proposal does not have."""
    percent = _percent_written(data.get("discount_percent"))
    if percent is None or pid is None or pid != ctx.proposal_id:
        return None
    from agent.offline.offer import discount_items

    whole = not named or named == set(ctx.proposal_skus)
    return discount_items(ctx, percent, _currency(ctx), None if whole else named)


def _lines_taken(data: dict[str, Any], ctx: Any, pid: str, sku: Any) -> list[RfqItem]:
    """The lines of an acceptance that names some, not all, of the current proposal's products, at their
    quantities; empty for an acceptance of the whole proposal (or of another one)."""
    if pid != ctx.proposal_id:
        return []
    named = {sku(it.get("sku")) for it in data.get("items") or [] if isinstance(it, dict) and it.get("sku")}
    lines = dict(zip(ctx.proposal_skus, ctx.proposal_quantities))
    if not named or not named < set(lines) or any(lines[s] is None for s in named):
        return []
    return [RfqItem(sku=s, quantity=q) for s, q in lines.items() if s in named]


def _for_the_lot(data: dict[str, Any], ctx: Any, pid: str | None) -> tuple[list[CounterItem], list[str]] | None:
    """The model's `total_price` for the whole current proposal as counter-offer lines: each line's offered
    price scaled to it (`total_items`, as the offline parser reads a budget or a price for the lot), never by
    the model."""
    raw = data.get("total_price")
    if raw is None or pid is None or pid != ctx.proposal_id:
        return None
    written = str(raw).strip()
    # "1,000" or "1.000" is a thousand here (a total), not the decimal comma `_price` reads in "3,10"
    total = Decimal(re.sub(r"[.,]", "", written)) if re.fullmatch(r"\d{1,3}(?:([.,])\d{3})(?:\1\d{3})*", written) \
        else _price(written)
    if total is None or total <= 0:
        return None
    from agent.offline.offer import total_items

    return total_items(ctx, total, _currency(ctx))


def _currency(ctx: Any) -> str | None:
    """The current offer's currency the context carries, which the offer's own prices are in."""
    return ctx.currency if isinstance(ctx.currency, str) else None


def _with_offer_lines(ctx: Any, items: list[CounterItem]) -> tuple[list[CounterItem], list[str]]:
    """The model's counter on some of the offer's lines, the others asked at their offered price (as the
    offline parser reads one: `with_offer_lines`)."""
    from agent.offline.offer import with_offer_lines

    return with_offer_lines(ctx, items, _currency(ctx))


def _other_terms(terms: str | None, ctx: Any, pid: str | None) -> tuple[list[CounterItem], list[str]] | None:
    """Other payment terms asked on the current offer with no price ("what about net 60?"): every line at its
    offered price on those terms. None for the offer's own terms or without the offer's prices."""
    if terms is None or pid is None or pid != ctx.proposal_id or terms == ctx.proposal_terms:
        return None
    items, notes = _with_offer_lines(ctx, [])
    return (items, [f"asks for payment terms {terms} on the offer", *notes]) if items else None


def _split(text: str, ctx: Any, pid: str | None) -> tuple[list[CounterItem], list[str]] | None:
    """'Split the difference' on the current proposal, read from the buyer's words: the midpoints of the offer and
    the buyer's last asks (`midpoint_items`, as the offline parser prices them); the model only says it is a
    counter-offer or a price question."""
    from agent.offline.offer import asks_midpoint, midpoint_items

    if pid is None or pid != ctx.proposal_id or not asks_midpoint(text):
        return None
    return midpoint_items(ctx, _currency(ctx))


def parse_intent_json(content: str) -> Any:
    """The JSON object of a structured-output answer (a ```json fence around it is tolerated)."""
    body = content.strip()
    fence = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", body, re.S)
    if fence:
        body = fence.group(1)
    try:
        return json.loads(body)
    except ValueError as exc:
        raise IntentError("invalid_json", f"not JSON ({exc.msg})") from None


# The cascade: when is the offline parser's reading the whole story?
_DOUBT = re.compile(r"dropped|ignored|\?|which|without|not a catalog sku|instruction-like|ambiguous|several|"
                    r"left out|truncated|cannot|objects|named twice|outside|besides|also named|read as|not known|"
                    r"noted|no request|both|first is used|kept as written|discount", re.I)
_ARGUMENT = re.compile(
    r"%|\b(?:competitor\w*|compet\w+|vendor\w*|supplier\w*|elsewhere|cheaper|beat|match\w*|budget\w*|because|since|"
    r"otherwise|unless|however|but|although|though|if|deadline|urgent\w*|asap|loyal\w*|long[- ]term|relationship|"
    r"final|last|walk|approv\w*|manager|boss|ceo|ignore\w*|system|instruction\w*|prompt|assistant|pretend|policy|"
    r"floor|margin|cost\w*|why|explain|recommend\w*|suggest\w*|alternative\w*|instead|better|best|cheapest|"
    r"discount\w*|rebate|free|cheap|expensive|too|high|low|lower|reduce\w*|negotiat\w*|maybe|perhaps|might|"
    r"think|compare|versus|vs|difference|which|should|or)\b", re.I)
_REFERENCE = re.compile(r"\b(?:that|this|these|those|it|its|them|they|one|ones|same|previous|above|usual)\b", re.I)
_FIT = re.compile(r"\b(?:fit\w*|compatib\w*|work\w* with|suit\w*|replace\w*|equivalent|instead)\b", re.I)
_SECOND_QUESTION = re.compile(r"[,;]?\s+(?:and|also|plus)\s+(?:how|what|when|where|which|why|is|are|do|does|can|could|"
                              r"would|will)\b", re.I)
_VOCAB = frozenset("""
a an the and of for to in on at by with from per each x pcs pc pieces piece units unit items item ea qty quantity
quantities please pls kindly thanks thank hi hello dear team regards kind we i us our me my you your can could would
will do does is are be it its this that these those need needs want wants like looking get send quote quotation
quotes rfq request requesting price prices pricing offer proposal version rev accept accepted accepting agree agreed
ok okay yes go ahead confirm confirmed reject rejected decline declined no not interested pass counter net terms
payment pay prepay prepayment days day weeks week delivery deliver delivered ship shipping shipped before until
lead time stock available availability how many much what whats s is bore spec specs specification specifications
compatible compatibility fit fits work works eur usd euro euros dollars order buy purchase take make new another
more also our po ref reference now there here hey sir madam morning afternoon cheers sincerely asap just
""".split())


# What the parser read that stands when the model, asked because the parser was not sure, reads no request.
KEPT_WHEN_MODEL_UNSURE = frozenset({"question", "catalog_query", "rfq"})
MODEL_UNSURE_NOTE = "the model read no request; the parser's reading (which binds nobody) is kept"


def offline_is_sure(text: str, intent: BuyerIntent, ctx: Any) -> tuple[bool, str]:
    """(sure, why): the parser's intent is trusted alone when it explains the whole message."""
    if intent.kind == "unknown":
        return False, "the parser did not recognise a request"
    if intent.kind == "question" and (intent.question is None or intent.question.topic == "other"
                                      or not intent.question.skus):
        return False, "an open question"
    if len(text) > 400 or len(text.split()) > 40:
        return False, "a long message"
    low = text.casefold()
    if intent.kind == "question":
        if any(sku.casefold() not in low for sku in intent.question.skus):
            return False, "a question about a product it does not name"
        if text.count("?") > 1 or _SECOND_QUESTION.search(text):
            return False, "more than one question"
    doubts = [n for n in intent.notes if _DOUBT.search(n)]
    if doubts:
        return False, f"the parser noted: {doubts[0][:80]}"
    argument = _ARGUMENT.search(text)
    if argument:
        return False, f"argument or nuance ({argument.group()!r})"
    if intent.kind not in ("accept", "reject"):
        reference = _REFERENCE.search(text)
        if reference:
            return False, f"a reference to something not named ({reference.group()!r})"
    if intent.kind == "catalog_query" and _FIT.search(text):
        return False, "a compatibility question read as a search"
    index = _catalog_index(ctx.catalog)
    masked = text.casefold()
    for s in sorted(index.by_fold, key=len, reverse=True):
        if s in masked:
            masked = masked.replace(s, " ")
    masked = re.sub(r"\bp-[a-z0-9_\-]+", " ", masked)
    unknown = [w for w in re.findall(r"[a-z][a-z']*", masked) if w.strip("'") not in _VOCAB
               and w.strip("'") not in index.words and not (len(w) == 1)]
    if len(unknown) > 1:
        return False, f"words the parser does not account for: {', '.join(unknown[:4])}"
    return True, "the parser accounts for the whole message"


# --- the model ------------------------------------------------------------------------------------------


class _Shared:
    """Mutable state shared by a model and its bound copies."""

    def __init__(self) -> None:
        self.method: str | None = None  # structured output method in use, once known
        self.lock = threading.Lock()
        self.answers: dict[tuple[str, str], str] = {}  # (conversation, text key) -> answer drafted with the intent
        self.breaker = CircuitBreaker()  # outages in a row: stop asking for a while (agent/models/breaker.py)

    def keep_answer(self, conversation: str, text: str, answer: str) -> None:
        with self.lock:
            if len(self.answers) > 1024:
                self.answers.pop(next(iter(self.answers)))
            self.answers[(conversation, text_key(text))] = answer

    def take_answer(self, conversation: str, text: str) -> str | None:
        with self.lock:
            return self.answers.pop((conversation, text_key(text)), None)


def text_key(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()[:16]


def buyer_text_of(messages: Sequence[BaseMessage]) -> str | None:
    """The buyer's text of the current turn (inside the delimiters), if it was text."""
    human = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
    if human is None:
        return None
    found = DELIMITED_BUYER_TEXT.search(_text(human))
    return found.group(1) if found else None


class ResilientModel(BaseChatModel):
    """A real chat model behind retries, timeouts, a per-conversation budget and an offline fallback."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    inner: Any = Field(description="the real chat model (ChatOpenAI)")
    settings: ModelSettings = Field(default_factory=ModelSettings)
    offline: OfflineModel = Field(default_factory=OfflineModel)
    ledger: Ledger = Field(default_factory=Ledger, exclude=True)
    bound: Any = Field(default=None, exclude=True)
    tool_names: tuple[str, ...] = ()
    shared: _Shared = Field(default_factory=_Shared, exclude=True)
    sleep: Any = Field(default=time.sleep, exclude=True)

    @property
    def _llm_type(self) -> str:
        return "dealdesk-resilient"

    @property
    def model_name(self) -> str:
        return self.settings.name

    @property
    def prompt_refs(self) -> list[str]:
        """The prompt files this model adds (for decision records)."""
        return [load_prompt("reply").ref, load_prompt("understand").ref]

    def usage(self, conversation: str = "default") -> Usage:
        return self.ledger.get(conversation)

    # -- tools ---------------------------------------------------------------------------------------

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable:
        names = tuple(convert_to_openai_tool(t)["function"]["name"] for t in tools)
        return self.model_copy(update={"bound": self.inner.bind_tools(tools, **kwargs), "tool_names": names})

    # -- chat ----------------------------------------------------------------------------------------

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        conv = conversation_id()
        meter = _METER.get()
        brief = brief_of(messages)
        self._count_tool_errors(conv, messages, meter)
        step = local_step(messages, brief, answer=lambda: self._drafted_answer(conv, messages))
        if step is not None:
            message, reason = step
            self.ledger.count(conv, "local", reason)
            if meter is not None:
                meter.local.append(reason)
            message.usage_metadata = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
            message.response_metadata = {"model_name": self.model_name, LOCAL_KEY: reason,
                                         "dealdesk_model_calls": 0}
            return ChatResult(generations=[ChatGeneration(message=message)])
        payload = prepare_messages(messages, history_turns=self.settings.history_turns,
                                   extra_system=load_prompt("reply").text if brief is not None else "")
        runnable = self.bound if self.bound is not None else self.inner
        try:
            message, requests = self._request(conv, lambda **kw: runnable.invoke(payload, stop=stop,
                                                                                 **{**kwargs, **kw}))
        except ModelFailure as failure:
            fallback = self._fallback(messages, failure.reason, conv, requests=failure.requests)
            return ChatResult(generations=[ChatGeneration(message=fallback)])
        problem = self._tool_call_problem(message) or self._reply_problem(message, brief)
        if problem is not None:
            self._error(conv, problem)
            fallback = self._fallback(messages, problem, conv, requests=requests)
            # the unusable answer's tokens were spent all the same: the decision record counts them
            fallback.usage_metadata = getattr(message, "usage_metadata", None) or fallback.usage_metadata
            return ChatResult(generations=[ChatGeneration(message=fallback)])
        message = with_call_ids(message)
        message.response_metadata = {**(message.response_metadata or {}), "dealdesk_model_calls": requests}
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _drafted_answer(self, conv: str, messages: Sequence[BaseMessage]) -> str | None:
        text = buyer_text_of(messages)
        return self.shared.take_answer(conv, text) if text is not None else None

    def _request(self, conv: str, fn: Any) -> tuple[AIMessage, int]:
        """One logical call with retries; raises ModelFailure. Returns the message and the requests made.

        `fn(**kw)` makes one request; inside a turn deadline (`turn_deadline`) `kw` carries the request's
        `timeout`, so that no request, retry or wait runs past it (then `turn_deadline` is the reason)."""
        s = self.settings
        usage = self.ledger.get(conv)
        meter = _METER.get()
        reason = self._over_budget(usage)
        if reason:
            raise ModelFailure(reason)
        if out_of_time():
            raise ModelFailure("turn_deadline", "no time left in the turn for a model request")
        breaker = self.shared.breaker if s.breaker_failures > 0 else None
        if breaker is not None and not breaker.allow(s.breaker_cooldown):
            raise ModelFailure("circuit_open", f"the model gave up {breaker.in_a_row} calls in a row on an outage; "
                                               f"asked again in {breaker.retry_in(s.breaker_cooldown):.0f} s")
        left = time_left()
        made = 0

        def over_budget(_: RetryCallState) -> bool:
            return self._over_budget(usage) is not None

        backoff = _Backoff(s.backoff_initial, s.backoff_max, jitter=min(0.25, s.backoff_initial))

        def wait(state: RetryCallState) -> float:
            remaining = time_left()
            chosen = backoff(state)
            return chosen if remaining is None else max(0.0, min(chosen, remaining - MIN_REQUEST_S))

        deadline = s.deadline if left is None else min(s.deadline, left)
        retrying = Retrying(stop=stop_after_attempt(s.attempts) | stop_after_delay(deadline) | over_budget
                            | (lambda _: out_of_time()), wait=wait, retry=retry_if_exception(_retryable), reraise=True,
                            sleep=self.sleep)
        try:
            for attempt in retrying:
                with attempt:
                    if out_of_time():
                        raise ModelFailure("turn_deadline", "no time left in the turn for another request")
                    remaining = time_left()
                    made += 1
                    self.ledger.add(conv, calls=1)
                    if meter is not None:
                        meter.calls += 1
                    message = fn(**({} if remaining is None else {"timeout": min(s.timeout, remaining)}))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a typed reason and a fallback
            reason = classify(exc)
            if reason == "error" and made and bad_response(exc):
                reason = "bad_response"  # HTTP 200, but no chat completion in it: named, not a bare "error"
            if breaker is not None:
                if not made:
                    breaker.released()
                elif reason in OUTAGES:
                    _logged(breaker.failed(s.breaker_failures, s.breaker_cooldown), self.model_name)
                else:
                    _logged(breaker.succeeded(), self.model_name)
            raise ModelFailure(reason, str(exc)[:300], requests=made) from exc
        if breaker is not None:
            _logged(breaker.succeeded(), self.model_name)
        tokens = getattr(message, "usage_metadata", None) or {}
        used_in, used_out = int(tokens.get("input_tokens") or 0), int(tokens.get("output_tokens") or 0)
        self.ledger.add(conv, input_tokens=used_in, output_tokens=used_out)
        if meter is not None:
            meter.input_tokens += used_in
            meter.output_tokens += used_out
        return message, made

    def _over_budget(self, usage: Usage) -> str | None:
        s = self.settings
        if usage.calls >= s.budget_calls:
            return "budget_calls"
        if usage.tokens >= s.budget_tokens:
            return "budget_tokens"
        return None

    def _error(self, conv: str, code: str) -> None:
        self.ledger.count(conv, "errors", code)
        meter = _METER.get()
        if meter is not None:
            meter.errors.append(code)

    def _fallback(self, messages: list[BaseMessage], reason: str, conv: str, requests: int = 0) -> AIMessage:
        self.ledger.count(conv, "fallbacks", reason)
        meter = _METER.get()
        if meter is not None:
            meter.fallbacks.append(reason)
        message = self.offline.invoke(without_refused_proposals(messages))
        message.response_metadata = {**(message.response_metadata or {}), FALLBACK_KEY: "offline", "reason": reason,
                                     "dealdesk_model_calls": requests}
        return message

    def reply_limit(self, brief: dict[str, Any] | None) -> int:
        """The most characters a reply's text may have: `max_reply_chars`, and `REPLY_CHARS_PER_LINE` more for
        each line of the turn's offer (a reply states each line's figures)."""
        return self.settings.max_reply_chars + REPLY_CHARS_PER_LINE * len((brief or {}).get("lines") or ())

    def _reply_problem(self, message: AIMessage, brief: dict[str, Any] | None) -> str | None:
        """Why a well-formed answer still cannot be used: a refusal, nothing at all (no tool call and no words),
        or more words than a reply may have (`reply_limit`)."""
        if (message.additional_kwargs or {}).get("refusal"):
            return "refusal"
        text = _text(message)
        if not message.tool_calls and not text.strip():
            return "empty_reply"
        if len(text) > self.reply_limit(brief):
            return "reply_too_long"
        return None

    def _tool_call_problem(self, message: AIMessage) -> str | None:
        if getattr(message, "invalid_tool_calls", None):
            return "malformed_tool_call"
        if self.tool_names:
            for call in message.tool_calls:
                if call["name"] not in self.tool_names:
                    return "unknown_tool"
        elif message.tool_calls:
            return "unknown_tool"
        return None

    def _count_tool_errors(self, conv: str, messages: Sequence[BaseMessage], meter: Meter | None) -> None:
        """Tool results that are typed errors (unknown SKU, off-strategy move, ...) are counted once each."""
        for m in turn_messages(messages):
            if isinstance(m, ToolMessage) and not _ok(m) and self.ledger.first_time(conv, m.tool_call_id):
                code = "tool_error"
                try:
                    body = json.loads(m.content) if isinstance(m.content, str) else {}
                    code = f"tool:{(body.get('error') or {}).get('code') or 'error'}"
                except ValueError:
                    pass
                self.ledger.count(conv, "errors", code)
                if meter is not None:
                    meter.errors.append(code)

    # -- structured output ---------------------------------------------------------------------------

    def with_structured_output(self, schema: Any, **kwargs: Any) -> Runnable:
        if schema is not BuyerIntent:
            return self.inner.with_structured_output(schema, **kwargs)
        return RunnableLambda(self._understand_payload, name="resilient_understand")

    def _understand_payload(self, payload: dict[str, Any]) -> BuyerIntent:
        return self.understand(payload["text"], payload["context"])

    def understand(self, text: str, ctx: Any, today: dt.date | None = None) -> BuyerIntent:
        """A buyer's text as a `BuyerIntent`: the parser when it is sure (cascade), else the model."""
        from agent.offline.understand import understand as offline_understand

        offline = offline_understand(text, ctx, today) if today else offline_understand(text, ctx)
        conv = conversation_id()
        meter = _METER.get()
        if self.settings.understand == "cascade":
            sure, why = offline_is_sure(text, offline, ctx)
            if sure:
                self.ledger.count(conv, "local", "understand_offline")
                if meter is not None:
                    meter.local.append("understand_offline")
                return offline
        self.shared.take_answer(conv, text)  # an answer drafted earlier for the same words is stale
        messages = understanding_messages(text, ctx, today)
        try:
            data = self._structured(conv, messages)
            intent = to_buyer_intent(data, ctx, text)
            if intent.kind == "unknown" and offline.kind in KEPT_WHEN_MODEL_UNSURE:
                # The model read no request where the parser read one that binds nobody (a question, a search, a
                # quote): the parser's reading stands; an acceptance, a rejection or a price is never taken on it.
                return offline.model_copy(update={"notes": [*offline.notes, MODEL_UNSURE_NOTE]})
            answer = data.get("answer") if isinstance(data, dict) else None
            if intent.kind in ("question", "catalog_query") and isinstance(answer, str) and answer.strip():
                if len(answer.strip()) > self.reply_limit(None):  # not cut short: the agent step answers instead
                    self._error(conv, "answer_too_long")
                else:
                    self.shared.keep_answer(conv, text, answer.strip())
            return intent
        except IntentError as exc:
            self._error(conv, exc.code)
            return self._understood_offline(offline, exc.code, conv)
        except ModelFailure as failure:
            return self._understood_offline(offline, failure.reason, conv)

    def _understood_offline(self, offline: BuyerIntent, reason: str, conv: str) -> BuyerIntent:
        self.ledger.count(conv, "fallbacks", reason)
        meter = _METER.get()
        if meter is not None:
            meter.fallbacks.append(reason)
        return offline.model_copy(update={"notes": [*offline.notes, f"{FALLBACK_NOTE} ({reason}): understood offline"]})

    def structured_method(self) -> str:
        return self.shared.method or ("json_schema" if self.settings.structured == "auto" else self.settings.structured)

    def _structured(self, conv: str, messages: list[BaseMessage]) -> Any:
        """The structured answer (a dict). With `structured="auto"`, json_schema until the server shows it cannot do it:
        a refusal of response_format (bad_request) switches to function calling; an HTTP 200 answer that is not JSON
        gets one function-calling try, and when that answer parses, function calling is used from then on (when it
        does not, json_schema stays, with no other try). The switch is noted in the intent (the decision record)."""
        method = self.structured_method()
        try:
            return self._structured_with(method, conv, messages)
        except ModelFailure as failure:
            if failure.reason == "bad_request" and method == "json_schema" and self.settings.structured == "auto":
                # the server refused response_format: function calling from now on
                with self.shared.lock:
                    self.shared.method = "function_calling"
                return _noted(self._structured_with("function_calling", conv, messages),
                              f"{SWITCH_NOTE}: the server refused json_schema (bad_request); {SWITCHED}")
            raise
        except IntentError as exc:
            if exc.code != "invalid_json" or method != "json_schema" or self.settings.structured != "auto" \
                    or self.shared.method is not None:
                raise
            self._error(conv, exc.code)  # the json_schema answer was unusable: counted, then function calling tried
            try:
                data = self._structured_with("function_calling", conv, messages)
            except IntentError:
                with self.shared.lock:  # function calling does no better: json_schema stays, no other try
                    self.shared.method = "json_schema"
                raise
            with self.shared.lock:
                self.shared.method = "function_calling"
            return _noted(data, f"{SWITCH_NOTE}: json_schema answered with text that is not JSON ({exc.code}); "
                                f"{SWITCHED}")

    def _structured_with(self, method: str, conv: str, messages: list[BaseMessage]) -> Any:
        if method == "json_schema":
            runnable = self.inner.bind(response_format={"type": "json_schema", "json_schema": {
                "name": "buyer_intent", "strict": True, "schema": INTENT_SCHEMA}})
            message, _ = self._request(conv, lambda **kw: runnable.invoke(messages, **kw))
            refusal = (message.additional_kwargs or {}).get("refusal")
            if refusal:
                raise IntentError("refusal", str(refusal)[:200])
            return parse_intent_json(_text(message))
        tool = {"type": "function", "function": {"name": INTENT_TOOL, "description": "Record the buyer's intent.",
                                                 "parameters": INTENT_SCHEMA}}
        runnable = self.inner.bind_tools([tool], tool_choice=INTENT_TOOL)
        message, _ = self._request(conv, lambda **kw: runnable.invoke(messages, **kw))
        if getattr(message, "invalid_tool_calls", None):
            raise IntentError("invalid_json", "the intent tool call's arguments are not JSON")
        calls = [c for c in message.tool_calls if c["name"] == INTENT_TOOL]
        if not calls:
            # some servers answer with the JSON as text instead of the forced tool call
            return parse_intent_json(_text(message))
        return calls[0]["args"]


SWITCH_NOTE = "structured output"
SWITCHED = "read through function calling, used from now on"


def _noted(data: Any, note: str) -> Any:
    """A structured answer with a note of how it was obtained first among its notes (kept in the decision record)."""
    if not isinstance(data, dict):
        return data
    notes = data.get("notes")
    if notes is None:
        return {**data, "notes": [note]}
    return {**data, "notes": [note, *notes]} if isinstance(notes, list) else data


def fallback_of(message: BaseMessage | BuyerIntent | None) -> str | None:
    """The fallback reason a message or an intent carries, if the offline model stood in for the real one."""
    if isinstance(message, BuyerIntent):
        for note in message.notes:
            if note.startswith(FALLBACK_NOTE):
                m = re.match(rf"{FALLBACK_NOTE} \(([^)]*)\)", note)
                return m.group(1) if m else "unknown"
        return None
    meta = getattr(message, "response_metadata", None) or {}
    return meta.get("reason") if meta.get(FALLBACK_KEY) else None
