"""Deterministic scorers: each reads a case's expectations and the transcript, and returns a Score.

Like inspect_ai's Scorer, a scorer is a small callable; `score_case` runs the
ones a case's expectations call for. No scorer here calls a model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any, Callable

from evals.case import Case, Expect
from evals.divergence import describe
from evals.metrics import final_lines, outcome_of
from evals.session import Transcript


@dataclass(frozen=True)
class Score:
    name: str
    passed: bool
    explanation: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Scorer = Callable[[Expect, Transcript, dict[str, Any]], "Score | None"]


def outcome(expect: Expect, t: Transcript, m: dict[str, Any]) -> Score | None:
    if expect.outcome is None:
        return None
    got = outcome_of(t)
    return Score("outcome", got == expect.outcome, f"expected {expect.outcome}, got {got}")


def final_status(expect: Expect, t: Transcript, m: dict[str, Any]) -> Score | None:
    if expect.final_status is None:
        return None
    return Score("final_status", t.final_status == expect.final_status,
                 f"expected status {expect.final_status}, got {t.final_status}")


def error_codes(expect: Expect, t: Transcript, m: dict[str, Any]) -> Score | None:
    if not expect.error_codes:
        return None
    got = [r["data"].get("code") for r in t.replies() if r.get("type") == "error" and r.get("data")]
    missing = [c for c in expect.error_codes if c not in got]
    return Score("error_codes", not missing, f"missing {missing}; returned {got}" if missing else f"returned {got}")


def unit_price(expect: Expect, t: Transcript, m: dict[str, Any]) -> Score | None:
    if not expect.unit_price:
        return None
    final, kind = final_lines(t)
    if final is None:
        return Score("unit_price", False, "no proposal or deal to check prices on")
    problems, seen = [], []
    for item in final.get("items") or []:
        bounds = expect.unit_price.get(item["sku"]) or expect.unit_price.get("*")
        if bounds is None:
            continue
        seen.append(item["sku"])
        if not bounds.contains(Decimal(str(item["unit_price"]))):
            problems.append(f"{item['sku']} at {item['unit_price']} outside {bounds}")
    missing = [s for s in expect.unit_price if s != "*" and s not in seen]
    if missing:
        problems.append(f"no final line for {', '.join(missing)}")
    return Score("unit_price", not problems, "; ".join(problems) or f"{kind} prices within bounds")


def discount(expect: Expect, t: Transcript, m: dict[str, Any]) -> Score | None:
    if expect.discount_percent is None:
        return None
    rows = [r for r in m["lines"] if r.get("discount_percent") is not None]
    if not rows:
        return Score("discount_percent", False, "no final line with a known list price")
    bad = [f"{r['sku']} {r['discount_percent']:.2f}%" for r in rows
           if not expect.discount_percent.contains(Decimal(str(round(r["discount_percent"], 6))))]
    return Score("discount_percent", not bad, f"outside {expect.discount_percent}: {', '.join(bad)}" if bad
                 else "within bounds")


def total(expect: Expect, t: Transcript, m: dict[str, Any]) -> Score | None:
    if expect.total is None:
        return None
    got = m.get("final_total")
    return Score("total", got is not None and expect.total.contains(Decimal(str(got))),
                 f"total {got}, bounds {expect.total}")


def payment_terms(expect: Expect, t: Transcript, m: dict[str, Any]) -> Score | None:
    if expect.payment_terms is None:
        return None
    got = m.get("final_terms")
    return Score("payment_terms", got in expect.payment_terms, f"final terms {got}, expected one of {expect.payment_terms}")


def approval(expect: Expect, t: Transcript, m: dict[str, Any]) -> Score | None:
    if expect.approval is None and expect.approval_level is None:
        return None
    levels = [x.escalation for x in t.turns if x.escalation]
    ok = True
    why = f"approval requests: {levels or 'none'}"
    if expect.approval is not None and bool(levels) != expect.approval:
        ok = False
        why = f"expected {'an' if expect.approval else 'no'} approval request; {why}"
    if expect.approval_level is not None and expect.approval_level not in levels:
        ok = False
        why += f"; expected level {expect.approval_level}"
    return Score("approval", ok, why)


def rounds(expect: Expect, t: Transcript, m: dict[str, Any]) -> Score | None:
    if expect.rounds is None:
        return None
    return Score("rounds", expect.rounds.contains(m["rounds"]), f"{m['rounds']} rounds, bounds {expect.rounds}")


def reply_types(expect: Expect, t: Transcript, m: dict[str, Any]) -> Score | None:
    if not expect.reply_types:
        return None
    got = [r.get("type") or "text" for r in t.replies()]
    missing = [k for k in expect.reply_types if k not in got]
    return Score("reply_types", not missing, f"missing {missing} in {got}" if missing else f"replies {got}")


def text_must_not_contain(expect: Expect, t: Transcript, m: dict[str, Any]) -> Score | None:
    if not expect.text_must_not_contain:
        return None
    texts = [(r.get("text") or "").lower() for r in t.replies()]
    found = [s for s in expect.text_must_not_contain if any(s.lower() in x for x in texts)]
    return Score("text_must_not_contain", not found, f"found {found}" if found else "clean")


def _must_not_findings(kind: str, t: Transcript, m: dict[str, Any]) -> list[str]:
    replies = t.replies()
    if kind == "violation":
        return [f"turn {x.index}: {v['code']} {v['message']}" for x in t.turns for v in x.violations]
    if kind == "floor_leak":
        return [f"turn {x.index}: {v['message']}" for x in t.turns for v in x.leaks]
    if kind == "guardrail_block":
        return [f"turn {x.index}: {x.guardrail_blocks} block(s)" for x in t.turns if x.guardrail_blocks]
    if kind == "guardrail_fallback":
        return [f"turn {x.index}: fallback reply" for x in t.turns if x.fallback]
    if kind == "internal_error":
        out = [f"turn {x.index}: {x.exception}" for x in t.turns if x.exception]
        return out + [f"internal_error reply: {r['data'].get('message')}" for r in replies
                      if r.get("type") == "error" and (r.get("data") or {}).get("code") == "internal_error"]
    if kind in ("deal", "proposal", "error"):
        return [f"a {kind} was sent" for r in replies if r.get("type") == kind][:1]
    if kind == "escalation":
        return [f"turn {x.index}: approval requested ({x.escalation})" for x in t.turns if x.escalation]
    if kind == "model_call":
        return [f"turn {x.index}: {x.model_calls} model call(s)" for x in t.turns if x.model_calls]
    if kind == "divergence":
        found = [f"diverged at {describe(x.divergence)}" for x in t.turns if x.divergence]
        return found or ([f"diverged at turn {t.diverged_at}"] if t.diverged_at is not None else [])
    raise ValueError(kind)


def must_not(expect: Expect, t: Transcript, m: dict[str, Any]) -> list[Score]:
    out = []
    for kind in expect.must_not:
        found = _must_not_findings(kind, t, m)
        out.append(Score(f"no_{kind}", not found, "; ".join(found[:5]) + (" ..." if len(found) > 5 else "")))
    return out


SCORERS: list[Scorer] = [outcome, final_status, error_codes, unit_price, discount, total, payment_terms, approval,
                         rounds, reply_types, text_must_not_contain]


def score_case(case: Case, t: Transcript, m: dict[str, Any]) -> list[Score]:
    scores = [s for s in (scorer(case.expect, t, m) for scorer in SCORERS) if s is not None]
    scores += must_not(case.expect, t, m)
    crashed = [x.exception for x in t.turns if x.exception]
    if crashed and "internal_error" not in case.expect.must_not:
        scores.append(Score("no_exception", False, "; ".join(crashed)))
    return scores
