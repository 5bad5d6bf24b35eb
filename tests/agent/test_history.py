"""The checkpointed conversation: what later turns keep of a turn (agent/state.py `add_history`)."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from agent.models.resilient import prepare_messages
from agent.service import Buyer

QUESTION = "what is the bore of BRG-6204?"


def checkpoint_messages(seller, nid: str) -> list:
    return seller.graph.conversation(nid)


def shape(messages: list) -> list[str]:
    return [("tool" if isinstance(m, ToolMessage) else "human" if isinstance(m, HumanMessage)
             else "seller" if m.name == "seller" else "model") for m in messages]


def test_earlier_turns_keep_what_was_said_and_the_last_turn_stays_whole(dd_seller_factory) -> None:
    seller = dd_seller_factory()
    nid = seller.start(Buyer(org="history-a", region="EU"))
    first = seller.send(nid, text=QUESTION)
    assert first.text and "bore" in first.text.lower()
    after_one = shape(checkpoint_messages(seller, nid))
    assert after_one[0] == "human" and after_one[-1] == "seller" and "tool" in after_one  # the whole turn

    seller.send(nid, data={"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "100"}]})
    third = seller.send(nid, text=QUESTION)
    messages = checkpoint_messages(seller, nid)
    kinds = shape(messages)
    last_human = max(i for i, k in enumerate(kinds) if k == "human")
    # two earlier turns: their buyer message and the seller's reply, nothing in between
    assert kinds[:last_human] == ["human", "seller", "human", "seller"]
    # the latest turn is whole: the tool call, its result, the model's answer and the reply
    assert "tool" in kinds[last_human:] and "model" in kinds[last_human:] and kinds[-1] == "seller"
    assert messages[-1].content == third.text
    assert messages[0].id.startswith("in-1-") and messages[2].id.startswith("in-2-")
    assert "BRG-6204" in messages[1].content  # the first answer, as the buyer read it


def test_a_model_is_sent_the_same_history_as_before_the_trail_was_dropped(dd_seller_factory) -> None:
    """`prepare_messages` sends a model the buyer message and the seller reply of each earlier turn; what
    the checkpoint drops is what it never sent."""
    seller = dd_seller_factory()
    nid = seller.start(Buyer(org="history-b", region="EU"))
    replies = [seller.send(nid, text=QUESTION), seller.send(nid, text="what's the lead time of BRG-6204?")]
    seller.send(nid, text=QUESTION)
    messages = checkpoint_messages(seller, nid)
    sent = prepare_messages(messages, history_turns=6)
    earlier = sent[:-1]
    last_human = max(i for i, m in enumerate(sent) if isinstance(m, HumanMessage))
    assert [type(m) for m in earlier[:last_human]] == [HumanMessage, AIMessage, HumanMessage, AIMessage]
    assert [m.content.strip() for m in earlier[1:last_human:2]] == [r.text for r in replies]


def test_a_conversation_checkpointed_in_messages_by_an_older_version_becomes_the_history(dd_seller_factory) -> None:
    """Checkpoints written before `history` kept the conversation in `messages`; the next turn carries it over."""
    seller = dd_seller_factory()
    nid = seller.start(Buyer(org="history-c", region="EU"))
    first = seller.send(nid, text=QUESTION)
    config = {"configurable": {"thread_id": nid}}
    saved = seller.checkpointer.get_tuple(config)
    older = dict(saved.checkpoint)
    trail = [HumanMessage(content=QUESTION, name="buyer", id="in-1-old"), AIMessage(content="", id="model-step"),
             AIMessage(content=first.text, name="seller", id="reply-1")]
    older["channel_values"] = {**{k: v for k, v in saved.checkpoint["channel_values"].items() if k != "history"},
                               "messages": trail}
    older["channel_versions"] = {**saved.checkpoint["channel_versions"], "messages": saved.checkpoint[
        "channel_versions"]["history"]}
    seller.checkpointer.put(saved.config, older, saved.metadata, {"messages": older["channel_versions"]["messages"]})
    assert [m.id for m in seller.graph.conversation(nid)] == []  # no history in the older checkpoint

    seller.send(nid, text=QUESTION)
    kinds = shape(checkpoint_messages(seller, nid))
    assert kinds[:2] == ["human", "seller"] and kinds[2] == "human"  # the older turn kept what was said
    assert checkpoint_messages(seller, nid)[1].content == first.text
