"""What a buyer message means, whoever understood it (a data part, the offline parser or an LLM).

The graph acts on a `BuyerIntent`, never on raw text: the structured
`message` is the wire-contract equivalent, `asked_prices` carries prices a
text buyer named with an RFQ ("can you do 3.10?"), and `question` carries a
product question that needs no negotiation move.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.contract import BuyerMessage, CounterItem

IntentKind = Literal["catalog_query", "rfq", "counter_offer", "accept", "reject", "question", "unknown"]
QuestionTopic = Literal["spec", "lead_time", "compatibility", "availability", "terms", "price", "other"]


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    topic: QuestionTopic
    skus: list[str] = Field(default_factory=list)
    spec: str | None = Field(default=None, description="Spec name asked about, e.g. bore_mm")


class BuyerIntent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: IntentKind
    message: BuyerMessage | None = None
    asked_prices: list[CounterItem] = Field(default_factory=list)
    question: Question | None = None
    source: Literal["data", "offline", "model"] = "data"
    notes: list[str] = Field(default_factory=list, description="What was recognised, for the decision record")
