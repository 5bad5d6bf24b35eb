"""The graph's state (agent/state.py): nodes see a flat TurnState, LangGraph keeps it in `Channels`."""

from __future__ import annotations

from typing import get_type_hints

from langchain_core.messages import HumanMessage

from agent.state import (
    COMPACT, RESET, WORK_KEYS, Channels, TurnOnly, TurnState, add_history, add_turn, flat, fresh_turn, merge_work,
    split,
)


def test_every_turn_state_key_is_a_channel_or_a_per_turn_key_and_begin_resets_them_all() -> None:
    channels = set(get_type_hints(Channels)) - {"work"}
    assert set(get_type_hints(TurnState)) == channels | WORK_KEYS
    assert not channels & WORK_KEYS
    assert set(fresh_turn()) == WORK_KEYS


def test_split_sends_per_turn_keys_to_work_and_leaves_the_rest() -> None:
    msg = HumanMessage(content="hi", id="in-1")
    update = {"messages": [msg], "lines": [{"sku": "A"}], "draft": None, "records": [{"node": "x"}]}
    assert split(update) == {"messages": [msg], "records": [{"node": "x"}],
                             "work": {"lines": [{"sku": "A"}], "draft": None}}
    assert split({"messages": [msg]}) == {"messages": [msg]}
    assert split({}) == {} and split(None) is None


def test_flat_reads_the_per_turn_keys_beside_the_channels() -> None:
    state = {"negotiation_id": "n", "turn": 3, "work": {"lines": [1], "draft": {"text": "x"}}, "records": []}
    view = flat(state)
    assert view["negotiation_id"] == "n" and view["turn"] == 3 and view["lines"] == [1]
    assert view["draft"] == {"text": "x"} and view["records"] == []
    assert flat({"negotiation_id": "n"}) == {"negotiation_id": "n"}


def test_a_turn_starts_afresh_and_later_writes_merge() -> None:
    last_turn = {**fresh_turn(), "lines": [1], "draft": {"text": "old"}, "feedback": ["old"], "revisions": 2}
    begun = merge_work(last_turn, split(fresh_turn())["work"])
    assert begun == fresh_turn()
    assert merge_work(begun, {"draft": {"text": "new"}}) == {**fresh_turn(), "draft": {"text": "new"}}
    assert add_turn([{"a": 1}], [RESET, {"b": 2}]) == [{"b": 2}]
    assert add_turn([{"a": 1}], [{"b": 2}]) == [{"a": 1}, {"b": 2}]


def _entry(kind: str, name: str | None = None) -> dict:
    return {"type": kind, "data": {"type": kind, "content": kind, "name": name}}


def test_history_keeps_what_was_said_when_a_turn_begins() -> None:
    last_turn = [_entry("human", "buyer"), _entry("ai"), _entry("tool"), _entry("ai", "seller")]
    assert add_history([], last_turn) == last_turn
    compacted = add_history([_entry("human", "operator"), *last_turn], [COMPACT])
    assert compacted == [_entry("human", "operator"), _entry("human", "buyer"), _entry("ai", "seller")]
    assert add_history(compacted, [COMPACT, _entry("human", "buyer")])[-1] == _entry("human", "buyer")


def test_per_turn_channels_are_never_checkpointed_and_the_rest_are() -> None:
    hints = get_type_hints(Channels, include_extras=True)
    turn_only = {k for k, t in hints.items() if any(isinstance(m, TurnOnly) for m in getattr(t, "__metadata__", ()))}
    assert turn_only == {"messages", "work", "records", "outcome"}
    channel = next(m for m in hints["records"].__metadata__ if isinstance(m, TurnOnly))
    live = channel.from_checkpoint(channel.checkpoint())
    assert live.update([[{"a": 1}]]) and live.get() == [{"a": 1}]
    assert channel.__class__.checkpoint(live) is not live.get()  # the value stays out of the checkpoint
    restored = channel.from_checkpoint(live.checkpoint())
    assert restored.get() == []


def test_a_turn_loads_its_thread_from_the_last_checkpoint_alone(dd_seller_factory, monkeypatch) -> None:
    """LangGraph rebuilds a reducer channel that has a version but no stored value from the thread's earlier
    checkpoints (a delta channel); the per-turn channels must not be taken for one."""
    from agent.service import Buyer

    seller = dd_seller_factory()
    nid = seller.start(Buyer(org="state-load", region="EU"))
    seller.send(nid, data={"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "100"}]})
    seller.send(nid, text="what is the bore of BRG-6204?")

    def walk(**kw):
        raise AssertionError(f"walked the thread's history for {kw.get('channels')}")

    monkeypatch.setattr(seller.checkpointer, "get_delta_channel_history", walk)
    reply = seller.send(nid, text="what's the lead time?")
    assert reply.text and reply.turn == 3
    assert [m.type for m in seller.graph.conversation(nid)][:4] == ["human", "ai", "human", "ai"]
