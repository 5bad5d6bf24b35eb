"""Model calls and tokens per turn: dealdesk's graph against the common ReAct design, on the same conversations.

Run: `.venv/bin/python bench/llm_calls.py [--json out.json] [--understand cascade|model|both]`

Both designs talk HTTP to the same scripted OpenAI-compatible server
(`tests/llm/fake_openai.py`), which answers as a capable model would, and
which counts every request, and the prompt and completion size of each, the same
way for both (words, numbers and punctuation marks of the request's messages,
tools and response format; of the answer's content and tool calls).

- dealdesk: `Seller` with `make_model(...)` (the `ResilientModel` around
  `ChatOpenAI`). The scripted model fills the buyer-intent schema for text and,
  with the tools bound, calls `submit_proposal` with the brief's recommended move
  ids writing the reply in the same message, or answers a question from the tool
  results.
- ReAct baseline: `langchain.agents.create_agent` with `ChatOpenAI`, the same
  three tools (names, argument schemas, descriptions, implementations) and the
  seller prompt plus the policy file in its system prompt. `submit_proposal`
  takes the strategy's move ids, so the baseline's `calculate_price` also
  returns the strategy's moves for the line (computed by the same code, the
  plan is free for the baseline). Its script uses the fewest calls the design
  allows: all price lookups of a turn in one parallel tool call, then
  `submit_proposal`, then the reply (a ReAct loop always asks the model once
  more after a tool); a question: the lookups, then the answer; accept/reject:
  the reply alone (it has no tool for them, so the deal is not even recorded).

Targets (issue 7): no model call on structured turns; at most 2 on text turns;
at least 3x fewer calls and tokens than the baseline, on text turns alone and
overall.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from llm.fake_openai import (  # noqa: E402
    FakeOpenAI, Reply, brief_from_body, completion, completion_tokens, prompt_tokens, request_kind,
)

EMPTY_INTENT: dict[str, Any] = {
    "kind": "unknown", "answer": None, "items": [], "proposal_id": None, "version": None, "payment_terms": None,
    "delivery_date": None, "currency": None, "buyer_reference": None, "query": None, "category": None, "specs": [],
    "question_topic": None, "question_skus": [], "question_spec": None, "discount_percent": None, "total_price": None,
    "reason": None, "arguments": [], "notes": [],
}


@dataclass
class Turn:
    label: str                       # what kind of message, for the report
    text: str | None = None          # a text turn
    meaning: dict[str, Any] = field(default_factory=dict)  # what a capable model reads in it (intent schema)
    data: dict[str, Any] | None = None  # a structured turn (data part)

    @property
    def structured(self) -> bool:
        return self.data is not None


def _m(**kw: Any) -> dict[str, Any]:
    return {**EMPTY_INTENT, **kw}


def _items(*lines: tuple[str, int, str | None]) -> list[dict[str, Any]]:
    return [{"sku": s, "quantity": q, "unit_price": p} for s, q, p in lines]


# Current proposal references in data turns are filled in at run time ({{P}}, {{V}}).
SUITE: list[tuple[str, list[Turn]]] = [
    ("procurement bot, data parts", [
        Turn("rfq", data={"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "500"}]},
             meaning=_m(kind="rfq", items=_items(("BRG-6204", 500, None)))),
        Turn("counter", data={"type": "counter_offer", "proposal_id": "{{P}}", "version": "{{V}}",
                              "items": [{"sku": "BRG-6204", "quantity": "500", "unit_price": "2.80"}]},
             meaning=_m(kind="counter_offer", items=_items(("BRG-6204", 500, "2.80")))),
        Turn("counter", data={"type": "counter_offer", "proposal_id": "{{P}}", "version": "{{V}}",
                              "items": [{"sku": "BRG-6204", "quantity": "500", "unit_price": "2.90"}]},
             meaning=_m(kind="counter_offer", items=_items(("BRG-6204", 500, "2.90")))),
        Turn("catalog query", data={"type": "catalog_query", "query": "bearing", "specs": {"bore_mm": "25"}},
             meaning=_m(kind="catalog_query", query="bearing", specs=[{"name": "bore_mm", "value": "25"}])),
        Turn("accept", data={"type": "accept", "proposal_id": "{{P}}", "version": "{{V}}"},
             meaning=_m(kind="accept")),
    ]),
    ("procurement bot, plain text", [
        Turn("rfq", "RFQ: 500 x BRG-6204, NET30 please.",
             _m(kind="rfq", items=_items(("BRG-6204", 500, None)), payment_terms="NET30")),
        Turn("counter", "Can you do 2.85 EUR for 500 x BRG-6204?",
             _m(kind="counter_offer", items=_items(("BRG-6204", 500, "2.85")))),
        Turn("question", "What is the lead time for BRG-6204?",
             _m(kind="question", question_topic="lead_time", question_skus=["BRG-6204"])),
        Turn("accept", "We accept your offer.", _m(kind="accept")),
    ]),
    ("buyer's own words", [
        Turn("rfq with an argument",
             "Hello! Our Lyon plant needs 500 of your 6204 sealed bearings. A competitor quoted 2.85 EUR, "
             "what can you do?",
             _m(kind="rfq", items=_items(("BRG-6204", 500, "2.85")), arguments=["a competitor quoted 2.85 EUR"])),
        Turn("open question",
             "Before we go on: would that bearing fit the pillow block unit you sell, and how fast can you ship?",
             _m(kind="question", question_topic="compatibility", question_skus=["BRG-6204", "BRG-UCP204"])),
        Turn("counter with an argument",
             "2.85 is our budget, but we could commit to the same volume every quarter. Meet us at 2.95?",
             _m(kind="counter_offer", items=_items(("BRG-6204", 500, "2.95")),
                arguments=["quarterly volume commitment", "budget 2.85"])),
        Turn("accept in words", "Alright, that works for us. Let's close it.", _m(kind="accept")),
    ]),
    ("questions and search", [
        Turn("question", "Is BRG-6204 compatible with BRG-UCP204?",
             _m(kind="question", question_topic="compatibility", question_skus=["BRG-6204", "BRG-UCP204"])),
        Turn("question", "What is the bore of BRG-6205?",
             _m(kind="question", question_topic="spec", question_skus=["BRG-6205"], question_spec="bore_mm")),
        Turn("search in words", "Do you sell stainless M8 lock nuts? We use a lot of them on conveyor frames.",
             _m(kind="catalog_query", query="M8 lock nut stainless")),
    ]),
    ("two lines, mixed", [
        Turn("rfq", "Quote 200 x FST-M8X30-A2 and 200 x FST-M8-NUT-A2 please.",
             _m(kind="rfq", items=_items(("FST-M8X30-A2", 200, None), ("FST-M8-NUT-A2", 200, None)))),
        Turn("discount ask", "Could you take 10% off the screws if we pay upfront?",
             _m(kind="question", question_topic="price", question_skus=["FST-M8X30-A2"],
                arguments=["asks 10% off the screws", "offers prepayment"])),
        Turn("accept", "We accept your offer.", _m(kind="accept")),
    ]),
]


# --- the scripted model -------------------------------------------------------------------------


class Script:
    """Answers as a capable model would, for both designs; keeps what each request cost."""

    def __init__(self) -> None:
        self.meanings: dict[str, dict[str, Any]] = {}
        self.current: Turn | None = None

    def meaning_of(self, text: str) -> dict[str, Any]:
        key = " ".join(re.sub(r"</?buyer_message>", " ", text).split())
        if key in self.meanings:
            return self.meanings[key]
        return self.current.meaning if self.current else EMPTY_INTENT

    def __call__(self, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        kind = request_kind(body)
        if kind == "understand":
            user = next(m for m in reversed(body["messages"]) if m["role"] == "user")
            meaning = {**self.meaning_of(user["content"]), "answer": None}
            if meaning["kind"] in ("question", "catalog_query"):
                meaning["answer"] = question_answer(meaning, understanding_context(body))
            return Reply(200, completion({"content": json.dumps(meaning)}, body))
        if brief_from_body(body) is not None:
            return Reply(200, completion(dealdesk_step(body), body))
        return Reply(200, completion(react_step(body, self.current), body))


def _call(name: str, args: dict[str, Any], n: int) -> dict[str, Any]:
    return {"id": f"call_{name}_{n}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def _after_user(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    last = max(i for i, m in enumerate(messages) if m["role"] == "user")
    return messages[last + 1:]


def _results(messages: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for m in _after_user(messages):
        if m["role"] == "tool":
            body = json.loads(m["content"])
            out.setdefault(body.get("tool", "?"), []).append(body)
    return out


def offer_words(lines: list[dict[str, Any]], currency: str, terms: str) -> str:
    parts = [f"{ln['quantity']} x {ln['sku']} at {ln['unit_price']} {currency} each ({ln['line_total']} {currency})"
             for ln in lines]
    return "Thank you for your request. We can offer " + "; ".join(parts) + f", payment {terms}."


def answer_words(products: list[dict[str, Any]]) -> str:
    if not products:
        return "We found no matching product; could you send the SKU?"
    parts = []
    for p in products[:4]:
        mates = ", ".join(p.get("compatible", []) + p.get("related", [])[:2])
        parts.append(f"{p['sku']} ({p['name']}) ships in {p['lead_time_days']} days"
                     + (f" and goes with {mates}" if mates else ""))
    return "; ".join(parts) + "."


def understanding_context(body: dict[str, Any]) -> dict[str, Any]:
    system = next(m["content"] for m in body["messages"] if m["role"] == "system")
    return json.loads(system.split("Context (JSON):", 1)[1])


def question_answer(meaning: dict[str, Any], context: dict[str, Any]) -> str | None:
    """What a capable model answers from the facts it was given, or None when they are not enough."""
    if meaning.get("question_topic") == "price":
        return ("A percentage off is not something I can grant in a message, but the payment terms can change the "
                "price: send the request again with the terms you want and I will quote it.")
    facts = {p["sku"]: p for p in context.get("catalog") or [] if "lead_time_days" in p}
    if meaning["kind"] == "catalog_query":
        words = set(re.findall(r"[a-z0-9]+", (meaning.get("query") or "").casefold()))
        best = max(facts.values(), key=lambda p: len(words & set(re.findall(r"[a-z0-9]+", p["name"].casefold()))),
                   default=None)
        return answer_words([best]) if best else None
    if not meaning["question_skus"] or any(s not in facts for s in meaning["question_skus"]):
        return None
    return answer_words([facts[s] for s in meaning["question_skus"]])


def dealdesk_step(body: dict[str, Any]) -> dict[str, Any]:
    brief = brief_from_body(body) or {}
    intent = brief.get("intent") or {}
    results = _results(body["messages"])
    lines = brief.get("lines") or []
    if intent.get("kind") in ("rfq", "counter_offer") and lines and "submit_proposal" not in results:
        chosen = []
        for ln in lines:
            chosen.append(next(m for m in ln["moves"] if m["id"] == ln["recommended"]))
        text = offer_words(chosen, brief.get("currency", ""), chosen[0]["payment_terms"])
        return {"content": text, "tool_calls": [_call("submit_proposal", {"move_ids": [m["id"] for m in chosen]}, 1)]}
    if "catalog_lookup" in results:
        products = [p for r in results["catalog_lookup"] for p in r.get("products") or []]
        return {"content": answer_words(products)}
    return {"content": "Could you tell me the SKU and quantity you need?"}


def react_step(body: dict[str, Any], turn: Turn | None) -> dict[str, Any]:
    results = _results(body["messages"])
    meaning = turn.meaning if turn else EMPTY_INTENT
    kind = meaning["kind"]
    if not results:
        if kind in ("rfq", "counter_offer"):
            return {"content": None, "tool_calls": [
                _call("calculate_price", {"sku": it["sku"], "quantity": it["quantity"]}, i)
                for i, it in enumerate(meaning["items"])]}
        if kind == "question":
            return {"content": None, "tool_calls": [_call("catalog_lookup", {"sku": s}, i)
                                                    for i, s in enumerate(meaning["question_skus"])]}
        if kind == "catalog_query":
            return {"content": None, "tool_calls": [_call("catalog_lookup", {"query": meaning["query"]}, 0)]}
        if kind == "accept":
            return {"content": "Thank you, we confirm your order on the terms of our last offer."}
        return {"content": "Could you tell me the SKU and quantity you need?"}
    if "calculate_price" in results and "submit_proposal" not in results:
        ids = [r["recommended"] for r in results["calculate_price"] if r.get("ok")]
        return {"content": None, "tool_calls": [_call("submit_proposal", {"move_ids": ids}, 9)]}
    if "submit_proposal" in results:
        r = results["submit_proposal"][0]
        if not r.get("ok"):
            return {"content": f"Sorry, we cannot make that offer: {r['error']['message']}."}
        return {"content": offer_words(r["lines"], r["currency"], r["payment_terms"])}
    products = [p for r in results.get("catalog_lookup", []) for p in r.get("products") or []]
    return {"content": answer_words(products)}


# --- the ReAct baseline ---------------------------------------------------------------------------


def react_agent(seller: Any, base_url: str, script: Script, nid_box: dict[str, str]) -> Any:
    from langchain.agents import create_agent
    from langchain_core.tools import StructuredTool
    from langgraph.checkpoint.memory import InMemorySaver

    from agent.models.openai import ModelSettings, build_chat_openai
    from agent.negotiation import Line, plan_lines
    from agent.prompts import load as load_prompt
    from agent.store.db import utcnow
    from agent.turn_view import TurnView
    from tools.seller_tools import CalculatePriceArgs, CatalogLookupArgs, SubmitProposalArgs, build_tools

    graph = seller.graph
    real = {t.name: t for t in build_tools(graph.desk_for)}
    planned: dict[str, dict[str, Any]] = {}  # this turn's lines with the strategy's plan, by SKU

    def state() -> dict[str, Any]:
        return {"negotiation_id": nid_box["nid"], "terms": None, "lines": list(planned.values())}

    def catalog_lookup(**kw: Any) -> str:
        content, _ = real["catalog_lookup"].func(state(), **kw)
        return content

    def calculate_price(sku: str, quantity: int, payment_terms: str | None = None) -> str:
        content, _ = real["calculate_price"].func(state(), sku=sku, quantity=quantity, payment_terms=payment_terms)
        body = json.loads(content)
        if body.get("ok"):
            view = TurnView.open(seller.store, nid_box["nid"])
            neg = view.negotiation
            terms = payment_terms or neg.payment_terms or seller.policy.doc.global_.payment_terms.default
            asked = next((Decimal(i["unit_price"]) for i in (script.current.meaning["items"] if script.current else [])
                          if i["sku"] == sku and i.get("unit_price")), None)
            desk = graph.desk_for({"negotiation_id": nid_box["nid"], "terms": terms})
            try:
                line = plan_lines(desk, view, [Line(sku, quantity, asked)], terms, config=graph.config.strategy,
                                  memory_days=graph.config.memory_days, now=utcnow())[0]
            finally:
                view.close()
            planned[sku] = line
            body["recommended"] = line["plan"]["recommended"]
            body["moves"] = [{k: m[k] for k in ("id", "kind", "unit_price", "line_total", "payment_terms",
                                                "alternative", "rationale")} for m in line["plan"]["moves"]]
        return json.dumps(body)

    def submit_proposal(move_ids: list[str], alternative_ids: list[str] | None = None) -> str:
        content, _ = real["submit_proposal"].func(state(), move_ids=move_ids, alternative_ids=alternative_ids)
        return content

    tools = [StructuredTool.from_function(fn, name=name, description=real[name].description, args_schema=schema)
             for fn, name, schema in ((catalog_lookup, "catalog_lookup", CatalogLookupArgs),
                                      (calculate_price, "calculate_price", CalculatePriceArgs),
                                      (submit_proposal, "submit_proposal", SubmitProposalArgs))]
    policy = "\n".join(line for line in (ROOT / "examples" / "policy.yaml").read_text().splitlines()
                       if line.strip() and not line.lstrip().startswith("#"))
    prompt = (load_prompt("seller_system").text + "\nPrice lines with `calculate_price`: it returns the strategy's "
              "moves for the line; offer them with `submit_proposal`.\n\nThe pricing policy (YAML):\n" + policy)
    model = build_chat_openai(ModelSettings(model="fake-model", api_key="bench", base_url=base_url))
    agent = create_agent(model, tools, system_prompt=prompt, checkpointer=InMemorySaver())
    return agent, planned


# --- running -----------------------------------------------------------------------------------------


@dataclass
class Cost:
    design: str
    conversation: str
    label: str
    structured: bool
    calls: int
    prompt: int
    completion: int
    reply: str
    read_by: str = "data"  # text turns: "parser" or "model" (whether dealdesk's understanding asked the model)


def _fill(data: dict[str, Any], proposal: tuple[str, int] | None) -> dict[str, Any]:
    text = json.dumps(data)
    if proposal:
        text = text.replace('"{{P}}"', json.dumps(proposal[0])).replace('"{{V}}"', str(proposal[1]))
    return json.loads(text)


def _cost(server: FakeOpenAI, start: int) -> tuple[int, int, int]:
    seen = server.requests[start:]
    prompt = sum(prompt_tokens(r.body) for r in seen)
    done = sum(completion_tokens(r.response["choices"][0]["message"]) for r in seen
               if isinstance(r.response, dict) and r.response.get("choices"))
    return len(seen), prompt, done


def run(understand: str = "cascade") -> list[Cost]:
    from langchain_core.messages import HumanMessage

    from agent.config import load_data
    from agent.models.factory import make_model
    from agent.models.openai import ModelSettings
    from agent.records import configure_logging
    from agent.service import Buyer, Seller
    from agent.store import Store

    configure_logging(open(os.devnull, "w"))  # noqa: SIM115
    catalog, policy = load_data()
    script = Script()
    for _, turns in SUITE:
        for t in turns:
            if t.text:
                script.meanings[" ".join(t.text.split())] = t.meaning
    out: list[Cost] = []
    with FakeOpenAI(script) as server, tempfile.TemporaryDirectory() as tmp:
        settings = ModelSettings(model="fake-model", api_key="bench", base_url=server.base_url, understand=understand)
        seller = Seller(catalog, policy, Store(f"sqlite:///{tmp}/dd.sqlite"), model=make_model(settings))
        react_seller = Seller(catalog, policy, Store(f"sqlite:///{tmp}/react.sqlite"))
        box: dict[str, str] = {}
        agent, planned = react_agent(react_seller, server.base_url, script, box)
        for n, (name, turns) in enumerate(SUITE):
            nid = seller.start(Buyer(org=f"org-{n}", region="EU"))
            box["nid"] = react_seller.start(Buyer(org=f"org-{n}", region="EU"))
            proposal: tuple[str, int] | None = None
            for turn in turns:
                script.current = turn
                data = _fill(turn.data, proposal) if turn.data else None
                # dealdesk
                start = len(server.requests)
                reply = seller.send(nid, data=data, text=turn.text)
                if reply.type == "proposal":
                    proposal = (reply.data["proposal_id"], reply.data["version"])
                calls, p, c = _cost(server, start)
                read_by = "data" if turn.structured else (
                    "model" if any(r.kind == "understand" for r in server.requests[start:]) else "parser")
                out.append(Cost("dealdesk", name, turn.label, turn.structured, calls, p, c, reply.text, read_by))
                # ReAct
                planned.clear()
                start = len(server.requests)
                content = json.dumps(data) if data is not None else turn.text
                result = agent.invoke({"messages": [HumanMessage(content=content)]},
                                      {"configurable": {"thread_id": box["nid"]}})
                calls, p, c = _cost(server, start)
                out.append(Cost("react", name, turn.label, turn.structured, calls, p, c,
                                str(result["messages"][-1].content), read_by))
        seller.close()
        react_seller.close()
    return out


def summarise(costs: list[Cost]) -> dict[str, Any]:
    def agg(design: str, scope: Any) -> dict[str, float]:
        if isinstance(scope, str):
            rows = [c for c in costs if c.design == design and c.read_by == scope]
        else:
            rows = [c for c in costs if c.design == design and (scope is None or c.structured == scope)]
        n = len(rows) or 1
        return {"turns": len(rows), "calls": sum(r.calls for r in rows), "calls_per_turn": sum(r.calls for r in rows) / n,
                "max_calls": max((r.calls for r in rows), default=0),
                "tokens": sum(r.prompt + r.completion for r in rows),
                "prompt_per_turn": sum(r.prompt for r in rows) / n,
                "completion_per_turn": sum(r.completion for r in rows) / n,
                "tokens_per_turn": sum(r.prompt + r.completion for r in rows) / n}

    out: dict[str, Any] = {}
    for scope, flag in (("structured", True), ("text", False), ("text read by the parser", "parser"),
                        ("text read by the model", "model"), ("all", None)):
        dd, rx = agg("dealdesk", flag), agg("react", flag)
        out[scope] = {"dealdesk": dd, "react": rx,
                      "calls_ratio": rx["calls"] / dd["calls"] if dd["calls"] else float("inf"),
                      "tokens_ratio": rx["tokens"] / dd["tokens"] if dd["tokens"] else float("inf")}
    return out


def targets(summary: dict[str, Any]) -> dict[str, bool]:
    return {"no call on structured turns": summary["structured"]["dealdesk"]["calls"] == 0,
            "at most 2 calls on a text turn": summary["text"]["dealdesk"]["max_calls"] <= 2,
            "3x fewer calls, text turns": summary["text"]["calls_ratio"] >= 3,
            "3x fewer tokens, text turns": summary["text"]["tokens_ratio"] >= 3,
            "3x fewer calls, overall": summary["all"]["calls_ratio"] >= 3,
            "3x fewer tokens, overall": summary["all"]["tokens_ratio"] >= 3}


def _ratio(x: float) -> str:
    return "inf" if x == float("inf") else f"{x:.1f}x"


def report(costs: list[Cost], understand: str) -> str:
    s = summarise(costs)
    lines = [f"understanding: {understand}", "",
             "| turns | design | turns | model calls | calls/turn | max calls | prompt tok/turn | completion tok/turn |"
             " tokens/turn |", "|---|---|---|---|---|---|---|---|---|"]
    for scope in ("structured", "text", "text read by the parser", "text read by the model", "all"):
        for design in ("dealdesk", "react"):
            a = s[scope][design]
            lines.append(f"| {scope} | {design} | {a['turns']} | {a['calls']} | {a['calls_per_turn']:.2f} | "
                         f"{a['max_calls']} | {a['prompt_per_turn']:.0f} | {a['completion_per_turn']:.0f} | "
                         f"{a['tokens_per_turn']:.0f} |")
    lines.append("")
    for scope in ("text", "text read by the model", "all"):
        lines.append(f"- {scope} turns: ReAct/dealdesk calls {_ratio(s[scope]['calls_ratio'])}, "
                     f"tokens {_ratio(s[scope]['tokens_ratio'])}")
    lines.append("")
    lines.append("| conversation | turn | message | read by | dealdesk calls | dealdesk tokens | ReAct calls | "
                 "ReAct tokens |")
    lines.append("|---|---|---|---|---|---|---|---|")
    dd = [c for c in costs if c.design == "dealdesk"]
    rx = [c for c in costs if c.design == "react"]
    for a, b in zip(dd, rx):
        lines.append(f"| {a.conversation} | {a.label} | {'data' if a.structured else 'text'} | {a.read_by} | "
                     f"{a.calls} | {a.prompt + a.completion} | {b.calls} | {b.prompt + b.completion} |")
    lines.append("")
    for name, ok in targets(s).items():
        lines.append(f"- {'met' if ok else 'NOT MET'}: {name}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--understand", choices=("cascade", "model", "both"), default="both")
    parser.add_argument("--json", type=Path, help="write the per-turn figures and the summary here")
    parser.add_argument("--show-replies", action="store_true")
    args = parser.parse_args()
    modes = ("cascade", "model") if args.understand == "both" else (args.understand,)
    dump: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "python": platform.python_version(),
                            "machine": platform.machine()}
    for mode in modes:
        started = time.perf_counter()
        costs = run(mode)
        print(report(costs, mode))
        print(f"\n({time.perf_counter() - started:.1f} s)\n")
        if args.show_replies:
            for c in costs:
                print(f"[{c.design}] {c.label}: {c.reply[:160]}")
        dump[mode] = {"summary": summarise(costs), "targets": targets(summarise(costs)),
                      "turns": [c.__dict__ for c in costs]}
    if args.json:
        args.json.write_text(json.dumps(dump, indent=2, default=str))


if __name__ == "__main__":
    main()
