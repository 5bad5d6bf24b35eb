"""What a conversation is about while no proposal stands: the products the buyer named last.

A buyer who asked about a product, searched and found one, or whose rfq was refused, goes on without naming it
again ("500 then", "ok what about 1500?", "what's the lead time?"). Each seller reply in the conversation history
carries the lines its turn was about (`topic`: SKU and quantity, the quantity None where the buyer named none), and
a later text turn with no proposal to refer to reads the last of them as its context (`TextContext.proposal_skus`,
with `TextContext.topic` set). A standing proposal's lines always come first: they are what "your offer" means.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any


def turn_topic(intent: dict[str, Any] | None, known: Container[str],
               found: Sequence[str] = ()) -> list[dict[str, Any]] | None:
    """The catalog products (in `known`) a turn's intent names, as [{"sku", "quantity"}]; None when it names none
    (an acceptance, a rejection, a message not understood, a search that found several products or none): the
    topic before it stays. `found`: the products the turn's catalog search found; the one it found is the topic,
    with the quantity the search named ("about 800 pcs of 6205 bearings")."""
    intent = intent or {}
    kind = intent.get("kind")
    message = intent.get("message") or {}
    lines: list[tuple[Any, Any]]
    if kind in ("rfq", "counter_offer"):
        lines = [(i.get("sku"), i.get("quantity")) for i in message.get("items") or []]
    elif kind == "question":
        question = intent.get("question") or {}
        skus = question.get("skus") or []
        lines = [(s, question.get("quantity") if len(skus) == 1 else None) for s in skus]
    elif kind == "catalog_query" and message.get("sku"):  # a product looked up by SKU
        lines = [(message["sku"], None)]
    elif kind == "catalog_query" and len(found) == 1:  # a search that found one product
        lines = [(found[0], intent.get("quantity"))]
    else:
        return None
    out = [{"sku": s, "quantity": _quantity(q)} for s, q in lines if isinstance(s, str) and s in known]
    return out or None


def with_quantities(topic: list[dict[str, Any]] | None,
                    before: Sequence[tuple[str, int | None]]) -> list[dict[str, Any]] | None:
    """`topic` with the quantity named before for a product it names with none ("about 800 pcs" in a search, then
    "what is the bore?"): the 800 stays what a later "our target is 3.20" is asked for."""
    if not topic or not before:
        return topic
    known = {sku: q for sku, q in before if q is not None}
    return [{**t, "quantity": known.get(t["sku"])} if t["quantity"] is None else t for t in topic]


def last_topic(history: Sequence[dict[str, Any]]) -> list[tuple[str, int | None]]:
    """The lines of the last seller reply in `history` (LangChain message dicts) that carries a topic."""
    for entry in reversed(history):
        data = entry.get("data") or {}
        if entry.get("type") != "ai" or data.get("name") != "seller":
            continue
        topic = (data.get("additional_kwargs") or {}).get("topic")
        if topic:
            return [(t["sku"], _quantity(t.get("quantity"))) for t in topic]
    return []


def _quantity(value: Any) -> int | None:
    """A quantity as the wire writes it (a decimal string) or as an int; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 1 else None
    if isinstance(value, str) and value.isdigit():
        return int(value) or None
    return None
