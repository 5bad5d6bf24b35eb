"""The deterministic playbook responder: what to do next in a turn, from the turn brief and tool results.

It is the whole brain of the offline model and of the structured path: it
calls `submit_proposal` with the strategy's recommended move ids (and the
playbook alternatives), answers product questions from `catalog_lookup`, and
writes the reply text around the offer. Every figure it writes comes from a
tool result or the staged offer, so the guardrail can trace it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from langchain_core.messages import AIMessage

from agent.intent import (
    ACCEPT_AND_REJECT, ACCEPT_WHICH_VERSION, CONDITIONAL_ACCEPT, DELIVERY_ELSEWHERE, NO_PRODUCT_NAMED,
    NO_PROPOSAL_TO_ACCEPT, NO_PROPOSAL_TO_REJECT, NO_USABLE_QUANTITY, WHICH_LINE,
)
from tools.policy.breaks import PriceBreaks

SCHEMA_HINT = ("Please send a data part with a `type` of catalog_query, question, rfq, counter_offer, accept or reject "
               "(JSON Schema: /schemas/buyer-message.schema.json), or write your request in plain words, "
               "for example the quantity and SKU you need and the price you have in mind.")


def _call(name: str, args: dict[str, Any]) -> AIMessage:
    """A tool call whose id is a digest of its name and arguments, so replays are identical."""
    key = hashlib.sha256(json.dumps([name, args], sort_keys=True, default=str).encode()).hexdigest()[:12]
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call_{key}", "type": "tool_call"}])


# What a price turn's reply says first, by the kind of move the strategy chose for each line. It names the
# products, never a figure: the offer's own figures follow. `open` and the trades need no words.
_LEADS = {"accept": "We can meet your price for {}.", "meets": "Our offer for {} is already at or below your price.",
          "concede": "We have improved our price for {}.", "hold": "We are holding our price for {}.",
          "final": "This is our final offer for {}."}


def move_lead(moves: list[dict[str, Any]], asked: dict[str, str | None]) -> str:
    """The lead of a reply to a price turn: `moves` are the offer's moves (kind, sku, unit_price), `asked` the
    buyer's unit price by SKU. An accepted line at a price below the one asked (the standing offer was already
    better) 'meets' it rather than accepting it. A line asked at no price this turn (an rfq for another quantity:
    "500 then") gets no words for a hold or a concession: its price moved with the quantity, not with an ask."""
    by_kind: dict[str, list[str]] = {}
    for m in moves:
        kind = m["kind"]
        if kind in ("hold", "concede") and m["sku"] in asked and asked[m["sku"]] is None:
            continue
        if kind == "accept" and (asked.get(m["sku"]) is None
                                 or Decimal(str(m["unit_price"])) != Decimal(str(asked[m["sku"]]))):
            kind = "meets"  # below the price asked, or no price asked this turn (an earlier one is met)
        if kind in _LEADS and m["sku"] not in by_kind.get(kind, []):
            by_kind.setdefault(kind, []).append(m["sku"])
    return " ".join(lead.format(_and(by_kind[k])) for k, lead in _LEADS.items() if k in by_kind)


def days(n: int | str) -> str:
    """A number of days as a reply says it: "1 day", "2 days" (a wire message may carry it as a string)."""
    return f"{n} day" if str(n) == "1" else f"{n} days"


def _and(names: Sequence[str], word: str = "and") -> str:
    """Names as words: A; A and B; A, B and C (`word` instead of "and")."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" {word} " + names[-1]


def _fixed_terms(terms: Mapping[str, str]) -> list[str]:
    """The terms a proposal states besides its payment terms, as a reply says them ("Warranty: 12 months...")."""
    return [f"{k.replace('_', ' ').capitalize()}: {v}" for k, v in terms.items()]


def offer_text(proposal: dict[str, Any], *, lead: str = "") -> str:
    """The reply around a proposal: every figure is one of the proposal's own (`lead`: `move_lead`'s words)."""
    cur = proposal["currency"]
    head = f"Proposal {proposal['proposal_id']} version {proposal['version']}"
    if lead:
        head = f"{lead} {head}"
    lines = [f"{i['quantity']} x {i['sku']} at {i['unit_price']} {cur} each ({i['line_total']} {cur}, "
             f"ships in {days(i['lead_time_days'])}" + (f", delivery by {i['delivery_date']}"
                                                       if i.get("delivery_date") else "") + ")"
             for i in proposal["items"]]
    text = f"{head}: " + "; ".join(lines) + f". Total {proposal['total']} {cur}, payment {proposal['payment_terms']}, " \
        f"valid until {proposal['valid_until'][:10]}."
    pending = proposal.get("pending")
    if pending and _same_lines(pending["items"], proposal["items"]):
        text += " This offer needs our team's approval before it can be accepted; we will come back to you " \
                "with the decision."
    elif pending:
        text += " A better offer for your request is awaiting approval; meanwhile this offer stands and you can " \
                "accept it at any time."
    for alt in proposal.get("alternatives") or []:
        if alt["kind"] == "next_tier":
            text += f" At {alt['quantity']} units the price is {alt['unit_price']} {cur} each."
        elif alt["kind"] == "related_sku":
            text += f" Also available: {alt['sku']} ({alt['name']}) at {alt['unit_price']} {cur} each for " \
                f"{alt['quantity']} units."
        elif alt["kind"] == "longer_terms":
            text += f" We can also offer {alt['unit_price']} {cur} each on {alt['payment_terms']}."
        elif alt["kind"] == "larger_quantity":
            text += f" For {alt['quantity']} units we can do {alt['unit_price']} {cur} each."
    return text


def _same_lines(pending: list[dict[str, Any]], items: list[dict[str, Any]]) -> bool:
    key = lambda i: (i["sku"], str(i["quantity"]), str(i["unit_price"]))  # noqa: E731
    return sorted(map(key, pending)) == sorted(map(key, items))


def _answer_question(question: dict[str, Any], result: dict[str, Any]) -> str:
    if not result.get("ok"):
        return f"Sorry, I could not find that: {result['error']['message']}."
    products = result.get("products") or []
    if not products:
        return "I found no matching products."
    topic, spec = question.get("topic"), question.get("spec")
    out = []
    for p in products:
        if topic == "spec":
            specs = p["specs"]
            if spec and spec in specs:
                out.append(f"{p['sku']} {spec}: {specs[spec]}")
            else:
                out.append(f"{p['sku']} ({p['name']}): " + ", ".join(f"{k} {v}" for k, v in specs.items()))
        elif topic == "lead_time":
            out.append(f"{p['sku']} ships in {days(p['lead_time_days'])} {_source(p)}")
        elif topic == "compatibility":
            mates = p["compatible"] + p["related"]
            out.append(f"{p['sku']} goes with {', '.join(mates)}" if mates else f"{p['sku']} has no listed companions")
        elif topic == "availability":
            made = " made to order" if p.get("made_to_order") else ""  # no stock kept: every unit is made for it
            out.append(f"{p['sku']} ({p['name']}) ships in {days(p['lead_time_days'])}{made}")
        elif topic in _QUOTE_NEEDS:
            out.append(f"{p['sku']} ({p['name']})")
        else:
            out.append(f"{p['sku']}: {p['name']}")
    if topic == "availability" and all(p.get("made_to_order") for p in products):
        return "; ".join(out) + MADE_TO_ORDER_QUOTE
    return "; ".join(out) + _QUOTE_NEEDS.get(topic, ".")


# How a question ends when no offer stands on its products (`standing_offer_text` answers when one does):
# what a quote needs.
_QUOTE_NEEDS = {
    "availability": ". Tell us the quantity you need: a proposal confirms it against our stock.",
    "price": ": we quote it for the quantity you need. Tell us how many you need and we will send a proposal.",
    "terms": (": payment terms are part of every proposal. Tell us the quantity you need and the terms you would "
              "like, and the proposal shows what we can do."),
}
# An availability question on made-to-order products only: there is no stock to confirm a quantity against.
MADE_TO_ORDER_QUOTE = ". Tell us the quantity you need: a proposal confirms its lead time."
NEGOTIATE_PRICE_HINT = ("If you have another price in mind, send it as a counter-offer (the unit price for each "
                        "line) and we will look at it.")
NEGOTIATE_TERMS_HINT = ("If you need other payment terms, send a counter-offer that names them and we will look "
                        "at it.")
# A message with no request in it while an offer stands ("yes", "ok go"): the offer, and what the buyer can do.
UNCLEAR_ON_OFFER = "I could not find a request in your message."
WHICH_VERSION_ON_OFFER = "To accept, name the proposal and its version as below, or reply that you accept our offer."
# Where the buyer's request stands ("any news on the approval?"): the offer (its words say what awaits approval).
STATUS_PENDING_HINT = "We will let you know as soon as the approval is decided."
ANOTHER_ORDER = "For another order, start a new negotiation with the SKU and quantity you need."
AWAITING_APPROVAL = "Your request is awaiting our team's approval. " + STATUS_PENDING_HINT
NOTHING_PENDING = "Nothing in your request awaits approval."
RFQ_FOR_A_QUOTE = "Send an rfq with the SKU and quantity you need for a quote."
NEXT_STEPS_HINT = ("To take it, reply that you accept it; to change it, send the unit price, quantity or payment "
                   "terms you want; or ask about the products.")


# Who answers (an AI disclosure, EU AI Act art. 50): an automated agent, and the person who reviews what it may not
# offer on its own. No figure.
IDENTITY = ("You are talking to our automated sales agent, an AI system, not a person. It answers questions and makes "
            "offers within the limits our team sets; an offer beyond them is reviewed and approved by a person on our "
            "team before it is sent to you.")
# The form offers come in: structured data beside the words, never a file.
OFFER_FORMAT = ("We do not send PDF or other files, and we answer here rather than by e-mail: each offer comes as "
                "structured data, a JSON `proposal` data part of the A2A message (JSON Schema: "
                "/schemas/seller-message.schema.json) with every figure of the offer, and the text beside it.")
# A currency question the seller could not place with the buyer's price book (no offer, no book for the region).
CURRENCY_UNKNOWN = ("We quote each organisation in the currency of the region it buys in, and we do not convert prices "
                    "into other currencies.")


def seller_topic_text(topic: str) -> str:
    """The words of a question about the seller ("are you a bot?", "send the quote as PDF") when no offer stands;
    none has a figure."""
    return {"identity": f"{IDENTITY} I can help with product questions, quotes and negotiation. {RFQ_FOR_A_QUOTE}",
            "format": f"{OFFER_FORMAT} {RFQ_FOR_A_QUOTE}",
            "currency": f"{CURRENCY_UNKNOWN} {RFQ_FOR_A_QUOTE}"}.get(topic, "")


def standing_offer_text(proposal: dict[str, Any], topic: str, basis: str = "", aside: str = "") -> str:
    """The answer to a price or terms question while `proposal` stands (or to a message with no request in it:
    topic "unclear"; or to where the request stands: "status"; or to a question about the seller: who answers,
    the form or the currency of its offers, `aside` saying the currency's): the offer itself (its suggestions were
    made when it was sent), and how to counter, take or change it. Every figure is the proposal's own; a terms or
    currency answer adds what the prices include (`basis`: `price_basis_text` of the price book's words)."""
    hint = {"terms": NEGOTIATE_TERMS_HINT, "unclear": NEXT_STEPS_HINT, "which_version": NEXT_STEPS_HINT,
            "status": STATUS_PENDING_HINT if proposal.get("pending") else f"{NOTHING_PENDING} {NEXT_STEPS_HINT}",
            "identity": NEXT_STEPS_HINT, "format": NEXT_STEPS_HINT, "currency": NEXT_STEPS_HINT,
            }.get(topic, NEGOTIATE_PRICE_HINT)
    fixed = [*_fixed_terms(proposal.get("terms") or {}), *([basis] if basis else [])] if topic == "terms" else \
        [basis] if topic == "currency" and basis else []
    lead = {"unclear": [UNCLEAR_ON_OFFER], "which_version": [WHICH_VERSION_ON_OFFER], "identity": [IDENTITY],
            "format": [OFFER_FORMAT]}.get(topic, [])
    if aside:
        lead = [*lead, aside]
    return " ".join([*lead, "Our offer stands.", offer_text({**proposal, "alternatives": None}), *fixed, hint])


def currency_text(region: str, offered: Sequence[str], buys_in: str, asked: str | None) -> str:
    """Which currency the buyer's prices are in: the currencies `offered` in its `region` (the price books for it),
    the one its organisation buys in, and that the currency `asked`, if another, is not offered to it. Prices are
    never converted: no figure."""
    text = f"Prices for your region ({region}) are in {_and(list(offered), 'or')}"
    text += "." if list(offered) == [buys_in] else f"; your organisation buys in {buys_in}."
    if asked and asked != buys_in:
        text += f" {asked} is not offered " + ("in your region" if asked not in offered else "to your organisation") \
            + ", and we do not convert prices into other currencies."
    return text


def price_basis_text(description: str) -> str:
    """What the prices include, in the vendor's words (a price book's description: delivery, taxes)."""
    text = " ".join(description.split())
    return f"Our prices: {text}" + ("" if text.endswith((".", "!", "?")) else ".")


QUOTE_CONFIRMS = "Send an rfq with your quantity and the proposal confirms the price."


def price_breaks_text(pb: PriceBreaks, asked: tuple[int, Decimal | None] | None = None) -> str:
    """The answer to a price question with no offer standing on the product: its volume breaks for this
    buyer (tools/policy/breaks.py), and with `asked` (a quantity, its opening price or None when the order
    limits refuse it) the price for that quantity. Every figure is one of `pb`'s, or `asked`'s."""
    cur, first = pb.currency, pb.breaks[0]
    unit = "unit" if first.quantity == 1 else "units"
    slab = pb.tier_mode == "slab"  # each slab at its own rate: a break's price is an order of that size's average
    if len(pb.breaks) == 1:
        text = f"{pb.sku} is {first.unit_price} {cur} per unit on {pb.payment_terms}, with no volume breaks."
    else:
        steps = ", ".join(f"{b.unit_price} {'for' if slab else 'from'} {b.quantity}{' ' + unit if i == 0 else ''}"
                          for i, b in enumerate(pb.breaks))
        how = ", each slab of an order at its own rate (the average unit price of an order of that size)" \
            if slab else ""
        text = f"Volume prices for {pb.sku} in {cur} per unit on {pb.payment_terms}{how}: {steps}."
    if pb.moq > 1:
        text += f" The minimum order is {pb.moq} units."
    if asked is not None:
        qty, price = asked
        if price is not None:
            text += f" For {qty} units: {price} {cur} each."
        elif pb.max_order_quantity is not None and qty > pb.max_order_quantity:
            text += f" We take at most {pb.max_order_quantity} units of {pb.sku} per order."
    return text


def order_limits_text(sku: str, moq: int, most: int | None, hold: int | None = None) -> str:
    """A product's order limits as a reply says them (`moq` 1: no minimum; `hold`: the most one buyer may hold
    in open proposals, said when it is below the order maximum, as the rfq's own error would)."""
    low = f"the minimum order is {moq} units" if moq > 1 else "there is no minimum order"
    high = f", and one order may have at most {most} units" if most is not None else ""
    held = f"; one buyer may hold at most {hold} units in open proposals" \
        if hold is not None and (most is None or hold < most) else ""
    return f"{sku}: {low}{high}{held}."


def terms_text(allowed: Sequence[str], default: str, fixed: Mapping[str, str], skus: Sequence[str] = ()) -> str:
    """The terms a proposal is made on, as a terms question is answered (for `skus`, when it names products):
    the payment terms one may ask for (and the one a proposal takes unless asked), and the terms every
    proposal states and the seller does not negotiate (warranty, liability, governing law: the policy's
    `non_negotiable_terms`, quoted as written)."""
    text = " ".join([f"Payment terms: {_and(allowed, 'or')} ({default} unless you ask for another).",
                     *_fixed_terms(fixed)])
    return f"For {_and(skus)}: {text}" if skus else text


def _source(p: dict[str, Any]) -> str:
    """Where a looked-up product ships from: stock, or made for the order (the lookup says which)."""
    return "made to order" if p.get("made_to_order") else "from stock"


def _product_text(p: dict[str, Any]) -> str:
    """One product looked up by SKU: what it is, its specs, how fast it ships and what goes with it; every
    figure is the lookup's."""
    specs = ", ".join(f"{k} {v}" for k, v in p["specs"].items())
    text = f"{p['sku']} ({p['name']})" + (f": {specs}" if specs else "") + \
        f". It ships in {days(p['lead_time_days'])} {_source(p)}."
    if p["compatible"]:
        text += f" It goes with {', '.join(p['compatible'])}."
    return text + " Send an rfq with the quantity you need for a quote."


def searched_text(query: Mapping[str, Any]) -> str:
    """What a catalog search looked for, as a reply says it: "products in bearings matching 'shaft' with bore_mm
    20" (the filters' values are the search's own: the guardrail's facts of a search that found nothing)."""
    out = "products"
    if query.get("category"):
        out += f" in {query['category']}"
    if query.get("query"):
        out += f" matching '{query['query']}'"
    specs = [f"{k} {m.group(1)} {m.group(2)}" if (m := re.match(r"(!=|>=|<=|>|<|=)\s*(.*)", str(v))) else f"{k} {v}"
             for k, v in (query.get("specs") or {}).items()]
    if specs:
        out += f" with {_and(specs)}"
    return out


NOTHING_FOUND_HINT = ("Try other words or fewer filters, or send the SKU and quantity you need for a quote. "
                      "A data part with a `type` of catalog_query searches by category and spec filters (JSON Schema: "
                      "/schemas/buyer-message.schema.json).")


def _catalog_text(result: dict[str, Any], query: Mapping[str, Any] | None = None) -> str:
    if not result.get("ok"):
        return f"Sorry: {result['error']['message']}."
    products = result.get("products") or []
    if not products and query and (query.get("category") or query.get("query") or query.get("specs")):
        return f"I found no {searched_text(query)}. {NOTHING_FOUND_HINT}"
    if not products:
        return "I found no matching products. " + SCHEMA_HINT
    names = "; ".join(f"{p['sku']} ({p['name']})" for p in products)
    best = result.get("best_match") if len(products) > 1 else None
    closest = f" The closest match is {best}." if isinstance(best, str) else ""
    return f"Matching products: {names}.{closest} Send an rfq with the SKU and quantity for a quote."


def _alternatives(lines: list[dict[str, Any]]) -> list[str]:
    """The priced alternatives to show beside an offer: every one of the round, but a line's related SKUs only
    with its first offer (a counter-offer does not repeat suggestions the buyer has had). `submit_proposal`
    leaves out the products the request already has and names each product once, whoever chose."""
    return [m["id"] for ln in lines for m in ln["plan"]["moves"] if m["alternative"]
            and not (m["kind"] == "suggest_related" and ln["plan"].get("offered_before"))]


def respond(brief: dict[str, Any], results: list[dict[str, Any]]) -> AIMessage:
    """The next assistant message for this turn: a tool call, or the final reply text."""
    intent = brief.get("intent") or {}
    kind = intent.get("kind")
    lines = brief.get("lines") or []
    done = {r.get("tool"): r for r in results}
    if kind in ("rfq", "counter_offer") and lines:
        if "submit_proposal" not in done:
            move_ids = [ln["plan"]["recommended"] for ln in lines]
            return _call("submit_proposal", {"move_ids": move_ids, "alternative_ids": _alternatives(lines)})
        result = done["submit_proposal"]
        if not result.get("ok"):
            return AIMessage(content=f"Sorry, I cannot make that offer: {result['error']['message']}.")
        return AIMessage(content="")  # the graph writes the offer text around the staged proposal
    if kind == "question" and intent.get("question"):
        question = intent["question"]
        if question.get("topic") == "status":  # no offer stands (prepare answers while one does)
            return AIMessage(content=f"{NOTHING_PENDING} {RFQ_FOR_A_QUOTE}")
        if seller_topic_text(question.get("topic") or ""):  # about the seller, no offer standing: no lookup
            return AIMessage(content=seller_topic_text(question["topic"]))
        if "catalog_lookup" not in done:
            skus = question.get("skus") or []
            if skus:
                return _call("catalog_lookup", {"sku": skus[0]})
            return AIMessage(content="Which SKU is your question about? " + SCHEMA_HINT)
        return AIMessage(content=_answer_question(question, done["catalog_lookup"]))
    if kind == "catalog_query":
        q = (intent.get("message") or {})
        if "catalog_lookup" not in done:
            if q.get("sku"):  # a product lookup ("tell me about FST-M8X30-A2")
                return _call("catalog_lookup", {"sku": q["sku"]})
            specs = [f"{k}{v}" if str(v)[:1] in "<>!=" else f"{k}={v}" for k, v in (q.get("specs") or {}).items()]
            return _call("catalog_lookup", {"query": q.get("query"), "category": q.get("category"), "specs": specs,
                                            "limit": q.get("limit") or 5})
        result = done["catalog_lookup"]
        if q.get("sku") and result.get("ok") and len(result.get("products") or []) == 1:
            return AIMessage(content=_product_text(result["products"][0]))
        return AIMessage(content=_catalog_text(result, q))
    for note in intent.get("notes") or []:  # a message the reader could tell what was wrong with
        if note in UNCLEAR_REPLIES:
            return AIMessage(content=UNCLEAR_REPLIES[note])
    return AIMessage(content="I can help with product questions, quotes and negotiation. " + SCHEMA_HINT)


# What a reply says to a message that could not be acted on, by the reader's reason (agent/intent.py).
UNCLEAR_REPLIES = {
    NO_PROPOSAL_TO_ACCEPT: f"There is no proposal to accept yet. {RFQ_FOR_A_QUOTE}",
    NO_PROPOSAL_TO_REJECT: "There is no proposal to reject: nothing is on offer to you in this conversation.",
    ACCEPT_AND_REJECT: "Your message both accepts and rejects. Do you accept our proposal, or reject it?",
    CONDITIONAL_ACCEPT: "An acceptance takes the proposal as offered, so nothing is accepted yet. To change "
                        "something in it, send a counter-offer with the price or terms you want, or a new request "
                        "with the quantity or delivery date you need; or accept it as it stands.",
    NO_PRODUCT_NAMED: "Which product do you mean? Name its SKU with the quantity you need, and we will send you a "
                      "proposal.",
    WHICH_LINE: "Our offer has more than one line: which product is that quantity for? Name its SKU with the "
                "quantity.",
    ACCEPT_WHICH_VERSION: "Which proposal do you accept? Name it with its version as our last message gives them, "
                          "or reply that you accept our offer.",
    NO_USABLE_QUANTITY: "A quantity is a whole number of units, at least one. Send the SKU with the quantity you "
                        "need, and we will send you a proposal.",
    DELIVERY_ELSEWHERE: "We quote each organisation in the region it buys in, on that region's prices and delivery "
                        "terms, so we cannot offer delivery to that destination here. Ask us about our terms to see "
                        "how we deliver in your region, or send the SKU and quantity you need for a quote.",
}


BRIEF_MARKER = "TURN BRIEF (JSON):"


def render_brief(brief: dict[str, Any]) -> str:
    return BRIEF_MARKER + "\n" + json.dumps(brief, default=str, sort_keys=True)


def parse_brief(text: str) -> dict[str, Any] | None:
    if BRIEF_MARKER not in text:
        return None
    return json.loads(text.split(BRIEF_MARKER, 1)[1])
