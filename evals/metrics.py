"""Negotiation metrics per conversation and in aggregate (NegMAS-style advantage, tau-bench pass^k).

Per conversation (from a `Transcript`):
- outcome (deal / no_deal / error), final status, error codes returned;
- policy violations sent (independent check), floor leaks, guardrail blocks,
  revisions, fallbacks, escalations (approval requests);
- for the final lines (the deal's, else the last proposal's): unit price,
  discount off list, seller advantage (price - floor) / (list - floor) and
  margin kept (price - cost) / (list - cost);
- rounds (buyer turns until the deal, or in all), latency per turn, model
  calls and tokens per turn.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from decimal import Decimal
from typing import Any

from evals.session import Transcript


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    k = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[k - 1]


def _r(x: float | None, n: int = 4) -> float | None:
    return None if x is None else round(x, n)


def final_lines(t: Transcript) -> tuple[dict[str, Any] | None, str | None]:
    """The final offer: the deal if any, else the last proposal; and its kind."""
    deal = next((r["data"] for r in reversed(t.replies()) if r.get("type") == "deal"), None)
    if deal is not None:
        return deal, "deal"
    prop = next((r["data"] for r in reversed(t.replies()) if r.get("type") == "proposal"), None)
    return prop, ("proposal" if prop is not None else None)


def outcome_of(t: Transcript) -> str:
    replies = [r for r in t.replies() if r.get("data") is not None]
    if any(r["type"] == "deal" for r in replies):
        return "deal"
    if any(turn.exception for turn in t.turns):
        return "error"
    if replies and replies[-1]["type"] == "error":
        return "error"
    return "no_deal"


def _surface_lines(t: Transcript) -> dict[str, dict[str, str]]:
    lines: dict[str, dict[str, str]] = {}
    for turn in t.turns:
        lines.update(turn.lines)
    return lines


def conversation_metrics(t: Transcript) -> dict[str, Any]:
    acting = [x for x in t.turns if x.role in ("buyer", "operator") and (x.latency_ms > 0 or x.reply is not None)]
    buyer_turns = [x for x in t.turns if x.role == "buyer"]
    outcome = outcome_of(t)
    final, final_kind = final_lines(t)
    lines = _surface_lines(t)
    deal_turn = next((i for i, x in enumerate(buyer_turns) if x.reply and x.reply.get("type") == "deal"), None)
    per_line = []
    for item in (final or {}).get("items") or []:
        sku, price = item["sku"], Decimal(str(item["unit_price"]))
        s = lines.get(sku)
        row: dict[str, Any] = {"sku": sku, "quantity": str(item["quantity"]), "unit_price": str(price)}
        if s:
            lst, floor, cost = Decimal(s["list"]), Decimal(s["floor"]), Decimal(s["cost"])
            row["list"] = s["list"]
            row["floor"] = s["floor"]
            row["discount_percent"] = float((lst - price) / lst * 100) if lst else None
            row["advantage"] = float((price - floor) / (lst - floor)) if lst > floor else None
            row["margin_kept"] = float((price - cost) / (lst - cost)) if lst > cost else None
            row["margin_percent"] = float((price - cost) / price * 100) if price else None
        per_line.append(row)

    def mean_of(key: str) -> float | None:
        vals = [r[key] for r in per_line if r.get(key) is not None]
        return statistics.fmean(vals) if vals else None

    latencies = [x.latency_ms for x in acting]
    errors = [x.reply["data"].get("code") for x in t.turns
              if x.reply and x.reply.get("type") == "error" and x.reply.get("data")]
    if any(x.exception for x in t.turns):
        errors.append("exception")
    return {
        "outcome": outcome,
        "final_status": t.final_status,
        "final_kind": final_kind,
        "final_terms": (final or {}).get("payment_terms"),
        "final_total": (final or {}).get("total"),
        "lines": per_line,
        "discount_percent": _r(mean_of("discount_percent"), 3),
        "advantage": _r(mean_of("advantage")),
        "margin_kept": _r(mean_of("margin_kept")),
        "violations": sum(len(x.violations) for x in t.turns),
        "violation_codes": sorted({v["code"] for x in t.turns for v in x.violations}),
        "violating_messages": sum(1 for x in t.turns if x.violations),
        "leaks": sum(len(x.leaks) for x in t.turns),
        "guardrail_blocks": sum(x.guardrail_blocks for x in t.turns),
        "revisions": sum(x.revisions for x in t.turns),
        "fallbacks": sum(1 for x in t.turns if x.fallback),
        "escalations": sum(1 for x in t.turns if x.escalation),
        "approvals_decided": len(t.approvals),
        "error_codes": errors,
        "rounds": (deal_turn + 1) if deal_turn is not None else len(buyer_turns),
        "turns": len(acting),
        "latency_ms": [round(v, 2) for v in latencies],
        "latency_p50_ms": _r(percentile(latencies, 50), 2),
        "latency_p95_ms": _r(percentile(latencies, 95), 2),
        "model_calls": sum(x.model_calls for x in acting),
        "tokens": sum(x.tokens for x in acting),
        "model_calls_per_turn": _r(sum(x.model_calls for x in acting) / len(acting), 3) if acting else None,
        "tokens_per_turn": _r(sum(x.tokens for x in acting) / len(acting), 1) if acting else None,
        "diverged_at": t.diverged_at,
        # each recorded field the live seller answered differently: {"turn", "field", "recorded", "live"}
        "divergences": [d for x in t.turns for d in x.divergence],
        "exceptions": [x.exception for x in t.turns if x.exception],
    }


def pass_hat_k(trials: dict[str, list[bool]], k: int) -> float | None:
    """tau-bench pass^k: the chance that k trials of a case drawn from its n all pass, averaged over cases."""
    vals = []
    for results in trials.values():
        n, c = len(results), sum(results)
        if n < k:
            continue
        vals.append(math.comb(c, k) / math.comb(n, k))
    return round(statistics.fmean(vals), 4) if vals else None


def aggregate(metrics: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate conversation metrics (means over the conversations that have the figure)."""
    n = len(metrics)

    def mean(key: str, where=lambda m: True) -> float | None:
        vals = [m[key] for m in metrics if m.get(key) is not None and where(m)]
        return _r(statistics.fmean(vals)) if vals else None

    latencies = [v for m in metrics for v in m["latency_ms"]]
    turns = sum(m["turns"] for m in metrics)
    deals = [m for m in metrics if m["outcome"] == "deal"]
    return {
        "conversations": n,
        "turns": turns,
        "deals": len(deals),
        "deal_rate": _r(len(deals) / n) if n else None,
        "outcomes": dict(Counter(m["outcome"] for m in metrics)),
        "violations": sum(m["violations"] for m in metrics),
        "violation_codes": dict(Counter(c for m in metrics for c in m["violation_codes"])),
        "leaks": sum(m["leaks"] for m in metrics),
        "guardrail_blocks": sum(m["guardrail_blocks"] for m in metrics),
        "revisions": sum(m["revisions"] for m in metrics),
        "fallbacks": sum(m["fallbacks"] for m in metrics),
        "escalations": sum(m["escalations"] for m in metrics),
        "error_codes": dict(Counter(c for m in metrics for c in m["error_codes"])),
        "advantage_mean": mean("advantage", lambda m: m["outcome"] == "deal"),
        "margin_kept_mean": mean("margin_kept", lambda m: m["outcome"] == "deal"),
        "discount_percent_mean": mean("discount_percent", lambda m: m["outcome"] == "deal"),
        "rounds_to_close_mean": mean("rounds", lambda m: m["outcome"] == "deal"),
        "latency_p50_ms": _r(percentile(latencies, 50), 2),
        "latency_p95_ms": _r(percentile(latencies, 95), 2),
        "model_calls_per_turn": _r(sum(m["model_calls"] for m in metrics) / turns, 3) if turns else None,
        "tokens_per_turn": _r(sum(m["tokens"] for m in metrics) / turns, 1) if turns else None,
    }
