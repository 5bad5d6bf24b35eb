"""The wire contract: the typed messages buyers and the seller exchange, as data parts.

One module, used by the graph, the server, the evals and the tests; the JSON
Schema under `schemas/` is generated from it (`dealdesk schemas`). Every data
part has a `type`. Money and quantities are sent as decimal strings; on input,
JSON numbers are accepted too (a float is read through its shortest repr, so
3.1 means 3.1), but never sent.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import (
    AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, TypeAdapter, ValidationError,
    WithJsonSchema,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from tools.types import Dec

CONTRACT_VERSION = "1.0"
MAX_ITEMS = 100
MAX_TEXT = 4000

ErrorCode = Literal[
    "unknown_sku", "invalid_quantity", "insufficient_inventory", "unsupported_currency", "unknown_proposal",
    "proposal_expired", "proposal_superseded", "malformed_message", "not_authorized_for_region",
    "payment_terms_not_allowed", "quantity_out_of_policy", "hold_limit_exceeded", "negotiation_closed",
    "unknown_segment", "rule_conflict", "no_valid_offer", "approval_pending", "turn_timeout", "internal_error",
]


# What a decimal string may be on the wire: ASCII digits and one point, as the published schema says. Python's
# Decimal() also reads "3_10" (as 310), "5e2", and digits of other scripts ("５００"): none is what a buyer's bot
# would mean to send as money or a quantity.
_DECIMAL_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?", re.ASCII)


def _in_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("must be a decimal string or number")
    sent_as_text = isinstance(value, str)  # a JSON number is read through its repr, which may have an exponent
    if isinstance(value, float):
        value = repr(value)
    elif isinstance(value, (int, Decimal)):
        value = str(value)
    elif not sent_as_text:
        raise ValueError("must be a decimal string or number")
    text = value.strip()
    if len(text) > 40:
        raise ValueError("too many digits")
    if sent_as_text and not _DECIMAL_TEXT.fullmatch(text):
        raise ValueError(f"{value!r} is not a decimal number: digits 0-9 with at most one decimal point, "
                         "such as \"3.10\" or \"500\"")
    try:
        out = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not out.is_finite():
        raise ValueError("must be finite")
    return out


def _in_quantity(value: Any) -> int:
    number = _in_decimal(value)
    if number != number.to_integral_value():
        raise ValueError("quantity must be a whole number")
    return int(number)


def _dec_str(value: Decimal) -> str:
    return format(value, "f")


MAX_QUANTITY = 10_000_000
MAX_MONEY = Decimal("1e12")
# What the published schema says of them (pydantic would describe the Python type behind the validator, with
# its own `ge`/`le` words that JSON Schema does not know): a decimal string, or a JSON number, in range.
_MONEY_SCHEMA = {"anyOf": [{"type": "string", "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*$"},
                           {"type": "number", "minimum": 0, "maximum": int(MAX_MONEY)}],
                 "description": "A decimal string such as \"3.10\" (a JSON number is accepted), 0 to 10^12"}
_QTY_SCHEMA = {"anyOf": [{"type": "string", "pattern": r"^\s*[0-9]+(\.0+)?\s*$"},
                         {"type": "integer", "minimum": 1, "maximum": MAX_QUANTITY}],
               "description": f"Whole units as a decimal string such as \"500\" (a JSON number is accepted), "
                              f"1 to {MAX_QUANTITY}"}
# Input money: string or number in, a non-negative Decimal out; sent back as a string.
InMoney = Annotated[Decimal, BeforeValidator(_in_decimal), Field(ge=0, le=MAX_MONEY),
                    PlainSerializer(_dec_str, return_type=str), WithJsonSchema(_MONEY_SCHEMA, mode="validation")]
# Input quantity: whole, 1 .. 10 million; "500", 500 and 500.0 are the same.
InQty = Annotated[int, BeforeValidator(_in_quantity), Field(ge=1, le=MAX_QUANTITY),
                  PlainSerializer(str, return_type=str), WithJsonSchema(_QTY_SCHEMA, mode="validation")]


def naive_utc(value: dt.datetime) -> dt.datetime:
    """An instant as the store keeps it: naive UTC (an aware value is converted, a naive one is UTC)."""
    return value if value.tzinfo is None else value.astimezone(dt.UTC).replace(tzinfo=None)


def _utc_text(value: dt.datetime) -> str:
    return naive_utc(value).isoformat() + "Z"


# An instant on the wire: RFC 3339 in UTC with its zone ("2026-11-28T14:05:00Z"), so a buyer's bot never reads
# it as its own local time; in the models, naive UTC, as stored and compared with `utcnow()`.
UtcTime = Annotated[dt.datetime, AfterValidator(naive_utc), PlainSerializer(_utc_text, return_type=str),
                    WithJsonSchema({"type": "string", "format": "date-time",
                                    "description": "UTC, RFC 3339 with Z, e.g. \"2026-11-28T14:05:00Z\""})]
Sku = Annotated[str, Field(min_length=1, max_length=64)]
ProposalId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")]


def _not_a_bool(value: Any) -> Any:
    """JSON's true is no version number (pydantic's int would take it as 1: an accept of version 1)."""
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not true or false")
    return value


Version = Annotated[int, Field(ge=1, le=1_000_000), BeforeValidator(_not_a_bool)]
Terms = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_\-]+$")]
Region = Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_\-]+$")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class _In(BaseModel):
    """Buyer messages: unknown fields are errors that name the field."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- buyer to seller ---------------------------------------------------------------


class CatalogQuery(_In):
    type: Literal["catalog_query"] = "catalog_query"
    query: str | None = Field(default=None, max_length=200)
    sku: Sku | None = None
    category: str | None = Field(default=None, max_length=64)
    specs: dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=64)]] | None = Field(
        default=None, max_length=20, description='Spec filters, e.g. {"bore_mm": "20"} or {"power_kw": ">=1.1"}')
    limit: int | None = Field(default=None, ge=1, le=50)


class RfqItem(_In):
    sku: Sku
    quantity: InQty


class Rfq(_In):
    type: Literal["rfq"] = "rfq"
    items: list[RfqItem] = Field(min_length=1, max_length=MAX_ITEMS)
    currency: Currency | None = None
    region: Region | None = None
    payment_terms: Terms | None = None
    delivery_date: dt.date | None = None
    buyer_reference: str | None = Field(default=None, max_length=200)


class CounterItem(_In):
    sku: Sku
    quantity: InQty
    unit_price: InMoney


class CounterOffer(_In):
    type: Literal["counter_offer"] = "counter_offer"
    proposal_id: ProposalId
    version: Version
    items: list[CounterItem] = Field(min_length=1, max_length=MAX_ITEMS)
    payment_terms: Terms | None = None


class Accept(_In):
    type: Literal["accept"] = "accept"
    proposal_id: ProposalId
    version: Version


class Reject(_In):
    type: Literal["reject"] = "reject"
    proposal_id: ProposalId
    reason: str | None = Field(default=None, max_length=1000)


# What a buyer may ask about with no request to change the deal (the text reader adds "other").
AskedTopic = Literal["spec", "lead_time", "compatibility", "availability", "terms", "price", "order_limits", "status"]


class BuyerQuestion(_In):
    """A question that asks to change nothing: answered in words and an `answer` data part, with the figures of
    the standing offer, the buyer's price book or the catalog (volume breaks, lead time for a quantity, order
    limits, terms, where the request stands), never with a new proposal."""

    type: Literal["question"] = "question"
    topic: AskedTopic
    skus: list[Sku] = Field(default_factory=list, max_length=MAX_ITEMS,
                            description="The products asked about (none: the standing offer's, or in general)")
    spec: str | None = Field(default=None, max_length=64, description="For topic spec: the spec's name, e.g. bore_mm")
    quantity: InQty | None = Field(default=None, description="For a lead time, availability or price of one product: "
                                                               "the units asked about, as a string")


BuyerMessage = Annotated[Union[CatalogQuery, Rfq, CounterOffer, Accept, Reject, BuyerQuestion],
                         Field(discriminator="type")]
BUYER_MESSAGE = TypeAdapter(BuyerMessage)


# --- seller to buyer ---------------------------------------------------------------


class ProposalItem(_Out):
    sku: str
    name: str
    quantity: Annotated[int, PlainSerializer(str, return_type=str)]
    unit_price: Dec
    list_price: Dec
    discount_percent: Dec
    line_total: Dec
    lead_time_days: Annotated[int, PlainSerializer(str, return_type=str)]
    delivery_date: dt.date | None = None


class Alternative(_Out):
    """A priced alternative the strategy generated (next volume tier, related SKU)."""

    kind: Literal["next_tier", "related_sku", "longer_terms", "larger_quantity"]
    sku: str
    name: str
    quantity: Annotated[int, PlainSerializer(str, return_type=str)]
    unit_price: Dec
    line_total: Dec
    payment_terms: str
    lead_time_days: Annotated[int, PlainSerializer(str, return_type=str)]
    note: str = ""


class PendingItem(_Out):
    sku: str
    quantity: Annotated[int, PlainSerializer(str, return_type=str)]
    unit_price: Dec


class Pending(_Out):
    """What awaits approval (the requested figures) and since when; never the approval limits."""

    items: list[PendingItem]
    total: Dec
    since: UtcTime


class Proposal(_Out):
    type: Literal["proposal"] = "proposal"
    proposal_id: str
    version: int
    status: Literal["offered", "pending_approval"]
    currency: str
    region: str
    payment_terms: str
    valid_until: UtcTime
    items: list[ProposalItem]
    total: Dec
    terms: dict[str, str]
    alternatives: list[Alternative] | None = None
    pending: Pending | None = None


class DealItem(_Out):
    sku: str
    name: str
    quantity: Annotated[int, PlainSerializer(str, return_type=str)]
    unit_price: Dec
    line_total: Dec


class Deal(_Out):
    type: Literal["deal"] = "deal"
    deal_id: str
    proposal_id: str
    version: int
    items: list[DealItem]
    total: Dec
    currency: str
    payment_terms: str
    accepted_at: UtcTime


class StandingOffer(_Out):
    """The proposal version that may still be accepted, and until when."""

    proposal_id: str
    version: int
    valid_until: UtcTime


class Closed(_Out):
    type: Literal["closed"] = "closed"
    reason: str
    standing: StandingOffer | None = Field(
        default=None, description="Closed to further rounds, but this offer may still be accepted until it expires "
                                  "(the maximum number of rounds was reached)")


class CatalogResults(_Out):
    type: Literal["catalog_results"] = "catalog_results"
    products: list[dict[str, Any]] = Field(description="Schema.org Product JSON-LD")


class Error(_Out):
    type: Literal["error"] = "error"
    code: ErrorCode
    message: str
    field: str | None = None


OutQty = Annotated[int, PlainSerializer(str, return_type=str)]


class PriceBreak(_Out):
    """From `quantity` units, `unit_price` each: what a first proposal opens at (list price, before negotiation)."""

    quantity: OutQty
    unit_price: Dec


class AnswerError(_Out):
    """Why one product of the question cannot be answered (the typed error an rfq for it would get)."""

    code: ErrorCode
    message: str
    field: str | None = None


class ProductAnswer(_Out):
    """One product's answer; only the fields the question's topic has are present."""

    sku: str
    currency: str | None = None
    payment_terms: str | None = Field(default=None, description="The terms the prices are on")
    price_breaks: list[PriceBreak] | None = None
    quantity: OutQty | None = Field(default=None, description="The quantity asked about")
    unit_price: Dec | None = Field(default=None, description="What a proposal for `quantity` opens at")
    lead_time_days: OutQty | None = Field(default=None, description="For `quantity`, from stock")
    moq: OutQty | None = None
    max_order_quantity: OutQty | None = None
    max_hold_units: OutQty | None = Field(default=None, description="The most one buyer may hold in open proposals")
    specs: dict[str, str] | None = Field(default=None, description="Specifications asked about (all, or the one named)")
    compatible: list[str] | None = Field(default=None, description="SKUs it is compatible with")
    related: list[str] | None = Field(default=None, description="SKUs sold with it")
    error: AnswerError | None = None


class TermsAnswer(_Out):
    """The payment terms one may ask for and the terms every proposal states, for `skus` (none: in general)."""

    skus: list[str]
    payment_terms: list[str]
    default_payment_terms: str
    terms: dict[str, str]


class PriceBasis(_Out):
    """What the prices include, in the price book's own words (delivery, taxes)."""

    price_book: str
    description: str


class Answer(_Out):
    """The answer to a question, as data beside its words: the figures the text says, and the offer or deal it
    points to. A question never gets a new proposal."""

    type: Literal["answer"] = "answer"
    topic: AskedTopic | None = Field(default=None, description="The question's topic (none: a message with no "
                                                                "request, answered with where things stand)")
    products: list[ProductAnswer] | None = None
    terms: list[TermsAnswer] | None = None
    price_basis: PriceBasis | None = None
    proposal_id: str | None = Field(default=None, description="The offer that stands (the answer restates it)")
    version: int | None = None
    deal_id: str | None = Field(default=None, description="The deal the negotiation ended with")
    awaiting_approval: bool | None = Field(default=None, description="The request awaits the vendor's approval")


SellerMessage = Annotated[Union[CatalogResults, Proposal, Deal, Closed, Error, Answer], Field(discriminator="type")]
SELLER_MESSAGE = TypeAdapter(SellerMessage)


def _types(union: Any) -> list[str]:
    """The `type` values of a discriminated union's members, in order."""
    members = get_args(get_args(union)[0])
    return [get_args(m.model_fields["type"].annotation)[0] for m in members]


BUYER_TYPES = _types(BuyerMessage)
SELLER_TYPES = _types(SellerMessage)


def parse_buyer_data(data: Any) -> CatalogQuery | Rfq | CounterOffer | Accept | Reject | BuyerQuestion:
    """Validate one data part into a typed buyer message (raises pydantic.ValidationError).

    A part whose `type` is missing or unknown is an error at `type`, naming the types there are (pydantic's own
    error for the discriminator has no location, so it named no field)."""
    try:
        return BUYER_MESSAGE.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0] if exc.error_count() else None
        if first is None or first["loc"] or first["type"] not in ("union_tag_invalid", "union_tag_not_found"):
            raise
        types = ", ".join(BUYER_TYPES)
        if first["type"] == "union_tag_not_found":
            message = f"a data part needs a type: one of {types}"
        else:
            message = f"unknown type {str((first.get('ctx') or {}).get('tag', ''))[:64]!r}: one of {types}"
        raise ValidationError.from_exception_data("BuyerMessage", [InitErrorDetails(
            type=PydanticCustomError("union_tag_invalid", message), loc=("type",), input=data)]) from None


def json_schemas() -> dict[str, dict[str, Any]]:
    """The published JSON Schemas, by file name."""
    return {
        "buyer-message.schema.json": {"$id": "https://dealdesk.dev/schemas/buyer-message.schema.json",
                                      "title": "dealdesk buyer message", **BUYER_MESSAGE.json_schema()},
        "seller-message.schema.json": {"$id": "https://dealdesk.dev/schemas/seller-message.schema.json",
                                       "title": "dealdesk seller message",
                                       **SELLER_MESSAGE.json_schema(mode="serialization")},
    }
