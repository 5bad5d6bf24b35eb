"""What a buyer message means, whoever understood it (a data part, the offline parser or an LLM).

The graph acts on a `BuyerIntent`, never on raw text: the structured
`message` is the wire-contract equivalent, `asked_prices` carries prices a
text buyer named with an RFQ ("can you do 3.10?"), and `question` carries a
product question that needs no negotiation move.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.contract import AskedTopic, BuyerMessage, BuyerQuestion, CounterItem

IntentKind = Literal["catalog_query", "rfq", "counter_offer", "accept", "reject", "question", "unknown"]
# The wire's topics; questions about the seller rather than the goods, which only text asks (no wire topic): who or
# what answers ("are you a bot?": `identity`, an AI disclosure), the currency prices are in ("your price in USD?":
# `currency`), the form offers come in ("send the quote as PDF": `format`); and a question the reader cannot place.
QuestionTopic = Literal[AskedTopic, "identity", "currency", "format", "other"]
SELLER_TOPICS = ("identity", "currency", "format")  # answered beside the standing offer, if any (agent/playbook.py)


# Why a message could not be acted on, where the reader can tell (a note of an `unknown` intent): the reply says
# what to do instead of the general help (agent/playbook.py's UNCLEAR_REPLIES).
NO_PROPOSAL_TO_ACCEPT = "acceptance, but there is no proposal to accept"
NO_PROPOSAL_TO_REJECT = "rejection, but there is no proposal to reject"
ACCEPT_AND_REJECT = "both acceptance and rejection words; please say which"
CONDITIONAL_ACCEPT = "conditional acceptance: please send a counter-offer or accept as offered"
NO_PRODUCT_NAMED = "a quantity with no product named"
WHICH_LINE = "a quantity for one line of several, not saying which"
ACCEPT_WHICH_VERSION = "acceptance of a proposal without its version, or of another proposal than this one's"
NO_USABLE_QUANTITY = "no usable quantity: a quantity is a whole number from 1 to 10,000,000"
DELIVERY_ELSEWHERE = "a delivery question for a place outside the buyer's region or the regions the seller serves"


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    topic: QuestionTopic
    skus: list[str] = Field(default_factory=list)
    spec: str | None = Field(default=None, description="Spec name asked about, e.g. bore_mm")
    quantity: int | None = Field(default=None, ge=1, le=10_000_000,
                                 description="Units a lead-time, availability or price question on one product is about")
    date: dt.date | None = Field(default=None, description="The delivery date a lead-time or availability question "
                                                           "asks about ('can you deliver by Friday?')")
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$",
                                 description="For topic currency: the currency the buyer asks prices in ('USD'), as "
                                             "named; what the buyer is quoted in is the seller's to say")


class BuyerIntent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: IntentKind
    message: BuyerMessage | None = None
    asked_prices: list[CounterItem] = Field(default_factory=list)
    asked_discount_percent: Decimal | None = Field(
        default=None, gt=0, lt=100, allow_inf_nan=False,
        description="A percentage off asked with an rfq and no price ('need 200 x BRG-6204 with 5% off'): the graph "
                    "asks that much off each line's opening price for this buyer, in place of `asked_prices`")
    question: Question | None = None
    quantity: int | None = Field(default=None, ge=1, le=10_000_000,
                                 description="Units a catalog search named with no product ('about 800 pcs of 6205 "
                                             "bearings'): the quantity of the one product it finds, for later turns")
    source: Literal["data", "offline", "model"] = "data"
    notes: list[str] = Field(default_factory=list, description="What was recognised, for the decision record")


def question_of(message: BuyerQuestion) -> Question:
    """A structured question (the wire contract's) as the question the graph answers, text's and data's alike."""
    return Question(topic=message.topic, skus=list(dict.fromkeys(message.skus)), spec=message.spec,
                    quantity=message.quantity)


def merge_intents(data: BuyerIntent, text: BuyerIntent) -> BuyerIntent:
    """A data part with text beside it: the data part wins on every conflict.

    The text may only add what the data part leaves open: prices asked for the
    lines of a structured RFQ (which has no price field). Everything else in
    the text is noted for the record and otherwise ignored.
    """
    asked: list[CounterItem] = []
    if data.kind == "rfq" and data.message is not None:
        lines = {(i.sku, i.quantity) for i in data.message.items}  # type: ignore[union-attr]
        skus = {s for s, _ in lines}
        asked = [a for a in text.asked_prices if a.sku in skus]
    notes = [*data.notes, f"text beside the data part read as {text.kind}",
             *(f"asked {a.unit_price} for {a.sku} (from the text)" for a in asked)]
    return data.model_copy(update={"asked_prices": asked, "notes": notes})
