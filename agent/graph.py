"""The seller agent as a LangGraph state machine.

begin -> understand -> prepare -> agent <-> tools -> guardrail -> approval -> commit -> END
                                             ^            |
                                             +- revise ---+

- understand: a data part is validated into a typed intent; text goes through the model.
- prepare: deterministic validation and the strategy's moves for this round.
- agent: structured intents are answered by the playbook with no model call; text
  intents by the model with the tools bound. Either way the same tools run.
- tools: the tool calls, with tool failures returned to the model (agent/tool_calls.py).
- guardrail: the pure check of the outgoing message; on a violation the model gets
  feedback for a bounded number of revisions, then a safe deterministic reply.
- approval: routes offers beyond auto authority to an operator (a durable row).
- commit: one transaction persists the proposal, holds, events, approval, deal and
  the decision records, before the reply exists for the buyer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, get_args

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage, messages_from_dict, messages_to_dict,
)
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command
from pydantic import ValidationError

from agent.answers import (
    Answered, breaks_answer, currency_answer, limits_answer, price_basis_answer, product_part, terms_answer,
)
from agent.contract import (
    BUYER_TYPES, SELLER_MESSAGE, AnswerError, AskedTopic, CatalogResults, CounterItem, CounterOffer, Deal, DealItem,
    ProductAnswer, Proposal, Rfq, naive_utc, parse_buyer_data,
)
from agent.contract import Answer as AnswerMessage
from agent.guardrail.check import GuardContext, Verdict, Violation, check_message
from agent.guardrail.text import LEAK_FIGURE, UNTRACED, Fact, facts_from_own_text, facts_from_proposal
from agent.intent import ACCEPT_WHICH_VERSION, SELLER_TOPICS, BuyerIntent, merge_intents, question_of
from agent.models.factory import model_name as model_label
from agent.models.offline import OfflineModel, tool_results, turn_messages
from agent.models.resilient import FALLBACK_KEY, LOCAL_KEY, ResilientModel, fallback_of, metered
from agent.negotiation import Line, TurnError, check_line, closed_message, error_message, lines_of, plan_lines
from agent.playbook import (
    ANOTHER_ORDER, AWAITING_APPROVAL, QUOTE_CONFIRMS, SCHEMA_HINT, UNCLEAR_REPLIES, days, move_lead, offer_text,
    render_brief, respond, standing_offer_text,
)
from agent.prompts import delimit_buyer_text
from agent.prompts import load as load_prompt
from agent.records import PROMPT_VERSION, digest, make_record
from agent.state import COMPACT, RESET, Channels, TurnState, flat, fresh_turn, said, split
from agent.store import HoldRequest, ProposalRow, Store
from agent.store.audit_tables import STORED_DIGEST
from agent.store.autonomy import effective
from agent.store.db import utcnow
from agent.store.store import new_id
from agent.tool_calls import ToolCalls
from agent.topic import last_topic, turn_topic, with_quantities
from agent.turn_view import TurnView
from tools.catalog.jsonld import product_jsonld
from tools.catalog.models import Catalog
from tools.catalog.search import search, unknown_sku
from tools.errors import DealdeskError
from tools.money import quantum, round_money
from tools.policy.desk import Desk
from tools.policy.models import Policy
from tools.policy.surface import DecisionSurface
from tools.pricing.models import BuyerContext
from tools.proposals import build_proposal, pending_of, valid_until
from tools.seller_tools import build_tools, round_moves
from tools.strategy.concession import make_move
from tools.strategy.models import Move, StrategyConfig
from tools.strategy.readback import move_of

RECURSION_LIMIT = 40


@dataclass
class SellerConfig:
    max_revisions: int = 2
    memory_days: int = 30
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    model_name: str = "dealdesk-offline"


# How a negotiation that ended is said to have ended (a message that would change it is refused).
_ENDED = {"deal": "ended with a deal", "closed": "is closed", "rejected": "was rejected", "canceled": "was canceled"}


class SellerGraph:
    """Builds and holds the compiled graph; nodes close over the catalog, policy, store and model."""

    def __init__(self, catalog: Catalog, policy: Policy, store: Store, *, model: BaseChatModel | None = None,
                 checkpointer: Any = None, config: SellerConfig | None = None):
        self.catalog = catalog
        self.policy = policy
        self.store = store
        self.model = model or OfflineModel()
        self.config = config or SellerConfig()
        self._views: dict[tuple, TurnView] = {}
        self.tools = build_tools(self.desk_for)
        if not isinstance(self.model, OfflineModel) and self.config.model_name == SellerConfig.model_name:
            self.config = dataclasses.replace(self.config, model_name=model_label(self.model))
        # The offline model's replies come from the playbook; a language model's from the prompt files.
        self.prompt_version = PROMPT_VERSION if isinstance(self.model, OfflineModel) else ",".join(
            [load_prompt("seller_system").ref, *getattr(self.model, "prompt_refs", [])])
        self.bound_model = self.model.bind_tools(self.tools)
        self._understander: Any = None  # the model's structured output as a BuyerIntent (`_understand_text`)
        self.graph = self._build().compile(checkpointer=checkpointer)

    # What a turn's caller reads of the final state (`Seller._run`): `commit` writes it once (agent/state.py).
    output_keys = ("outcome",)

    # --- helpers -----------------------------------------------------------------------

    @staticmethod
    def _turn_key(state: dict[str, Any]) -> tuple:
        return state["negotiation_id"], state.get("turn"), state.get("message_id")

    def open_turn(self, state: dict[str, Any], view: TurnView) -> tuple:
        """Serve this turn's reads from `view` (the caller closes it with `close_turn`)."""
        key = self._turn_key(state)
        self._views[key] = view
        return key

    def close_turn(self, key: tuple) -> None:
        view = self._views.pop(key, None)
        if view is not None:
            view.close()

    def _view(self, state: dict[str, Any]) -> TurnView:
        """The store as this turn sees it: read once (only `commit` writes, under the turn lock)."""
        key = self._turn_key(state)
        view = self._views.get(key)
        if view is None:  # the graph invoked without `Seller` (tests): opened here, closed by commit
            view = TurnView.open(self.store, state["negotiation_id"])
            if view is None:
                raise TurnError(f"unknown negotiation {state['negotiation_id']}", code="unknown_proposal")
            self._views[key] = view
        return view

    def _neg(self, state: dict[str, Any]):
        """The negotiation as it stands during this turn (outside a turn: as it stands now)."""
        if state.get("turn") is not None:
            return self._view(state).negotiation
        neg = self.store.get_negotiation(state["negotiation_id"])
        if neg is None:
            raise TurnError(f"unknown negotiation {state['negotiation_id']}", code="unknown_proposal")
        return neg

    def desk_for(self, state: dict[str, Any], order: tuple[tuple[str, int], ...] | None = None) -> Desk:
        """Catalog, policy and this buyer, for the payment terms in `state` and the order's lines (`order`, else
        the turn's `lines`: several lines are priced together, deal-size rules seeing the whole order as in a
        quote); one per turn, terms and order (the surfaces themselves are shared by every desk on the same
        catalog and policy, `tools/policy/desk.py`)."""
        neg = self._neg(state)
        terms = state.get("terms") or neg.payment_terms or self.policy.doc.global_.payment_terms.default
        if order is None:
            order = tuple((ln["sku"], int(ln["quantity"])) for ln in state.get("lines") or ())
        order = order if len(order) > 1 else ()
        memo = self._views[self._turn_key(state)].memo if state.get("turn") is not None else {}
        desk = memo.get(("desk", terms, order))
        if desk is None:
            buyer = BuyerContext(region=neg.region, currency=neg.currency, segment=neg.segment, payment_terms=terms,
                                 on=utcnow().date())
            desk = memo[("desk", terms, order)] = Desk(self.catalog, self.policy, buyer, order)
        return desk

    def _record(self, state: dict[str, Any], node: str, operation: str, started: float, **kw: Any) -> dict[str, Any]:
        return make_record(state, node, operation=operation, started=started,
                           **{"gen_ai.request.model": self.config.model_name, "dealdesk.prompt.version": self.prompt_version,
                              "dealdesk.policy.version": self.policy.version,
                              "dealdesk.catalog.version": self.catalog.version}, **kw)

    def _earlier(self, state: TurnState) -> list[BaseMessage]:
        """The conversation before this turn as LangChain messages, for a model's prompt (built once a turn)."""
        history = state.get("history") or []
        if state.get("turn") is None:
            return messages_from_dict(history)
        memo = self._view(state).memo
        if "history" not in memo:
            memo["history"] = messages_from_dict(history)
        return memo["history"]

    def conversation(self, negotiation_id: str) -> list[BaseMessage]:
        """The negotiation's checkpointed conversation: each earlier turn's buyer (or operator) message and
        seller reply, and the last turn whole (its model steps and tool results too), until the next turn."""
        snapshot = self.graph.get_state({"configurable": {"thread_id": negotiation_id}})
        return messages_from_dict((snapshot.values or {}).get("history") or []) if snapshot else []

    # --- nodes -------------------------------------------------------------------------

    def begin(self, state: TurnState) -> dict[str, Any]:
        started = time.perf_counter()
        inbound = state["inbound"]
        if "operator" in inbound:
            content, name = json.dumps(inbound["operator"], default=str), "operator"
        else:
            parts = [json.dumps(inbound["data"], default=str)] if "data" in inbound else []
            if "text" in inbound:
                parts.append(delimit_buyer_text(inbound["text"]))
            content, name = "\n".join(parts), "buyer"
        human = HumanMessage(content=content, name=name, id=f"in-{state['turn']}-{state['message_id']}")
        rec = self._record(state, "begin", "receive", started, inputs=inbound)
        rec["dealdesk.inbound"] = inbound  # kept in full in the store (chained); the log holds its digest
        # A checkpoint written before the conversation moved to `history` holds it in `messages` (which a
        # turn now starts empty): it becomes the history here.
        earlier = [e for e in messages_to_dict(state.get("messages") or []) if said(e)]
        return {**fresh_turn(), "messages": [RESET, human], "history": [COMPACT, *earlier], "records": [RESET, rec]}

    def understand(self, state: TurnState) -> dict[str, Any]:
        started = time.perf_counter()
        inbound = state["inbound"]
        calls = 0
        if "operator" not in inbound and "data" not in inbound:
            sent = data_in_text(inbound.get("text") or "")
            if sent is not None:  # a bot that put its data part in a text part: read as the data part it is
                inbound = {"data": sent}
        meter = understood = None
        if "operator" in inbound:
            intent = {"kind": "operator", "operator": inbound["operator"]}
        elif "data" not in inbound:
            with metered() as meter:
                understood = self._understand_text(state, inbound.get("text") or "")
            calls = meter.calls if isinstance(self.model, ResilientModel) else 1
            intent = understood.model_dump(mode="json")
        else:
            try:
                message = parse_buyer_data(inbound.get("data"))
            except ValidationError as exc:
                err = exc.errors()[0]
                loc = [str(p) for p in err["loc"] if not str(p).startswith("function-")]
                if len(loc) > 1 and loc[0] in BUYER_TYPES:  # pydantic's union tag: the path in the part is the rest
                    loc = loc[1:]
                where = ".".join(loc)
                direct = {"data": {"type": "error", "code": "malformed_message", "message": f"{where}: {err['msg']}",
                                   "field": where or None}, "text": "The message could not be read."}
                rec = self._record(state, "understand", "understand", started, inputs=inbound,
                                   **{"dealdesk.error": "malformed_message", "dealdesk.error.field": where})
                return {"intent": {"kind": "invalid"}, "direct": direct, "records": [rec]}
            structured = BuyerIntent(kind=message.type, message=message, source="data") \
                if message.type != "question" else \
                BuyerIntent(kind="question", message=message, question=question_of(message), source="data")
            if inbound.get("text"):  # text beside a data part: merged, and the data part wins
                lines = [(i.sku, i.quantity) for i in getattr(message, "items", None) or []]
                with metered() as meter:
                    understood = self._understand_text(state, inbound["text"], lines)
                structured = merge_intents(structured, understood)
                calls = meter.calls if isinstance(self.model, ResilientModel) else 1
            intent = structured.model_dump(mode="json")
        rec = self._record(state, "understand", "understand", started, inputs=inbound,
                           **{"dealdesk.intent": intent.get("kind"), "dealdesk.intent.source": intent.get("source"),
                              # how the words were read ("10% off the offered 3.23 EUR read as 2.91 ..."): text only
                              "dealdesk.intent.notes": (intent.get("notes") or None) if understood else None,
                              "dealdesk.model_calls": calls,
                              "gen_ai.usage.input_tokens": meter.input_tokens if meter else None,
                              "gen_ai.usage.output_tokens": meter.output_tokens if meter else None,
                              "dealdesk.model.fallback": "offline" if fallback_of(understood) else None,
                              "dealdesk.model.fallback_reason": fallback_of(understood)})
        return {"intent": intent, "model_calls": state.get("model_calls", 0) + calls, "records": [rec]}

    def _understand_text(self, state: TurnState, text: str,
                         lines: list[tuple[str, int]] | None = None) -> BuyerIntent:
        """Text through the model's structured output, with the negotiation (or the data part's lines) as context."""
        from agent.offline.context import TextContext
        from agent.offline.offer import asks_midpoint

        neg = self._neg(state)
        view = self._view(state)
        current = view.current_proposal()
        prices: tuple[Decimal, ...] = ()
        asks: tuple[Decimal | None, ...] = ()
        terms = None
        topic = False
        if lines is None:
            items = current.body["items"] if current else []
            lines = [(i["sku"], int(i["quantity"])) for i in items]
            if current is None:  # no offer to refer to: the products the buyer named last (agent/topic.py)
                lines = last_topic(state.get("history") or [])
                topic = bool(lines)
            if current is not None and current.status == "offered":  # what a percentage off is taken from
                prices = tuple(Decimal(str(i["unit_price"])) for i in items)
                terms = current.payment_terms
                if asks_midpoint(text):  # "split the difference": the buyer's last ask on each line
                    asks = _last_asks(view, [s for s, _ in lines], self.config.memory_days)
        ctx = TextContext(catalog=self.catalog, proposal_id=current.id if current else None,
                          proposal_version=current.version if current else None,
                          proposal_skus=tuple(s for s, _ in lines), proposal_quantities=tuple(q for _, q in lines),
                          proposal_prices=prices, proposal_asks=asks, proposal_terms=terms, topic=topic,
                          region=neg.region if neg else None, currency=current.currency if current else None)
        if self._understander is None:  # built once: a runnable costs as much to build as the parser to run
            self._understander = self.model.with_structured_output(BuyerIntent)
        return self._understander.invoke({"text": text, "context": ctx})

    def prepare(self, state: TurnState) -> dict[str, Any]:
        started = time.perf_counter()
        if state.get("direct"):
            return {}
        intent = state["intent"] or {}
        kind = intent.get("kind")
        neg = self._neg(state)
        assert neg is not None
        try:
            if kind == "operator":
                return self._prepare_operator(state, intent["operator"], started)
            if kind == "accept" and neg.status == "deal":
                again = self._deal_again(state, neg, intent.get("message") or {}, started)
                if again is not None:
                    return again
            ended = ("deal", "rejected", "canceled") if kind == "accept" else ("deal", "closed", "rejected", "canceled")
            if kind in ("rfq", "counter_offer", "accept", "reject") and neg.status in ended:
                raise TurnError(f"this negotiation {_ENDED.get(neg.status, 'is ' + neg.status)}; start a new one",
                                code="negotiation_closed")
            msg = intent.get("message") or {}
            if kind == "catalog_query" and intent.get("source") == "data":
                return self._catalog_results(state, msg, started)
            if kind == "rfq":
                rfq = Rfq.model_validate(msg)
                if rfq.region and rfq.region != neg.region:
                    raise TurnError(f"your organisation buys in region {neg.region}, not {rfq.region}",
                                    code="not_authorized_for_region", field="region")
                if rfq.currency:  # the organisation's currency, or else its region's price book's: never ignored
                    book = self.catalog.book_for(neg.region, neg.currency)
                    buys_in = neg.currency or (book.currency if book is not None else None)
                    if rfq.currency != buys_in:
                        raise TurnError(f"your organisation buys in {buys_in}, not {rfq.currency}",
                                        code="unsupported_currency", field="currency")
                if rfq.delivery_date is not None and rfq.delivery_date < utcnow().date():
                    raise TurnError(f"the delivery date {rfq.delivery_date} is in the past", code="malformed_message",
                                    field="delivery_date")
                terms = rfq.payment_terms or neg.payment_terms or self.policy.doc.global_.payment_terms.default
                asked = [CounterItem.model_validate(a) for a in intent.get("asked_prices") or []]  # as BuyerIntent's
                lines = lines_of(rfq, asked, numbered=intent.get("source") == "data")
                if intent.get("asked_discount_percent") is not None:
                    lines = self._percent_off(state, lines, Decimal(str(intent["asked_discount_percent"])), terms)
                return self._plan(state, neg, lines, terms, started)
            if kind == "counter_offer":
                co = CounterOffer.model_validate(msg)
                current = self._current(state, co.proposal_id, co.version)
                terms = co.payment_terms or current.payment_terms
                lines = lines_of(co, [], numbered=intent.get("source") == "data")
                named = {ln.sku for ln in lines}
                # A line of the proposal the counter does not name stays as offered (its quantity, no new price):
                # a buyer who counters one line keeps the others, as in words; an rfq asks for fewer lines. Its
                # concession (discount share) is kept, so its price moves only with its list price, when the
                # counter takes the order's value across a deal-size rule (a discount the order no longer earns).
                items = current.body.get("items") or ()
                lines += [Line(i["sku"], int(i["quantity"]), None) for i in items if i["sku"] not in named]
                order = {i["sku"]: n for n, i in enumerate(items)}
                lines.sort(key=lambda ln: order.get(ln.sku, len(order)))  # the offer's order, new lines last
                return self._plan(state, neg, lines, terms, started, proposal_id=current.id)
            if kind == "accept":
                return self._prepare_accept(state, neg, msg, started)
            if kind == "question":
                question = intent.get("question") or {}
                if intent.get("source") == "data":  # a bot's question names its products: each one must exist
                    for i, sku in enumerate(question.get("skus") or ()):
                        if sku not in self.catalog.products:
                            raise TurnError(unknown_sku(self.catalog, sku).message, code="unknown_sku",
                                            field=f"skus.{i}")
                answered = self._standing_offer(state, question, started) \
                    or self._awaiting(state, question, started) or self._delivery_for(state, question, started) \
                    or self._price_breaks(state, question, started) or self._order_limits(state, question, started) \
                    or self._terms(state, question, started) or self._currency(state, question, started)
                if answered is not None:
                    return answered
            if neg.status == "deal" and (kind == "unknown" or (
                    kind == "question" and (intent.get("question") or {}).get("topic") == "status")):
                answered = self._deal_done(state, neg, intent.get("question") or {}, started)
                if answered is not None:  # "what is the status of our order?" after the deal
                    return answered
            notes = intent.get("notes") or ()
            if kind == "unknown" and (ACCEPT_WHICH_VERSION in notes or not any(n in UNCLEAR_REPLIES for n in notes)):
                topic = "which_version" if ACCEPT_WHICH_VERSION in notes else "unclear"
                answered = self._standing_offer(state, {"topic": topic, "skus": []}, started)
                if answered is not None:  # "yes", "ok go": the offer stands, and what the buyer can do with it
                    return answered
            if kind == "reject":  # of the proposal this negotiation stands on; nothing to reject is no rejection
                if msg.get("proposal_id") != neg.current_proposal:
                    raise TurnError(f"unknown proposal {msg.get('proposal_id')}", code="unknown_proposal",
                                    field="proposal_id")
                reason = (msg.get("reason") or "no reason given")[:200]
                direct = {"data": closed_message(f"buyer rejected the proposal: {reason}"),
                          "text": "Understood, we have closed this negotiation. Thank you for considering us.",
                          "status": "rejected"}
                return {"direct": direct, "records": [self._record(state, "prepare", "close", started,
                                                                   inputs=msg, **{"dealdesk.close": "buyer_rejected"})]}
        except DealdeskError as exc:  # the seller's own words: their figures may be said, secrets still not
            direct = {"data": error_message(exc), "text": exc.message,
                      "facts": [_fact_json(f) for f in facts_from_own_text(exc.message, "error.message")]}
            rec = self._record(state, "prepare", "validate", started, inputs=intent,
                               **{"dealdesk.error": exc.code, "dealdesk.error.field": exc.field})
            return {"direct": direct, "records": [rec]}
        return {}

    def _standing_offer(self, state, question: dict[str, Any], started: float) -> dict[str, Any] | None:
        """A question about the price or the payment terms ("is that your best price?", "too expensive") while
        an offer stands on those products: the answer is that offer, restated as it is (no new version, every
        figure the stored proposal's own), and how to negotiate it. None when no such offer stands, or when the
        question names another quantity than the offer's. (A percentage off the offer is a counter-offer, not a
        question: agent/offline/understand.py.)"""
        topic = question.get("topic")
        if topic not in ("price", "terms", "unclear", "which_version", "status", *SELLER_TOPICS):
            return None
        current = self._view(state).current_proposal()
        if current is None or current.status != "offered" or current.valid_until <= utcnow():
            return None
        try:  # as it was sent; a body an older contract wrote that no longer reads is left to the catalog answer
            proposal = Proposal.model_validate(current.body)
        except ValidationError:
            return None
        body = current.body
        if body.get("pending") and self._view(state).pending_approval() is None:
            body = {**body, "pending": None}  # its request was decided, canceled or expired since: nothing awaits
        if not set(question.get("skus") or ()) <= {i.sku for i in proposal.items}:
            return None  # about another product: the catalog answers
        if question.get("quantity") and any(i.quantity != question["quantity"] for i in proposal.items
                                            if i.sku in (question.get("skus") or ())):
            return None  # the price of another quantity ("a volume discount above 1000 units?"): the volume breaks
        facts = facts_from_proposal(proposal, now=utcnow())
        basis = self._price_basis(proposal.region, proposal.currency) if topic in ("terms", "currency") else None
        if basis is not None:  # and what its prices include: the price book it was priced from
            facts = [*facts, *basis.facts]
        aside = currency_answer(self.catalog, proposal.region, proposal.currency, question.get("currency")) \
            if topic == "currency" else None
        facts += aside.facts if aside is not None else []
        data = answer_data(question, proposal_id=current.id, version=current.version,
                           **({"price_basis": basis.part[1]} if basis is not None and basis.part else {}))
        direct = {"data": data, "text": standing_offer_text(body, topic, basis.text if basis else "",
                                                            aside.text if aside else ""),
                  "facts": [_fact_json(f) for f in facts]}
        rec = self._record(state, "prepare", "standing_offer", started, inputs=question,
                           rule_ids=["playbook.standing_offer"],
                           **{"dealdesk.proposal.id": current.id, "dealdesk.proposal.version": current.version},
                           figures={"lines": [{"sku": i["sku"], "quantity": i["quantity"], "offer": i["unit_price"],
                                               "list": i["list_price"]} for i in body["items"]],
                                    "payment_terms": body["payment_terms"]})
        return {"direct": direct, "records": [rec]}

    def _deal_done(self, state, neg, question: dict[str, Any], started: float) -> dict[str, Any] | None:
        """A status question (or a message with no request) once the negotiation ended in a deal: the deal as it
        was booked, its figures the stored deal's own, and that another order is a new negotiation."""
        deal = self.store.deal_for_proposal(neg.current_proposal, buyer_org=neg.buyer_org,
                                            conn=self._view(state).conn) if neg.current_proposal else None
        if deal is None:
            return None
        body = deal.body
        text = (f"Deal {deal.id} is confirmed: proposal {deal.proposal_id} version {deal.version}, total "
                f"{body['total']} {deal.currency}, payment {body['payment_terms']}. {ANOTHER_ORDER}")
        rec = self._record(state, "prepare", "deal_status", started, inputs={"deal_id": deal.id},
                           rule_ids=["playbook.status"],
                           figures={"total": str(body["total"]), "currency": deal.currency})
        data = answer_data(question, deal_id=deal.id, proposal_id=deal.proposal_id, version=deal.version)
        return {"direct": {"data": data, "text": text,
                           "facts": [_fact_json(f) for f in facts_from_own_text(text, "deal")]}, "records": [rec]}

    def _awaiting(self, state, question: dict[str, Any], started: float) -> dict[str, Any] | None:
        """'Any news on the approval?' while the offer itself awaits an operator (approval-only or shadow: nothing
        stands to restate): that it does, with no figure. None for another question or nothing pending."""
        if question.get("topic") != "status" or self._view(state).pending_approval() is None:
            return None
        rec = self._record(state, "prepare", "status", started, inputs=question, rule_ids=["playbook.status"])
        return {"direct": {"data": answer_data(question, awaiting_approval=True), "text": AWAITING_APPROVAL,
                           "facts": []}, "records": [rec]}

    def _delivery_for(self, state, question: dict[str, Any], started: float) -> dict[str, Any] | None:
        """A lead-time or availability question for a quantity of one product ("can you ship 5000 x BRG-6205?"):
        answered with the checks an rfq for it would pass (order limits, the stock available to this buyer,
        the hold cap) and the lead time a proposal would state. None for any other question."""
        sku, qty = (question.get("skus") or [None])[0], question.get("quantity")
        if question.get("topic") not in ("lead_time", "availability") or not qty or sku not in self.catalog.products \
                or len(set(question.get("skus") or ())) != 1:
            return None
        desk, view = self.desk_for(state), self._view(state)
        facts = [Fact("id", sku, "question.sku"), Fact("quantity", Decimal(qty), "question.quantity")]
        try:
            surface = check_line(desk, view, Line(sku, qty, None), desk.buyer.payment_terms, view.own_holds())
        except DealdeskError as exc:
            text = f"We cannot offer {qty} x {sku} at the moment: {exc.message}."
            facts += facts_from_own_text(exc.message, "error.message")
            outcome: dict[str, Any] = {"dealdesk.error": exc.code, "dealdesk.error.field": exc.field}
            _, part = product_part(sku, quantity=qty, error=_answer_error(exc))
        else:
            current = view.current_proposal()
            offered = current is not None and current.status == "offered" and any(
                i.get("sku") == sku and str(i.get("quantity")) == str(qty) for i in current.body.get("items") or ())
            source = "made to order" if surface.made_to_order else "from stock"
            text = f"{qty} x {sku} can ship in {days(surface.lead_time_days)} {source}. "
            facts.append(Fact("days", Decimal(surface.lead_time_days), f"surface:{sku}.lead_time"))
            outcome = {"figures": {"sku": sku, "quantity": qty, "lead_time_days": surface.lead_time_days}}
            wanted = dt.date.fromisoformat(question["date"]) if question.get("date") else None
            if wanted is not None:  # "can you deliver by Friday?": whether the lead time reaches that day
                earliest = _earliest_delivery(surface.lead_time_days)
                text += f"Delivery by {wanted} is possible: the earliest is {earliest}. " if earliest <= wanted \
                    else f"We cannot deliver by {wanted}: the earliest is {earliest}. "
                facts += [Fact("date", wanted, "question.date"), Fact("date", earliest, f"surface:{sku}.lead_time")]
                outcome["figures"] |= {"date_asked": wanted.isoformat(), "earliest_delivery": earliest.isoformat()}
            text += "Our current proposal is for that quantity and states the same lead time." if offered \
                else "Ask us for a quote and the proposal confirms it."
            _, part = product_part(sku, quantity=qty, lead_time_days=surface.lead_time_days)
        rec = self._record(state, "prepare", "delivery", started, inputs=question,
                           rule_ids=["playbook.delivery_for_quantity"], **outcome)
        return {"direct": {"data": answer_data(question, products=[part]), "text": text,
                           "facts": [_fact_json(f) for f in facts]}, "records": [rec]}

    def _price_breaks(self, state, question: dict[str, Any], started: float) -> dict[str, Any] | None:
        """A price question on products no offer stands on ("what are your price breaks on BRG-6204?", "volume
        discount above 1000 units?"): their volume breaks for this buyer, priced as a first proposal would open,
        and the price for the quantity asked of one product (agent/answers.py)."""
        single = len(set(question.get("skus") or ())) == 1
        return self._product_answers(state, question, started, "price", "price_breaks",
                                     lambda desk, sku: breaks_answer(desk, sku, question.get("quantity") if single
                                                                     else None), tail=QUOTE_CONFIRMS)

    def _order_limits(self, state, question: dict[str, Any], started: float) -> dict[str, Any] | None:
        """'What is the MOQ of BRG-GRS-EP2?': each product's minimum order, order maximum and hold cap
        (agent/answers.py)."""
        return self._product_answers(state, question, started, "order_limits", "order_limits", limits_answer)

    def _terms(self, state, question: dict[str, Any], started: float) -> dict[str, Any] | None:
        """A terms question with no offer standing ("what are your payment terms?", "what warranty do you give on
        BRG-6204?"): the payment terms one may ask for and the terms every proposal states, the policy's or,
        when it names products, theirs (products on the same terms in one sentence). The default said is this
        buyer's when the terms allow it. None for another topic or a product the catalog does not have."""
        skus = self._catalog_skus(question, "terms")
        if skus is None:
            return None
        desk = self.desk_for(state)
        groups: dict[tuple[Any, ...], list[str]] = {}
        try:
            for sku in skus:
                s = desk.surface(sku, 1)
                groups.setdefault((s.allowed_terms, s.default_terms, tuple(s.non_negotiable_terms.items())), []) \
                    .append(sku)
        except DealdeskError:
            return None  # a product the desk cannot quote: the catalog answers
        if not skus:
            g = self.policy.doc.global_
            groups[(g.payment_terms.allowed, g.payment_terms.default,
                    tuple((g.non_negotiable_terms or {}).items()))] = []
        answers = [terms_answer(allowed, desk.buyer.payment_terms if desk.buyer.payment_terms in allowed else default,
                                dict(fixed), owners) for (allowed, default, fixed), owners in groups.items()]
        basis = self._price_basis(desk.buyer.region, desk.buyer.currency)
        return self._answered(state, question, started, "terms", [*answers, *([basis] if basis else [])], "groups")

    def _currency(self, state, question: dict[str, Any], started: float) -> dict[str, Any] | None:
        """'What is your price in USD?' with no offer standing: the currencies the buyer's region is quoted in, the
        one it buys in (agent/answers.py), and what its prices include. None for another topic."""
        neg = self._neg(state)
        answer = currency_answer(self.catalog, neg.region, neg.currency, question.get("currency")) \
            if question.get("topic") == "currency" else None
        if answer is None:
            return None
        basis = self._price_basis(neg.region, neg.currency)
        return self._answered(state, question, started, "currency", [answer, *([basis] if basis else [])],
                              "currency")

    def _price_basis(self, region: str, currency: str | None) -> Answered | None:
        """What the prices of the book serving `region` (in `currency`) include, in its own words; None when
        no book serves it or its description is empty."""
        book = self.catalog.book_for(region, currency)
        return price_basis_answer(book) if book is not None else None

    def _product_answers(self, state, question: dict[str, Any], started: float, topic: str, operation: str,
                         answer: Callable[[Desk, str], Answered], tail: str = "") -> dict[str, Any] | None:
        """A `topic` question answered product by product with `answer`, in one reply and one record (operation
        and rule `playbook.<operation>`); a product the desk cannot quote says why. None for another topic or a
        product the catalog does not have (the catalog answers)."""
        skus = self._catalog_skus(question, topic)
        if not skus:
            return None
        desk = self.desk_for(state)
        answers = []
        for sku in skus:
            try:
                got = answer(desk, sku)
            except DealdeskError as exc:
                got = Answered(f"We cannot quote {sku}: {exc.message}.",
                               facts_from_own_text(exc.message, "error.message"), {"error": exc.code},
                               product_part(sku, error=_answer_error(exc)))
            answers.append(Answered(got.text, [Fact("id", sku, "question.sku"), *got.facts],
                                    {"sku": sku, **got.figures}, got.part))
        # "products", not "lines": a turn's "lines" figures are the strategy's per line (agent/review.py reads them)
        return self._answered(state, question, started, operation, answers, "products", tail=tail)

    def _catalog_skus(self, question: dict[str, Any], topic: str) -> list[str] | None:
        """The question's products, each once, when it is on `topic` and the catalog has every one; else None."""
        skus = list(dict.fromkeys(question.get("skus") or ()))
        if question.get("topic") != topic or any(s not in self.catalog.products for s in skus):
            return None
        return skus

    def _answered(self, state, question: dict[str, Any], started: float, operation: str, answers: list[Answered],
                  key: str, tail: str = "") -> dict[str, Any]:
        """The direct reply of a question answered in prepare: the answers' words (and `tail`) in one text, their
        parts in one `answer` data part, their facts for the guardrail, one record (operation and rule
        `playbook.<operation>`, the figures under `key`)."""
        rec = self._record(state, "prepare", operation, started, inputs=question, rule_ids=[f"playbook.{operation}"],
                           figures={key: [a.figures for a in answers]})
        text = " ".join([*(a.text for a in answers), *([tail] if tail else [])])
        parts: dict[str, Any] = {}
        for a in answers:
            if a.part is not None:
                field, entry = a.part
                if field == "price_basis":
                    parts[field] = entry
                else:
                    parts.setdefault(field, []).append(entry)
        return {"direct": {"data": answer_data(question, **parts), "text": text,
                           "facts": [_fact_json(f) for a in answers for f in a.facts]}, "records": [rec]}

    def _current(self, state, proposal_id: str, version: int):
        current = self._view(state).proposal(proposal_id)  # None for another negotiation's proposal
        if current is None:
            raise TurnError(f"unknown proposal {proposal_id}", code="unknown_proposal", field="proposal_id")
        if version > current.version:  # as the REST API says it: no such version (yet), not a superseded one
            raise TurnError(f"proposal {proposal_id} has no version {version}", code="unknown_proposal",
                            field="version")
        if version != current.version:
            raise TurnError(f"proposal {proposal_id} is at version {current.version}", code="proposal_superseded",
                            field="version")
        return current

    def _catalog_results(self, state, msg: dict[str, Any], started: float) -> dict[str, Any]:
        if msg.get("sku"):
            product = self.catalog.products.get(msg["sku"])
            if product is None:
                raise TurnError(unknown_sku(self.catalog, msg["sku"]).message, code="unknown_sku", field="sku")
            found = [product]
        else:
            specs = [f"{k}={v}" if not v[:1] in "<>!=" else f"{k}{v}" for k, v in (msg.get("specs") or {}).items()]
            try:
                found = search(self.catalog, text=msg.get("query"), category=msg.get("category"), specs=specs,
                               limit=msg.get("limit") or 10)
            except ValueError as exc:
                raise TurnError(str(exc), code="malformed_message", field="specs") from None
        view = self._view(state)
        view.prefetch_stock(p.sku for p in found)
        products = [product_jsonld(self.catalog, p, inventory=view.available(p.sku)) for p in found]
        data = CatalogResults(products=products).model_dump(mode="json")
        names = ", ".join(p.sku for p in found)
        text = f"{len(found)} matching product(s): {names}." if found else "No matching products."
        facts = [Fact("id", p.sku, "catalog_results") for p in found] + [
            Fact("quantity", Decimal(len(found)), "catalog_results.count")]
        rec = self._record(state, "prepare", "catalog_search", started, inputs=msg,
                           **{"gen_ai.tool.name": "catalog_lookup", "dealdesk.results": [p.sku for p in found]})
        return {"direct": {"data": data, "text": text, "facts": [_fact_json(f) for f in facts]}, "records": [rec]}

    def _plan(self, state, neg, lines, terms: str, started: float, proposal_id: str | None = None) -> dict[str, Any]:
        desk = self.desk_for({**state, "terms": terms}, order=tuple((ln.sku, ln.quantity) for ln in lines))
        view = self._view(state)
        planned = plan_lines(desk, view, lines, terms, config=self.config.strategy,
                             memory_days=self.config.memory_days, now=utcnow())
        _one_set_of_fixed_terms(planned)
        figures = [{"sku": ln["sku"], "quantity": ln["quantity"], "asked": ln["asked"],
                    "list": ln["surface"]["list_price"], "target": ln["surface"]["target_price"],
                    "floor": ln["surface"]["floor_price"], "walk_away": ln["surface"]["walk_away_price"],
                    "aspiration": ln["plan"]["aspiration_price"], "round": ln["plan"]["round"],
                    "recommended": ln["plan"]["recommended"]} for ln in planned]
        if (state.get("intent") or {}).get("kind") == "counter_offer" and planned and all(
                ln["plan"]["closing"] and ln["plan"]["round"] > ln["surface"]["max_rounds"] + 1 for ln in planned):
            rec = self._record(state, "prepare", "close", started, inputs=[ln.__dict__ for ln in lines],
                               rule_ids=["strategy.max_rounds"], **{"dealdesk.close": "max_rounds"})
            current = view.current_proposal()
            stands = current if current is not None and current.status == "offered" else None
            direct = {"data": closed_message("maximum negotiation rounds reached; the last proposal stands until it "
                                             "expires", stands),
                      "text": "We have reached the maximum number of rounds. Our last proposal stands until it "
                              "expires, and you can still accept it.", "status": "closed"}
            return {"direct": direct, "records": [rec]}
        rules = sorted({r for ln in planned for m in ln["plan"]["moves"] for r in m["rule_ids"]})
        rec = self._record(state, "prepare", "plan", started, inputs={"lines": [ln.__dict__ for ln in lines],
                                                                      "terms": terms},
                           rule_ids=rules, figures={"lines": figures})
        autonomy = effective(view.switches(),
                             [(ln["sku"], self.catalog.products[ln["sku"]].category) for ln in planned])
        return {"lines": planned, "terms": terms, "records": [rec], "grants": self._grants(view), "autonomy": autonomy,
                "staged": {"proposal_id": proposal_id or neg.current_proposal or new_id("P")}}

    def _grants(self, view: TurnView) -> list[dict[str, Any]]:
        """What operators approved in this negotiation: offering it again needs no new approval."""
        out = []
        for a in view.approvals():
            if a.status not in ("approved", "edited"):
                continue
            prices = (a.decision or {}).get("prices") or {}
            out += [{"sku": m["sku"], "quantity": m["quantity"], "payment_terms": m["payment_terms"],
                     "unit_price": str(prices.get(m["sku"], m["unit_price"])), "level": a.level}
                    for m in a.requested["moves"]]
        return out

    def _prepare_accept(self, state, neg, msg: dict[str, Any], started: float) -> dict[str, Any]:
        current = self._current(state, msg["proposal_id"], msg["version"])
        if current.status == "pending_approval":
            raise TurnError(f"proposal {current.id} awaits an operator's approval and cannot be accepted yet",
                            code="approval_pending", field="proposal_id")
        if current.status != "offered":
            raise TurnError(f"proposal {current.id} is {current.status}", code="unknown_proposal",
                            field="proposal_id")
        if current.valid_until <= utcnow():
            raise TurnError(f"proposal {current.id} expired", code="proposal_expired", field="proposal_id")
        body = current.body
        deal = Deal(deal_id=new_id("D"), proposal_id=current.id, version=current.version,
                    items=[DealItem(sku=i["sku"], name=i["name"], quantity=int(i["quantity"]),
                                    unit_price=i["unit_price"], line_total=i["line_total"]) for i in body["items"]],
                    total=body["total"], currency=body["currency"], payment_terms=body["payment_terms"],
                    accepted_at=utcnow().replace(microsecond=0))
        text = (f"Deal {deal.deal_id}: proposal {current.id} version {current.version} accepted, total {deal.total} "
                f"{deal.currency}, payment {deal.payment_terms}. Thank you for your order.")
        rec = self._record(state, "prepare", "accept", started, inputs=msg,
                           figures={"total": str(deal.total), "currency": deal.currency})
        return {"direct": {"data": deal.model_dump(mode="json"), "text": text, "accept": True,
                           "accepted": body}, "records": [rec]}

    def _deal_again(self, state, neg, msg: dict[str, Any], started: float) -> dict[str, Any] | None:
        """An acceptance of the very version this negotiation's deal was made on: the same deal again, as the
        first acceptance answered it (a retry, or the loser of two acceptances sent at once over REST and A2A,
        must not read "negotiation closed" and think there is no deal). Nothing is written but the turn."""
        deal = self.store.deal_for_proposal(msg.get("proposal_id") or "", buyer_org=neg.buyer_org,
                                            conn=self._view(state).conn)
        if deal is None or deal.negotiation_id != neg.id or deal.version != msg.get("version"):
            return None
        proposal = self._view(state).proposal(deal.proposal_id)
        accepted = self.store.get_proposal(deal.proposal_id, deal.version, conn=self._view(state).conn)
        rec = self._record(state, "prepare", "accept_again", started, inputs=msg,
                           **{"dealdesk.deal.id": deal.id,
                              "dealdesk.deal.latest_version": proposal and proposal.version})
        return {"direct": {"data": deal.body, "text": f"Deal {deal.id} stands: proposal {deal.proposal_id} version "
                                                      f"{deal.version} was accepted already.",
                           "accepted": accepted.body if accepted is not None else None},
                "records": [rec]}

    def _prepare_operator(self, state, op: dict[str, Any], started: float) -> dict[str, Any]:
        view = self._view(state)
        approval = self.store.get_approval(op["approval_id"], conn=view.conn)
        assert approval is not None and approval.negotiation_id == view.negotiation.id
        neg = view.negotiation
        requested = [move_of(m) for m in approval.requested["moves"]]
        decision = op["decision"]
        base = {"operator": {"approval_id": approval.id, "decision": decision, "by": op.get("by"),
                             "level": approval.level}}
        if neg.status != "open":
            direct = {"data": None, "text": "", "silent": True}
            rec = self._record(state, "prepare", "operator_decision", started, inputs=op,
                               **{"dealdesk.approval.id": approval.id, "dealdesk.approval.outcome": "moot",
                                  "dealdesk.negotiation.status": neg.status})
            return {"direct": direct, "records": [rec], **base}
        terms = requested[0].payment_terms
        desk = self.desk_for({**state, "terms": terms}, order=tuple((m.sku, m.quantity) for m in requested))
        if decision == "rejected":
            moves = []
        elif decision == "edited":
            moves = self.edited_moves(approval, op.get("prices") or {}, by=op.get("by"))
        else:
            moves = requested
        moves = self._no_worse_than_offered(view, desk, moves)
        rec = self._record(state, "prepare", "operator_decision", started, inputs=op,
                           **{"dealdesk.approval.id": approval.id, "dealdesk.approval.outcome": decision,
                              "dealdesk.approval.by": op.get("by"), "dealdesk.approval.level": approval.level})
        if not moves:  # rejected: the standing offer stays, re-sent as a new version without `pending`
            current = view.current_proposal()
            if current is not None and current.status == "pending_approval":  # nothing stood: say so, free the stock
                text = (f"Proposal {current.id} was not approved, so we cannot make that offer. You are welcome to "
                        "send a new request.")
                direct = {"data": error_message(TurnError(text, code="no_valid_offer", field="proposal_id")),
                          "text": text, "withdraw": {"proposal_id": current.id, "version": current.version},
                          "facts": [_fact_json(f) for f in facts_from_own_text(text, "operator.rejected")]}
                return {"direct": direct, "records": [rec], **base}
            if current is None or current.status != "offered":
                return {"direct": {"data": None, "text": "", "silent": True}, "records": [rec], **base}
            moves = []
            for item in current.body["items"]:
                surface = desk.surface(item["sku"], int(item["quantity"]), terms)
                again = make_move(surface, 0, "hold", Decimal(item["unit_price"]), ["operator.rejected", approval.id],
                                  "the standing offer stays")
                if again is None:
                    raise TurnError("the standing offer is no longer valid", code="no_valid_offer")
                moves.append(again)
            granted = max((m.approval_level for m in moves), key=lambda n: [lv.name for lv in surface.levels].index(n)
                          if n in [lv.name for lv in surface.levels] else 99)
        else:
            granted = approval.level
        lines = [{"sku": m.sku, "quantity": m.quantity, "asked": None, "surface": None,
                  "plan": {"moves": [m.model_dump(mode="json")], "recommended": m.id, "standing": None,
                           "closing": False, "offered_before": True}} for m in moves]
        staged = {"proposal_id": neg.current_proposal, "moves": [m.model_dump(mode="json") for m in moves],
                  "requested": [], "alternatives": [], "level": granted, "needs_approval": False,
                  "granted_level": granted, "reasons": []}
        return {"lines": lines, "terms": terms, "staged": staged, "records": [rec], **base}

    @staticmethod
    def _no_worse_than_offered(view: TurnView, desk: Desk, moves: list[Move]) -> list[Move]:
        """An approved (or edited) request, each line at the lower of its price and the price the offer standing
        gives the same line (SKU, quantity, terms): a request filed for one line's sake keeps the other lines'
        prices from its own turn, and the buyer may hold a better one since (approving sent 2.99 for a line the
        standing offer gave at 2.95)."""
        current = view.current_proposal()
        if not moves or current is None or current.status != "offered" or current.payment_terms != \
                moves[0].payment_terms:
            return moves
        offered = {(i["sku"], int(i["quantity"])): Decimal(i["unit_price"]) for i in current.body.get("items") or ()}
        out = []
        for m in moves:
            price = offered.get((m.sku, m.quantity))
            kept = None
            if price is not None and price < m.unit_price:
                kept = make_move(desk.surface(m.sku, m.quantity, m.payment_terms), 0, "hold", price,
                                 ["operator.standing_line_price"], "the offer standing already gives this line")
            out.append(kept or m)
        return out

    def edited_moves(self, approval, prices: dict[str, str], *, by: str | None) -> list[Move]:
        """An operator's edited prices as moves; refused unless each is within the approval's level.

        An edit may only move a price up from the requested one (less discount), or keep it.
        """
        neg = self.store.get_negotiation(approval.negotiation_id)
        assert neg is not None
        requested = [move_of(m) for m in approval.requested["moves"]]
        terms = requested[0].payment_terms
        desk = self.desk_for({"negotiation_id": neg.id, "terms": terms}, order=tuple((m.sku, m.quantity)
                                                                                      for m in requested))
        unknown = sorted(set(prices) - {m.sku for m in requested})
        if unknown:
            raise TurnError(f"the approval has no line for {', '.join(unknown)}", code="malformed_message",
                            field=f"prices.{unknown[0]}")
        moves = []
        for m in requested:
            surface = desk.surface(m.sku, m.quantity, terms)
            step = quantum(surface.currency)
            try:
                price = Decimal(str(prices.get(m.sku, m.unit_price)))
                exact = price.is_finite() and price >= 0 and price == price.quantize(step)
            except ArithmeticError:
                exact = False
            if not exact:  # money on the wire is in the currency's minor unit: "280.20", never "280.2" or "280.123"
                raise TurnError(f"{m.sku}: {prices[m.sku]!r} is not a price in {surface.currency} (at most "
                                f"{-step.as_tuple().exponent} decimals)", code="malformed_message",
                                field=f"prices.{m.sku}")
            price = price.quantize(step)
            if price > surface.list_price:
                raise TurnError(f"{m.sku}: {price} is above the list price {surface.list_price}; an edit may take "
                                "the discount away, not price above list", code="policy_refused",
                                field=f"prices.{m.sku}")
            if price < m.unit_price:
                raise TurnError(f"{m.sku}: an edit may only raise the requested price {m.unit_price} (less "
                                f"discount), not lower it to {price}", code="policy_refused", field=f"prices.{m.sku}")
            edited = make_move(surface, 0, "concede", price, ["operator.edit", approval.id], f"edited by {by}")
            level_names = [lv.name for lv in surface.levels]
            if edited is None or (edited.approval_level in level_names and approval.level in level_names and
                                  level_names.index(edited.approval_level) > level_names.index(approval.level)):
                raise TurnError(f"{m.sku}: {price} is beyond what level {approval.level} may approve",
                                code="policy_refused", field=f"prices.{m.sku}")
            moves.append(edited)
        return moves

    def agent(self, state: TurnState) -> Command:
        """The reply's words and tool calls; routes to the tools while it calls any, else to the guardrail."""
        started = time.perf_counter()
        if state.get("direct") or (state.get("intent") or {}).get("kind") == "operator":
            return Command(goto="guardrail")
        brief = self._brief(state)
        intent = state.get("intent") or {}
        if intent.get("source") == "data":
            message = respond(brief, tool_results(state["messages"]))
            calls = 0
        else:
            prompt = [SystemMessage(content=load_prompt("seller_system").text + "\n" + render_brief(brief)),
                      *self._earlier(state), *state["messages"]]
            message = self.bound_model.invoke(prompt)
            # A resilient model says how many requests reached the server (0 for a step it did locally).
            calls = int((message.response_metadata or {}).get("dealdesk_model_calls", 1))
        usage = getattr(message, "usage_metadata", None) or {}
        rec = self._record(state, "agent", "chat", started, inputs=brief,
                           **{"dealdesk.model_calls": calls, "gen_ai.usage.input_tokens": usage.get("input_tokens"),
                              "gen_ai.usage.output_tokens": usage.get("output_tokens"),
                              "dealdesk.tool_calls": [c["name"] for c in message.tool_calls] or None,
                              "dealdesk.model.fallback": (message.response_metadata or {}).get("dealdesk_fallback"),
                              "dealdesk.model.fallback_reason": (message.response_metadata or {}).get("reason"),
                              "dealdesk.model.local": (message.response_metadata or {}).get("dealdesk_local")})
        return Command(goto="tools" if message.tool_calls else "guardrail", update={
            "messages": [message], "model_calls": state.get("model_calls", 0) + calls, "records": [rec]})

    def _brief(self, state: TurnState) -> dict[str, Any]:
        lines = [{"sku": ln["sku"], "quantity": ln["quantity"], "asked": ln["asked"],
                  "plan": {k: ln["plan"][k] for k in ("recommended", "standing", "closing", "offered_before", "moves")}}
                 for ln in state.get("lines") or []]
        return {"intent": state.get("intent"), "lines": lines, "feedback": state.get("feedback") or []}

    def guardrail(self, state: TurnState) -> Command:
        """The verdict on the outgoing draft; routes to approval when it passes, else to a revision or
        the fallback (`next_after_guardrail`)."""
        started = time.perf_counter()
        draft = self._draft(state)
        if draft.get("silent"):
            return Command(goto="approval", update={"draft": draft})
        ctx = self._guard_context(state, draft)
        verdict = check_message(draft.get("data"), draft.get("text", ""), ctx)
        if "model_data" in draft and not _same_message(draft["model_data"], draft["built"]):
            verdict = Verdict(tripwire=True, checks=[*verdict.checks, "provenance"], violations=[
                *verdict.violations,
                Violation(rule_id="guardrail.provenance", code="unstaged_data",
                          message="the data part differs from the one the seller built from the submitted moves "
                                  "(a model may only send the staged proposal)", field="data")])
        if self._offer_missing(state, draft):
            verdict = Verdict(tripwire=True, checks=[*verdict.checks, "offer_attached"], violations=[
                *verdict.violations,
                Violation(rule_id="guardrail.offer_attached", code="no_offer_attached",
                          message="the buyer asked for an offer and none is attached: words alone offer nothing; "
                                  "call submit_proposal with a move id from the brief", field="data")])
        update: dict[str, Any] = {"draft": draft}
        attrs = {"gen_ai.guardrail.name": "dealdesk.guardrail", "gen_ai.guardrail.tripwire": verdict.tripwire,
                 "gen_ai.guardrail.violations": [v.model_dump() for v in verdict.violations] or None,
                 "dealdesk.draft": draft if verdict.tripwire else None}
        rec = self._record(state, "guardrail", "guardrail", started, inputs=draft,
                           rule_ids=[v.rule_id for v in verdict.violations], **attrs)
        update["records"] = [rec]
        if verdict.tripwire:
            update["feedback"] = [_feedback(v) for v in verdict.violations]
        return Command(goto=self.next_after_guardrail(state, verdict.tripwire), update=update)

    def _offer_missing(self, state: TurnState, draft: dict[str, Any]) -> bool:
        """A language model's words on a turn that asks for an offer (an rfq or a counter-offer, each line with
        the strategy's recommended move) with no proposal staged or attached: whatever they claim, nothing
        would be on offer ("Here is our offer." after a refused move id). The offline playbook's own words
        (an apology for an offer the policy refused) and structured turns are not a model's."""
        intent = state.get("intent") or {}
        lines = state.get("lines") or []
        if isinstance(self.model, OfflineModel) or intent.get("source") == "data" or state.get("direct"):
            return False
        if draft.get("staged") or (draft.get("data") or {}).get("type") == "proposal":
            return False
        if intent.get("kind") not in ("rfq", "counter_offer"):
            # Another turn (a question): words that hand over an offer ("Here is our offer.") when none was ever
            # made in this negotiation offer nothing; a price answered in words ("our price is ...") is no claim.
            if not _HANDS_OVER_AN_OFFER.search(draft.get("text") or "") \
                    or self._view(state).current_proposal() is not None:
                return False
        elif not lines or not all(ln["plan"].get("recommended") for ln in lines):
            return False
        elif not _CLAIMS_AN_OFFER.search(draft.get("text") or ""):
            return False  # a question back ("the 2RS or the ZZ version?") claims nothing: the buyer may answer it
        final = next((m for m in reversed(turn_messages(state["messages"])) if isinstance(m, AIMessage)), None)
        meta = (final.response_metadata or {}) if final is not None else {}
        return not (meta.get(FALLBACK_KEY) or meta.get(LOCAL_KEY) == "playbook")

    def _draft(self, state: TurnState) -> dict[str, Any]:
        if state.get("direct"):
            return dict(state["direct"])
        staged = self._staged(state)
        final = next((m for m in reversed(turn_messages(state["messages"])) if isinstance(m, AIMessage)), None)
        text = _text_of(final)
        model_data = _data_block(final)
        if staged and staged.get("moves"):
            kept = self._kept_offer(state, staged)
            if kept is not None:
                return kept
            built = self._proposal_from(state, staged).model_dump(mode="json")
            if staged.get("shadow"):  # the bot drafts, an operator sends: the buyer hears only this
                return {"data": None, "text": SHADOW_TEXT, "staged": staged, "hidden": built}
            # An offer awaiting approval is only ever shown as the seller built it.
            data = (None if staged.get("awaiting") else model_data) or built
            lead = _lead(state, staged, built, self._view(state).current_proposal())
            asked = self._asked_delivery(state)
            late = sorted({i["delivery_date"] for i in built["items"] if i.get("delivery_date") and asked
                           and i["delivery_date"] != asked.isoformat()})
            if late:  # the date asked for is sooner than a line's lead time allows: say the earliest
                lead = f"We cannot deliver by {asked}: the earliest is {late[-1]}. {lead}".strip()
            return {"data": data, "text": text or offer_text(built, lead=lead), "staged": staged,
                    **({"facts": [_fact_json(Fact("date", asked, "rfq.delivery_date"))]} if late else {}),
                    **({"model_data": model_data, "built": built} if data is model_data else {})}
        if model_data is None:
            model_data = self._catalog_answer(state)
            if model_data is not None:  # the seller's own, from the turn's tool results: no provenance check
                return {"data": model_data, "text": text or SCHEMA_HINT}
        return {"data": model_data, "text": text or SCHEMA_HINT,
                **({"model_data": model_data, "built": None} if model_data is not None else {})}

    def _kept_offer(self, state: TurnState, staged: dict[str, Any]) -> dict[str, Any] | None:
        """An offer that must await an operator (autonomy paused, or nothing within the bot's authority) while the
        current version, for the same lines and terms, may still be accepted: that version stands as it is (no new
        version supersedes it) and the request is filed for an operator beside it. Superseding it would take from
        the buyer an offer they may accept, in shadow mode for a version they never saw; an operator's approval
        then sends the requested offer as the next version, a rejection leaves this one standing."""
        if not staged.get("awaiting") or (state.get("intent") or {}).get("kind") == "operator":
            return None
        view = self._view(state)
        current = view.current_proposal()
        if current is None or current.status != "offered" or current.valid_until <= utcnow():
            return None
        moves = [move_of(m) for m in staged["moves"]]
        items = current.body.get("items") or []
        if current.payment_terms != moves[0].payment_terms or \
                sorted((i["sku"], int(i["quantity"])) for i in items) != sorted((m.sku, m.quantity) for m in moves):
            return None
        prices = {i["sku"]: Decimal(i["unit_price"]) for i in items}
        kept = {**staged, "kept": {"proposal_id": current.id, "version": current.version}}
        pending = view.pending_approval()
        if all(m.unit_price >= prices[m.sku] for m in moves):  # nothing better than what stands: nothing to ask
            kept["requested"] = []
        elif pending is not None:
            filed = [move_of(m) for m in pending.requested["moves"]]
            if _request_stands(filed, moves, False, state):
                kept["requested"] = []  # what awaits approval already is better for the buyer on some line
            else:  # as good or better on every line, or for other lines: the newest request replaces it
                kept["supersedes_approval"] = pending.id
        if staged.get("shadow"):
            return {"data": None, "text": f"{SHADOW_TEXT} {KEPT_SHADOW_TEXT}", "staged": kept, "resend": True,
                    "accepted": current.body}
        data = current.body
        if kept["requested"]:  # the standing version as it is, and beside it what now awaits approval
            data = {**data, "pending": pending_of(moves, utcnow().replace(microsecond=0)).model_dump(mode="json")}
        elif pending is not None and not kept.get("supersedes_approval"):
            data = {**data, "pending": pending_of([move_of(m) for m in pending.requested["moves"]],
                                                  pending.requested_at.replace(microsecond=0)).model_dump(mode="json")}
        return {"data": data, "text": offer_text(data), "staged": kept, "resend": True, "accepted": current.body}

    def _catalog_answer(self, state: TurnState) -> dict[str, Any] | None:
        """A bot's structured spec, compatibility, availability or lead-time question, answered from the catalog
        through the tools (`catalog_lookup`): the same figures as the words, as an `answer` data part. None for
        anything else (a text question keeps its words only)."""
        intent = state.get("intent") or {}
        question = intent.get("question") or {}
        topic = question.get("topic")
        if intent.get("source") != "data" or intent.get("kind") != "question" or \
                topic not in ("spec", "compatibility", "availability", "lead_time"):
            return None
        found = {p["sku"]: p for m in turn_messages(state["messages"])  # the lookups' results, as the tool built them
                 if isinstance(m, ToolMessage) and m.name == "catalog_lookup" and isinstance(m.artifact, dict)
                 and m.artifact.get("ok") for p in m.artifact.get("products") or ()}
        products = []
        for sku in question.get("skus") or ():
            p = found.get(sku)
            if p is None:
                continue
            if topic == "spec":
                specs = p.get("specs") or {}
                named = question.get("spec")
                products.append({"sku": sku, "specs": {named: specs[named]} if named in specs else specs})
            elif topic == "compatibility":
                products.append({"sku": sku, "compatible": p.get("compatible") or [],
                                 "related": p.get("related") or []})
            else:
                products.append({"sku": sku, "lead_time_days": p["lead_time_days"]})
        return answer_data(question, products=[ProductAnswer(**x).model_dump(mode="json", exclude_none=True)
                                               for x in products]) if products else None

    def _staged(self, state: TurnState) -> dict[str, Any] | None:
        staged = dict(state.get("staged") or {})
        for m in turn_messages(state["messages"]):
            if isinstance(m, ToolMessage) and m.name == "submit_proposal" and isinstance(m.artifact, dict) \
                    and m.artifact.get("ok"):
                staged.update(m.artifact["staged"])
        return staged or None

    def _proposal_from(self, state: TurnState, staged: dict[str, Any]) -> Proposal:
        moves = [move_of(m) for m in staged["moves"]]
        requested = [move_of(m) for m in staged.get("requested") or []]
        alternatives = [move_of(m) for m in staged.get("alternatives") or []]
        neg = self._neg(state)
        view = self._view(state)
        desk = self.desk_for({**state, "terms": moves[0].payment_terms})
        surfaces = [desk.surface(m.sku, m.quantity, m.payment_terms) for m in moves]
        pid = staged.get("proposal_id") or neg.current_proposal
        latest = view.proposal(pid)
        names = {m.sku: self.catalog.products[m.sku].name for m in [*moves, *requested, *alternatives]}
        pending = view.pending_approval()
        pend_moves = requested
        since = None
        if pending is not None and (state.get("intent") or {}).get("kind") != "operator":
            filed = [move_of(m) for m in pending.requested["moves"]]
            if _request_stands(filed, moves, bool(staged.get("awaiting")), state):
                # What awaits approval is the filed request, even when this turn asked for another one.
                pend_moves = filed
                since = pending.requested_at.replace(microsecond=0)
            else:  # moot or out of date: this turn's offer (and its own request, if any) replaces it
                staged["supersedes_approval"] = pending.id
        dates = self._delivery_dates(state, moves)
        return build_proposal(proposal_id=pid, version=(latest.version + 1) if latest else 1, moves=moves,
                              names=names, region=neg.region, terms=surfaces[0].non_negotiable_terms,
                              valid_until=valid_until(utcnow(), surfaces), alternatives=alternatives,
                              pending=pend_moves, pending_since=since or utcnow().replace(microsecond=0),
                              awaiting=bool(staged.get("awaiting")), delivery_dates=dates)

    def _asked_delivery(self, state: TurnState) -> dt.date | None:
        """The delivery date this turn's rfq asks for, if any."""
        intent = state.get("intent") or {}
        asked = (intent.get("message") or {}).get("delivery_date") if intent.get("kind") == "rfq" else None
        return dt.date.fromisoformat(asked) if asked else None

    def _delivery_dates(self, state: TurnState, moves: list[Move]) -> dict[str, dt.date]:
        """Each line's delivery date when the buyer asked for one: the date asked (an rfq's, or the one the
        proposal before promised for that product) or, when the lead time does not reach it, the earliest the
        lead time allows. No date asked: none promised (the lead time is stated)."""
        asked = self._asked_delivery(state)
        if asked is not None:
            wanted = {m.sku: asked for m in moves}
        else:
            current = self._view(state).current_proposal()
            wanted = {i["sku"]: dt.date.fromisoformat(i["delivery_date"]) for i in (current.body.get("items") or ())
                      if i.get("delivery_date")} if current is not None else {}
        return {m.sku: max(wanted[m.sku], _earliest_delivery(m.lead_time_days)) for m in moves if m.sku in wanted}

    def _guard_context(self, state: TurnState, draft: dict[str, Any]) -> GuardContext:
        neg = self._neg(state)
        moves = list(round_moves(state).values())
        staged = draft.get("staged") or {}
        for key in ("moves", "requested", "alternatives"):
            moves += [move_of(m) for m in staged.get(key) or []]
        view = self._view(state)
        pending = view.pending_approval()
        if pending is not None:
            moves += [move_of(m) for m in pending.requested["moves"]]
        granted = staged.get("granted_level")
        terms = state.get("terms")
        desk = self.desk_for({**state, "terms": terms})
        own = view.own_holds()
        available = {ln["sku"]: view.available(ln["sku"]) + own.get(ln["sku"], 0)
                     for ln in state.get("lines") or [] if not self._made_to_order(ln["sku"])}
        facts = [_fact_from_json(f) for f in draft.get("facts") or []] + self._tool_facts(state)
        in_play = []
        for ln in state.get("lines") or []:
            try:
                in_play.append(desk.surface(ln["sku"], ln["quantity"], terms))
            except DealdeskError:
                pass
        accepted = Proposal.model_validate(draft["accepted"]) if draft.get("accepted") else None
        return GuardContext(region=neg.region, currency=neg.currency, surface_for=desk.surface, moves=moves,
                            granted_level=granted, available=available, now=utcnow(), tool_facts=facts,
                            accepted=accepted, in_play=in_play)

    def _tool_facts(self, state: TurnState) -> list[Fact]:
        facts: list[Fact] = []
        calls = {c["id"]: c for m in turn_messages(state["messages"]) if isinstance(m, AIMessage) for c in m.tool_calls}
        for m in turn_messages(state["messages"]):
            if not isinstance(m, ToolMessage) or not isinstance(m.artifact, dict) or not m.artifact.get("ok"):
                continue
            if m.artifact.get("tool") == "catalog_lookup" and not m.artifact.get("products"):
                # a search that found nothing: its reply may say what it searched for (each spec filter's value)
                for spec in (calls.get(m.tool_call_id) or {}).get("args", {}).get("specs") or ():
                    facts.append(Fact("spec", re.split(r"!=|>=|<=|=|>|<", str(spec), maxsplit=1)[-1].strip(),
                                      "tool:catalog_lookup.searched"))
            for p in m.artifact.get("products") or []:
                facts.append(Fact("id", p["sku"], f"tool:catalog_lookup:{p['sku']}"))
                facts.append(Fact("days", Decimal(p["lead_time_days"]), f"tool:catalog_lookup:{p['sku']}.lead_time"))
                for k, v in p["specs"].items():
                    facts.append(Fact("spec", v, f"tool:catalog_lookup:{p['sku']}.{k}"))
                    try:
                        facts.append(Fact("number", Decimal(v), f"tool:catalog_lookup:{p['sku']}.{k}"))
                    except ArithmeticError:
                        pass
            if m.artifact.get("tool") == "calculate_price":
                a = m.artifact
                facts += [Fact("money", Decimal(a["unit_price"]), "tool:calculate_price.unit_price", a["currency"]),
                          Fact("money", Decimal(a["line_total"]), "tool:calculate_price.line_total", a["currency"]),
                          Fact("quantity", Decimal(a["quantity"]), "tool:calculate_price.quantity"),
                          Fact("days", Decimal(a["lead_time_days"]), "tool:calculate_price.lead_time")]
        return facts

    def next_after_guardrail(self, state: TurnState, tripwire: bool) -> str:
        if not tripwire:
            return "approval"
        intent = state.get("intent") or {}
        if intent.get("source") in ("offline", "model") and not state.get("direct") \
                and state.get("revisions", 0) < self.config.max_revisions:
            return "revise"
        return "fallback"

    def revise(self, state: TurnState) -> dict[str, Any]:
        """Another try for the model; the violations reach it through the brief's `feedback`."""
        return {"revisions": state.get("revisions", 0) + 1}

    def fallback(self, state: TurnState) -> dict[str, Any]:
        """After the allowed revisions: a safe deterministic reply: the offer the model staged, else the offline
        playbook's offer for this turn or its answer to a question (`_playbook_reply`), else the standing offer,
        else the schema hint."""
        started = time.perf_counter()
        candidates: list[dict[str, Any]] = []
        staged = self._staged(state)
        current = self._view(state).current_proposal()
        steps: list[BaseMessage] = []
        if staged and staged.get("moves"):
            proposal = self._proposal_from(state, staged).model_dump(mode="json")
            lead = _lead(state, staged, proposal, current)
            candidates.append({"data": None, "text": SHADOW_TEXT, "staged": staged, "hidden": proposal}
                              if staged.get("shadow") else {"data": proposal, "staged": staged,
                                                            "text": offer_text(proposal, lead=lead)})
        else:
            offered = self._playbook_reply(state)
            if offered is not None:
                steps, draft = offered
                candidates.append(draft)
        if current is not None and current.status == "offered":
            candidates.append({"data": current.body, "text": offer_text(current.body), "resend": True,
                               "accepted": current.body})
        candidates.append({"data": None, "text": "I can help with product questions, quotes and negotiation. "
                           + SCHEMA_HINT})
        draft = candidates[-1]
        for candidate in candidates:
            # the playbook's candidate is checked with its own lookups' results as this turn's tool facts
            seen = {**state, "messages": [*state["messages"], *steps]} if steps and candidate is candidates[0] \
                else state
            if check_message(candidate.get("data"), candidate["text"], self._guard_context(seen, candidate)).passed:
                draft = candidate
                break
        rec = self._record(state, "guardrail", "fallback", started, inputs=draft,
                           **{"gen_ai.guardrail.name": "dealdesk.guardrail", "dealdesk.fallback": True,
                              "gen_ai.guardrail.tripwire": False})
        update: dict[str, Any] = {"draft": draft, "records": [rec]}
        if steps and draft is candidates[0]:  # the playbook's tool call and its result, in the turn's messages
            update["messages"] = steps
        return update

    def _playbook_reply(self, state: TurnState) -> tuple[list[BaseMessage], dict[str, Any]] | None:
        """What the offline playbook says on this turn, through the same tools: on an rfq or a counter-offer its
        `submit_proposal` with the strategy's recommended moves (None unless the offer is staged), on a question
        or a catalog query its own lookups and its words around their results. Its tool calls and results, and
        the draft built as any turn's (`_draft`); None for anything else."""
        kind = (state.get("intent") or {}).get("kind")
        offering = kind in ("rfq", "counter_offer")
        if state.get("direct") or not (offering or kind in ("question", "catalog_query")):
            return None
        brief = self._brief(state)
        steps: list[BaseMessage] = []
        results: list[dict[str, Any]] = []
        for _ in range(3):
            step = respond(brief, results)
            if not step.tool_calls:
                break
            call = step.tool_calls[0]
            if call["name"] != ("submit_proposal" if offering else "catalog_lookup"):
                return None
            result = ToolCalls(self.tools).run(call, state)
            if offering and not (isinstance(result.artifact, dict) and result.artifact.get("ok")):
                return None
            steps += [AIMessage(content="", tool_calls=[call]), result]
            results += tool_results([result])
        else:
            return None
        if not (offering or step.content):
            return None
        draft = self._draft({**state, "messages": [*state["messages"], *steps, AIMessage(content=step.content)]})
        return None if offering and not draft.get("staged") else (steps, draft)

    def approval(self, state: TurnState) -> dict[str, Any]:
        started = time.perf_counter()
        draft = state.get("draft") or {}
        staged = draft.get("staged") or {}
        pending = self._view(state).pending_approval()
        superseded = pending is not None and staged.get("supersedes_approval") == pending.id
        if superseded and staged.get("requested") and _same_moves(pending.requested["moves"], staged["requested"]):
            superseded = False  # the same request again (a repeated rfq): the one filed stands, under its own id
        if superseded:  # canceled in the commit's transaction, before this turn's own request is filed
            draft = {**draft, "cancel_approval": pending.id}
        if not staged.get("requested"):
            if not superseded:
                return {}
            rec = self._record(state, "approval", "route", started, inputs={"approval_id": pending.id},
                               **{"dealdesk.approval.routing": "superseded", "dealdesk.approval.id": pending.id})
            return {"records": [rec], "draft": draft}
        if pending is not None and not superseded:
            rec = self._record(state, "approval", "route", started, inputs=staged["requested"],
                               **{"dealdesk.approval.routing": "already_pending"})
            return {"records": [rec], "draft": {**draft, "approval": None}}
        request = {"moves": staged["requested"], "level": staged["level"], "reasons": staged["reasons"],
                   "limits": self._limits(state, staged["requested"])}
        rec = self._record(state, "approval", "route", started, inputs=request,
                           rule_ids=[r["rule_id"] for r in staged["reasons"]],
                           **{"dealdesk.approval.routing": "operator", "dealdesk.approval.level": staged["level"]},
                           figures={"requested": [{"sku": m["sku"], "unit_price": m["unit_price"],
                                                   "discount_percent": m["discount_percent"]}
                                                  for m in staged["requested"]]})
        return {"records": [rec], "draft": {**draft, "approval": request}}

    def _limits(self, state: TurnState, requested: list[dict[str, Any]]) -> dict[str, Any]:
        """The limits an approval request crossed, as they stood when it was filed (an operator reads them with the
        request; today's policy may say otherwise): for each line the bot's own authority (the discount and the
        price it may go to alone) and the line's level's; the deal value and the most the bot may close alone."""
        if not requested:
            return {}
        terms = requested[0]["payment_terms"]
        desk = self.desk_for({**state, "terms": terms}, order=tuple((m["sku"], int(m["quantity"])) for m in requested))
        lines, value, cap, currency = [], Decimal(0), None, None
        for m in requested:
            s = desk.surface(m["sku"], int(m["quantity"]), terms)
            own = s.levels[0]
            level = next((lv for lv in s.levels if lv.name == m.get("approval_level")), None)
            lines.append({"sku": m["sku"], "auto_max_discount_percent": str(own.max_discount_percent),
                          "auto_min_unit_price": str(own.min_unit_price),
                          **({"level": level.name, "level_max_discount_percent": str(level.max_discount_percent),
                              "level_min_unit_price": str(level.min_unit_price)} if level is not None else {})})
            value += Decimal(str(m["unit_price"])) * int(m["quantity"])
            cap, currency = s.autonomy_max_deal_value if cap is None else cap, s.currency
        return {"lines": lines, "deal_value": str(value), "currency": currency,
                "autonomy_max_deal_value": None if cap is None else str(cap)}

    def commit(self, state: TurnState) -> dict[str, Any]:
        """The turn's one write transaction. The turn's reads are over: the view's connection goes back
        to the pool first, so a turn never holds two (many concurrent turns cannot starve the pool)."""
        key = self._turn_key(state)
        view = self._views.get(key)
        if view is not None:
            view.close()
        try:
            return self._commit(state)
        finally:
            self.close_turn(key)

    def _commit(self, state: TurnState) -> dict[str, Any]:
        started = time.perf_counter()
        draft = dict(state.get("draft") or {})
        neg = self._neg(state)
        data = draft.get("data")
        rec = self._record(state, "commit", "commit", started, inputs=data,
                           **{"dealdesk.outgoing.type": (data or {}).get("type")})
        records = [*(state.get("records") or []), rec]
        calls = state.get("model_calls", 0)
        if draft.get("silent"):
            self.store.add_records(records)
            return {"history": messages_to_dict(state["messages"]), "records": [rec],
                    "outcome": {"outgoing": None, "model_calls": calls, "records": records}}
        turn, org = state["turn"], neg.buyer_org
        buyer_events = self._buyer_events(state)
        try:
            if draft.get("accept"):
                deal = data
                self.store.accept(proposal_id=deal["proposal_id"], version=deal["version"], buyer_org=org,
                                  made_to_order={i["sku"] for i in deal["items"] if self._made_to_order(i["sku"])},
                                  accepted_at=naive_utc(dt.datetime.fromisoformat(deal["accepted_at"])),
                                  deal_id=deal["deal_id"], deal_body_for=lambda _id, _at: deal, records=records,
                                  now=utcnow(), events=(turn, [{"side": "buyer", "kind": "accept", "sku": i["sku"],
                                                                "quantity": int(i["quantity"])}
                                                               for i in deal["items"]]))
            elif (draft.get("staged") or {}).get("kept"):  # the current version stands; the request beside it
                self.store.record_turn(neg.id, org, turn, events=buyer_events, records=records,
                                       approval=draft.get("approval"), cancel_approval=draft.get("cancel_approval"),
                                       proposal_id=draft["staged"]["kept"]["proposal_id"])
            elif draft.get("staged") and draft.get("hidden"):  # shadow: kept for the operator, not sent
                rec[STORED_DIGEST] = digest(draft["hidden"])  # what is stored, for `audit verify` (not the words)
                self._commit_proposal(state, neg, {**draft, "data": draft["hidden"]}, buyer_events, records)
            elif draft.get("staged") and data and data.get("type") == "proposal" and not draft.get("resend"):
                self._commit_proposal(state, neg, draft, buyer_events, records)
            elif draft.get("withdraw"):
                w = draft["withdraw"]
                self.store.set_proposal_status(w["proposal_id"], w["version"], "rejected", release_holds=True,
                                               records=records)
            elif draft.get("status") in ("rejected", "canceled"):  # nothing stays on offer or held
                self.store.end_negotiation(neg.id, draft["status"], release=True, events=(turn, buyer_events),
                                           records=records)
            else:
                self.store.record_turn(neg.id, org, turn, status=draft.get("status"), events=buyer_events,
                                       records=records)
        except DealdeskError as exc:  # lost a race for stock, or the proposal moved on: tell the buyer
            err = {"data": error_message(exc), "text": exc.message}
            self.store.add_records([*records, self._record(state, "commit", "commit_failed", started, inputs=data,
                                                           **{"dealdesk.error": exc.code})])
            draft = err
        outgoing = {"data": draft.get("data"), "text": draft.get("text", "")}
        # what later text may refer to (agent/topic.py), keeping a quantity named before for the same product
        said_about = turn_topic(state.get("intent"), self.catalog.products, _found(state["messages"]))
        if said_about and any(t["quantity"] is None for t in said_about):
            said_about = with_quantities(said_about, last_topic(state.get("history") or []))
        reply = AIMessage(content=outgoing["text"], name="seller", additional_kwargs={
            "data": outgoing["data"], **({"topic": said_about} if said_about else {})})
        return {"messages": [reply], "history": messages_to_dict([*state["messages"], reply]), "records": [rec],
                "outcome": {"outgoing": outgoing, "model_calls": calls, "records": records}}

    def _buyer_events(self, state: TurnState) -> list[dict[str, Any]]:
        out = []
        for ln in state.get("lines") or []:
            if ln.get("surface") is None:
                continue
            kind = (state.get("intent") or {}).get("kind")
            out.append({"side": "buyer", "kind": "counter" if ln["asked"] else (kind or "rfq"), "sku": ln["sku"],
                        "quantity": ln["quantity"], "unit_price": ln["asked"],
                        "list_price": ln["surface"]["list_price"], "payment_terms": state.get("terms")})
        return out

    def _percent_off(self, state: TurnState, lines: list[Line], percent: Decimal, terms: str) -> list[Line]:
        """'need 200 x BRG-6204 with 5% off': each line asking `percent` off the price this buyer would be offered
        first (its segment's and promotions' included), rounded half-up to the currency's minor unit, in place of
        what the words were read as asking. A line that cannot be priced asks nothing here (its error comes from the
        line's own checks)."""
        desk = self.desk_for({**state, "terms": terms})
        out = []
        for line in lines:
            try:
                s = desk.surface(line.sku, line.quantity, terms)
            except DealdeskError:
                out.append(dataclasses.replace(line, asked=None))
                continue
            price = round_money(s.opening_price * (100 - percent) / 100, s.currency)
            out.append(dataclasses.replace(line, asked=price if price > 0 else None))
        return out

    def _made_to_order(self, sku: str) -> bool:
        """Whether the catalog makes `sku` to order: no stock to check, hold or allocate."""
        product = self.catalog.products.get(sku)
        return product is not None and product.inventory.made_to_order

    def _commit_proposal(self, state, neg, draft, buyer_events, records) -> None:
        data = draft["data"]
        staged = draft["staged"]
        desk = self.desk_for({**state, "terms": data["payment_terms"]})
        holds = []
        for item in data["items"]:
            s: DecisionSurface = desk.surface(item["sku"], int(item["quantity"]), data["payment_terms"])
            if not s.made_to_order:  # a made-to-order line has no stock to hold
                holds.append(HoldRequest(item["sku"], int(item["quantity"]), s.max_hold_units))
        seller_events = [{"side": "seller", "kind": "offer", "sku": i["sku"], "quantity": int(i["quantity"]),
                          "unit_price": i["unit_price"], "list_price": i["list_price"],
                          "payment_terms": data["payment_terms"]} for i in data["items"]]
        approval = draft.get("approval")
        moves = [m["id"] for m in staged["moves"]]
        self.store.save_proposal(
            proposal_id=data["proposal_id"], version=data["version"], negotiation_id=neg.id, buyer_org=neg.buyer_org,
            status="pending_approval" if staged.get("awaiting") else "offered", currency=data["currency"], payment_terms=data["payment_terms"],
            valid_until=naive_utc(dt.datetime.fromisoformat(data["valid_until"])), total=Decimal(data["total"]),
            body_for=lambda _pid, _v: data, moves=moves, holds=holds, records=records,
            events=(state["turn"], [*buyer_events, *seller_events]), approval=approval,
            cancel_approval=draft.get("cancel_approval"))


# Words that say an offer is made: "here is our offer", "we can offer", "our price is", "please find", a proposal id.
# Words that hand the buyer an offer, as opposed to saying a price.
_HANDS_OVER_AN_OFFER = re.compile(
    r"\b(?:here\s+is|here's|attached\s+is|enclosed\s+is|please\s+find)\s+(?:our|the|a|my)\s+(?:best\s+|final\s+|new\s+|"
    r"formal\s+)?(?:offer|proposal|quote|quotation)\b|\bproposal\s+P-", re.I)
_CLAIMS_AN_OFFER = re.compile(
    r"\b(?:here\s+is|here's|attached|enclosed|please\s+find|(?<!before\s)(?<!once\s)(?<!after\s)(?<!until\s)"
    r"(?<!when\s)(?<!so\s)(?<!can\s)we\s+(?:can\s+|could\s+|would\s+|will\s+)?(?:offer|propose|quote)"
    r"|i\s+(?:can\s+)?(?:offer|propose|quote)|our\s+(?:best\s+|final\s+|new\s+)?(?:offer|proposal|"
    r"quote|quotation|price)|(?:the|a|this)\s+(?:offer|proposal|quote|quotation)\s+(?:is|for|of|at)|proposal\s+P-)\b",
    re.I)


def _feedback(v: Violation) -> str:
    """What the model is told of a violation: a figure that equals an internal one is, to it, a figure the offer
    does not have (naming which internal figure it equals would tell the model the target or the floor)."""
    if v.rule_id == LEAK_FIGURE:
        return f"{UNTRACED}: a figure of the draft is not one of the offer's, its alternatives' or the tools' results"
    return f"{v.rule_id}: {v.message}"


def _request_stands(filed: list[Move], offered: list[Move], awaiting: bool, state: TurnState) -> bool:
    """Whether a request already awaiting approval still does once this offer is made: not when the offer itself
    awaits approval (the newest request replaces it), when the offer is for other lines (another quantity or
    terms: approving the old one would send what the buyer no longer asks for), when the offer is already as
    good for the buyer on every line (approving it would send a worse price), or when the request offers a line
    below the price the buyer asks for it this turn (approving it would send less than the buyer itself now
    offers to pay)."""
    if awaiting:
        return False
    prices = {(m.sku, m.quantity, m.payment_terms): m.unit_price for m in offered}
    keys = [(m.sku, m.quantity, m.payment_terms) for m in filed]
    if any(k not in prices for k in keys):
        return False
    terms = state.get("terms")
    asked = {(ln["sku"], int(ln["quantity"]), terms): Decimal(ln["asked"]) for ln in state.get("lines") or ()
             if ln.get("asked") is not None}
    if any(m.unit_price < asked[k] for m, k in zip(filed, keys, strict=True) if k in asked):
        return False
    return any(m.unit_price < prices[k] for m, k in zip(filed, keys, strict=True))


NOT_APPROVED = "The better offer we asked approval for was not approved; our current offer stands."
SHADOW_TEXT = ("Thank you, we have your request. Our team is reviewing it and will send you a proposal shortly "
               "in this conversation.")
KEPT_SHADOW_TEXT = "Until then, your current proposal stands and can be accepted."


def _lead(state: TurnState, staged: dict[str, Any], proposal: dict[str, Any], previous: ProposalRow | None) -> str:
    """The words before an offer that answers the buyer's price (an rfq or a counter-offer): which lines the
    seller met, improved or held. A counter-offer's lines asked at the price already offered (the ones a buyer
    kept while countering another) get no words; a counter-offer on other payment terms is said to be the
    offer on those terms (its prices are priced on them, so "improved" or "held" would compare apples with
    pears). Empty while a better offer awaits approval: the offer's text says so. After an operator declined
    that better offer, the re-sent standing offer says it was not approved."""
    intent = state.get("intent") or {}
    kind = intent.get("kind")
    if kind == "operator" and (intent.get("operator") or {}).get("decision") == "rejected":
        return NOT_APPROVED
    if kind not in ("rfq", "counter_offer") or proposal.get("pending"):
        return ""
    offered: dict[str, Decimal] = {}
    if kind == "counter_offer" and previous is not None and previous.status == "offered":
        if previous.payment_terms != proposal["payment_terms"]:
            return f"Here is our offer on {proposal['payment_terms']}."
        offered = {i["sku"]: Decimal(str(i["unit_price"])) for i in previous.body["items"]}
    asked = {ln["sku"]: ln["asked"] for ln in state.get("lines") or []
             if ln["asked"] is None or offered.get(ln["sku"]) != Decimal(str(ln["asked"]))}
    return move_lead([m for m in staged["moves"] if m["sku"] in asked], asked)


def _last_asks(view: TurnView, skus: list[str], memory_days: int) -> tuple[Decimal | None, ...]:
    """The buyer's last asked unit price on each SKU in this negotiation (None where it named none)."""
    history, _ = view.history_and_memory(skus, utcnow() - dt.timedelta(days=memory_days))
    last: dict[str, Decimal] = {}
    for e in history:
        if e.side == "buyer" and e.unit_price is not None and e.sku is not None:
            last[e.sku] = e.unit_price
    return tuple(last.get(s) for s in skus)


def _found(messages: list[BaseMessage]) -> list[str]:
    """The products this turn's catalog search found (its `catalog_lookup` results: the best match when one
    stands out), for the topic."""
    out: list[str] = []
    for m in messages:
        if isinstance(m, ToolMessage) and m.name == "catalog_lookup" and isinstance(m.artifact, dict) \
                and m.artifact.get("ok"):
            best = m.artifact.get("best_match")
            out += [best] if isinstance(best, str) else \
                [p["sku"] for p in m.artifact.get("products") or [] if isinstance(p, dict) and "sku" in p]
    return list(dict.fromkeys(out))


def _text_of(message: AIMessage | None) -> str:
    if message is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    return " ".join(b.get("text", "") for b in message.content if isinstance(b, dict) and b.get("type") == "text")


def _same_message(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Two seller data parts say the same thing (compared as validated wire messages)."""
    if a is None or b is None:
        return a is b
    try:
        return SELLER_MESSAGE.validate_python(a).model_dump(mode="json") == \
            SELLER_MESSAGE.validate_python(b).model_dump(mode="json")
    except ValidationError:
        return False


def _data_block(message: AIMessage | None) -> dict[str, Any] | None:
    """A structured data part the model attached to its final message, if any (the guardrail checks it)."""
    if message is None or isinstance(message.content, str):
        return None
    for block in message.content:
        if isinstance(block, dict) and block.get("type") == "data":
            return block.get("data")
    return None


def data_in_text(text: str) -> dict[str, Any] | None:
    """A text part that is one JSON object of a buyer message type (`{"type": "accept", "proposal_id": ...}`): that
    object, to be read (and refused, naming the field) exactly as a data part; else None, and the text is words.
    Read as words, its ids and versions could be lost: an acceptance of a version no longer offered must be
    refused, not taken as one of the standing offer."""
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        return None
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) and value.get("type") in BUYER_TYPES else None


def answer_data(question: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The `answer` data part of a question's reply (agent/contract.py), as wire JSON: its topic when the question
    had one a buyer may ask (not "other" or "unclear"), and `fields`."""
    topic = question.get("topic")
    return AnswerMessage(topic=topic if topic in get_args(AskedTopic) else None, **fields) \
        .model_dump(mode="json", exclude_none=True)


def _answer_error(exc: DealdeskError) -> AnswerError:
    return AnswerError(code=exc.code, message=exc.message, field=exc.field)


def _fact_json(f: Fact) -> dict[str, Any]:
    return {"kind": f.kind, "value": str(f.value), "source": f.source, "currency": f.currency}


def _fact_from_json(d: dict[str, Any]) -> Fact:
    value: Any = d["value"]
    if d["kind"] in ("money", "percent", "quantity", "days", "number"):
        value = Decimal(value)
    elif d["kind"] == "date":
        value = dt.date.fromisoformat(value)
    return Fact(d["kind"], value, d["source"], d.get("currency"))


def _on_channels(node: Any) -> Any:
    """`node` (TurnState in, TurnState update or Command out) as a node over `Channels`."""
    def run(state: Channels) -> Any:  # one parameter: LangGraph passes nothing else
        out = node(flat(state))
        if isinstance(out, Command):
            return dataclasses.replace(out, update=split(out.update)) if out.update else out
        return split(out)
    return run


def build(self: SellerGraph) -> StateGraph:
    g = StateGraph(Channels)
    g.add_node("begin", _on_channels(self.begin))
    g.add_node("understand", _on_channels(self.understand))
    g.add_node("prepare", _on_channels(self.prepare))
    # agent and guardrail route with the Command they return (a conditional edge would read the whole
    # state again after the node, a copy of every channel, on each of a turn's three routing steps).
    g.add_node("agent", _on_channels(self.agent), destinations=("tools", "guardrail"))
    g.add_node("tools", _on_channels(ToolCalls(self.tools)))
    g.add_node("guardrail", _on_channels(self.guardrail), destinations=("approval", "revise", "fallback"))
    g.add_node("revise", _on_channels(self.revise))
    g.add_node("fallback", _on_channels(self.fallback))
    g.add_node("approval", _on_channels(self.approval))
    g.add_node("commit", _on_channels(self.commit))
    g.add_edge(START, "begin")
    g.add_edge("begin", "understand")
    g.add_edge("understand", "prepare")
    g.add_edge("prepare", "agent")
    g.add_edge("tools", "agent")
    g.add_edge("revise", "agent")
    g.add_edge("fallback", "approval")
    g.add_edge("approval", "commit")
    g.add_edge("commit", END)
    return g


SellerGraph._build = build  # type: ignore[attr-defined]


def _earliest_delivery(lead_time_days: int) -> dt.date:
    """The first day a line can be delivered: today (UTC) plus its lead time."""
    return utcnow().date() + dt.timedelta(days=lead_time_days)


def _same_moves(filed: list[dict[str, Any]], asked: list[dict[str, Any]]) -> bool:
    """Whether two approval requests ask for the same lines: product, quantity, price and terms."""
    def key(moves: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted((m["sku"], int(m["quantity"]), str(m["unit_price"]), m.get("payment_terms")) for m in moves)
    return key(filed) == key(asked)


def _one_set_of_fixed_terms(planned: list[dict[str, Any]]) -> None:
    """A proposal states one set of non-negotiable terms; lines whose products are sold on different ones (a motor's
    24-month warranty beside a bearing's 12) cannot share one. Said as a typed error naming the terms and the lines
    (the guardrail blocked every such offer, and the buyer got the general help)."""
    by_terms: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for ln in planned:
        terms = tuple(sorted((ln["surface"].get("non_negotiable_terms") or {}).items()))
        by_terms.setdefault(terms, []).append(ln["sku"])
    if len(by_terms) < 2:
        return
    sets = list(by_terms)
    differ = sorted({k for t in sets for k, v in t if any(dict(o).get(k) != v for o in sets)})
    groups = " and ".join(", ".join(skus) for skus in by_terms.values())
    raise TurnError(f"{groups} are sold on different fixed terms ({', '.join(differ)}), and one proposal states "
                    "one set of terms: ask for them in separate negotiations", code="malformed_message", field="items")
