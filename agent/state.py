"""The graph's state: one thread per negotiation, one turn per buyer message or operator decision.

`history` is the conversation so far, as plain data (LangChain's `message_to_dict` form): the model's
context on later turns, and what the checkpoint keeps. Every other key describes the current turn and
starts afresh when a turn begins: `messages` are this turn's LangChain messages (the buyer's, the model
steps, the tool results), which `commit` adds to `history` with the seller's reply.

The per-turn channels (`messages`, `work`, `records`, `outcome`) live in memory for the turn and are not
written to the checkpoint (`TurnOnly`): a turn's checkpoint is taken when it ends (durability "exit") and
the next turn starts them afresh, so a checkpoint of them would only be written and read back on every
turn. What a restart needs is the conversation and the store; the records are in the store.

Nodes read and write the flat `TurnState`. LangGraph keeps it in fewer channels (`Channels`): the
turn's inputs, the conversation, this turn's messages, the records and the outcome each in their own,
and the per-turn working keys together in one `work` channel, because LangGraph's cost per step grows
with the number of channels (each step updates every channel and hands each node all of them). `flat`
and `split` translate between the two; the graph wraps every node in them (agent/graph.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.channels.base import BaseChannel
from langgraph.channels.untracked_value import UntrackedValue


RESET = {"__reset__": True}
COMPACT = {"__compact__": True}
_NOTHING = UntrackedValue(object).checkpoint()  # what a channel checkpoints to leave itself out (LangGraph's MISSING)


class TurnOnly(BaseChannel):
    """A reducer channel kept for the current turn only: never written to a checkpoint, so every turn
    (and a restarted process) starts it empty (`typ()`), and `operator(value, update)` folds in each update.

    Not a `BinaryOperatorAggregate`: LangGraph takes one of those with no value in a checkpoint for a
    delta channel and rebuilds it from the thread's earlier checkpoints and writes, every time the thread
    is loaded."""

    __slots__ = ("value", "operator")

    def __init__(self, typ: Any, operator: Any):
        super().__init__(typ)
        self.operator = operator
        self.value = typ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TurnOnly) and (self.typ, self.operator) == (other.typ, other.operator)

    __hash__ = None  # type: ignore[assignment]  (mutable, compared by its reducer)

    @property
    def ValueType(self) -> Any:  # noqa: N802 - LangGraph's name
        return self.typ

    @property
    def UpdateType(self) -> Any:  # noqa: N802 - LangGraph's name
        return self.typ

    def copy(self) -> TurnOnly:
        channel = self.from_checkpoint(_NOTHING)
        channel.value = self.value
        return channel

    def from_checkpoint(self, checkpoint: Any) -> TurnOnly:
        channel = self.__class__(self.typ, self.operator)
        channel.key = self.key
        if checkpoint is not _NOTHING:  # a value an older version checkpointed (`begin` turns messages into history)
            channel.value = checkpoint
        return channel

    def update(self, values: Any) -> bool:
        for value in values:
            self.value = self.operator(self.value, value)
        return bool(values)

    def get(self) -> Any:
        return self.value

    def is_available(self) -> bool:
        return True

    def checkpoint(self) -> Any:
        return _NOTHING


def add_turn(old: list[Any] | None, new: list[Any] | None) -> list[Any]:
    """Append a node's items; a list starting with RESET starts the turn afresh."""
    if new and new[0] == RESET:
        return list(new[1:])
    return [*(old or []), *(new or [])]


def replace(old: Any, new: Any) -> Any:
    """The newer value."""
    return new


def said(entry: dict[str, Any]) -> bool:
    """A history entry later turns keep: the buyer's (or operator's) message, or the seller's reply."""
    return entry.get("type") == "human" or (entry.get("type") == "ai" and entry.get("data", {}).get("name") == "seller")


def add_history(old: list[dict[str, Any]] | None, new: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Append a turn's messages (plain dicts); a list starting with COMPACT first drops the model steps and
    tool results of the turns so far, keeping what was said (`said`)."""
    if new and new[0] == COMPACT:
        return [*(e for e in old or [] if said(e)), *new[1:]]
    return [*(old or []), *(new or [])]


class _Thread(TypedDict, total=False):
    """What `TurnState` and `Channels` share, a channel each: the conversation, this turn's messages, the
    turn's inputs, its records and its outcome."""

    history: Annotated[list[dict[str, Any]], add_history]
    messages: Annotated[list[AnyMessage], TurnOnly(list, add_turn)]
    negotiation_id: str
    buyer_org: str
    turn: int
    message_id: str
    inbound: dict[str, Any]          # {"data": {...}} | {"text": "..."} | {"operator": {...}}
    records: Annotated[list[dict[str, Any]], TurnOnly(list, add_turn)]
    # What the turn's caller reads (`Seller._run`), written once, by `commit`: the outgoing message, the model
    # calls and every record of the turn. LangGraph hands the caller the graph's output after each step that
    # wrote it, so the output is this one key rather than keys most nodes write.
    outcome: Annotated[dict[str, Any], TurnOnly(dict, replace)]


class TurnState(_Thread, total=False):
    intent: dict[str, Any] | None    # BuyerIntent as JSON
    lines: list[dict[str, Any]]      # per line: surface and plan (JSON), for tools and guardrail
    terms: str | None
    direct: dict[str, Any] | None    # a reply decided without tools (error, closed, deal, catalog results)
    staged: dict[str, Any] | None    # the proposal submit_proposal staged this turn
    autonomy: str                    # auto | approval_only | shadow (operators' switch, for this turn's lines)
    grants: list[dict[str, Any]]     # offers an operator approved in this negotiation (sku, qty, terms, price, level)
    draft: dict[str, Any] | None     # {"data": ..., "text": ...} awaiting the guardrail
    revisions: int
    feedback: list[str]
    model_calls: int


class Channels(_Thread, total=False):
    """The channels LangGraph keeps (and checkpoints) for a `TurnState`."""

    work: Annotated[dict[str, Any], TurnOnly(dict, merge_work)]  # the per-turn keys of TurnState (WORK_KEYS)


def merge_work(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    """A node's per-turn keys over the ones before (begin writes them all: `fresh_turn`)."""
    return {**(old or {}), **(new or {})}


def flat(state: Mapping[str, Any]) -> dict[str, Any]:
    """The TurnState a node reads, from the channels' values."""
    work = state.get("work")
    return {**state, **work} if work else dict(state)


def split(update: dict[str, Any] | None) -> dict[str, Any] | None:
    """A node's TurnState update as channel writes: its per-turn keys go to `work`."""
    if not update or WORK_KEYS.isdisjoint(update):
        return update
    out = {k: v for k, v in update.items() if k not in WORK_KEYS}
    out["work"] = {k: v for k, v in update.items() if k in WORK_KEYS}
    return out


def fresh_turn() -> dict[str, Any]:
    """The per-turn keys, reset at the start of a turn (messages and records are reset by `begin`)."""
    return {"intent": None, "lines": [], "terms": None, "direct": None, "staged": None, "autonomy": "auto", "grants": [],
            "draft": None, "revisions": 0, "feedback": [], "model_calls": 0}


WORK_KEYS = frozenset(fresh_turn())
