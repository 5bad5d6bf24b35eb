"""Eval reports: JSON, a rich table for the terminal, a baseline diff, and a self-contained HTML page."""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import platform
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from evals.divergence import describe

REPORT_VERSION = 1
# metric -> (direction that is better, tolerance before a change counts)
TRACKED = {
    "violations": ("lower", 0),
    "leaks": ("lower", 0),
    "guardrail_blocks": ("lower", 0),
    "fallbacks": ("lower", 0),
    "advantage": ("higher", 0.005),
    "margin_kept": ("higher", 0.005),
    "discount_percent": ("lower", 0.05),
    "rounds": ("lower", 0),
    "escalations": ("lower", 0),
    "model_calls": ("lower", 0),
}


def build(results: list[dict[str, Any]], summary: dict[str, Any], *, suites: list[str], model: str,
          jobs: int, seconds: float, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON report. `data`: the run's `catalog` and `policy` ({"path", "version"}), the files every case
    that names none of its own runs on (its overrides merged in)."""
    return {"version": REPORT_VERSION,
            "meta": {"suites": suites, "model": model, "jobs": jobs, "seconds": round(seconds, 2),
                     "date": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
                     "python": platform.python_version(), "machine": platform.machine(), **(data or {})},
            "summary": summary, "cases": results}


def check_report(doc: Any) -> str | None:
    """Why `doc` cannot be read as an `eval run` JSON report (None when it can): a baseline must be one."""
    if not isinstance(doc, dict):
        return f"a JSON {type(doc).__name__}, not an eval run report (an object with `cases`)"
    cases = doc.get("cases")
    if not isinstance(cases, list):
        hint = " (an `eval simulate` report?)" if "negotiations" in doc else ""
        return f"no `cases` list: not an eval run report{hint}"
    for i, r in enumerate(cases):
        if not isinstance(r, dict) or not isinstance(r.get("id"), str) or not isinstance(r.get("status"), str):
            return f"cases[{i}] has no `id` and `status`: not an eval run report"
        if r.get("metrics") is not None and not isinstance(r["metrics"], dict):
            return f"cases[{i}].metrics is not an object"
    return None


def write_json(report: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")


# --- baseline diff -----------------------------------------------------------------------


def _by_case(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """First trial of each case (status is the worst over trials)."""
    out: dict[str, dict[str, Any]] = {}
    rank = {"error": 0, "fail": 1, "xfail": 2, "xpass": 3, "skip": 4, "pass": 5}
    for r in report.get("cases", []):
        cur = out.get(r["id"])
        if cur is None:
            out[r["id"]] = dict(r)
        elif rank.get(r["status"], 0) < rank.get(cur["status"], 0):
            out[r["id"]] = {**cur, "status": r["status"]}
    return out


def diff(baseline: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """Case-by-case changes; `regression` marks a change for the worse."""
    before, after = _by_case(baseline), _by_case(current)
    rows: list[dict[str, Any]] = []
    good = {"pass", "xpass", "skip"}
    for cid, a in after.items():
        b = before.get(cid)
        if b is None:
            rows.append({"id": cid, "change": "new", "regression": a["status"] not in good | {"xfail"},
                         "details": [f"new case ({a['status']})"]})
            continue
        details, regression = [], False
        if a["status"] != b["status"]:
            worse = b["status"] in good and a["status"] not in good
            details.append(f"status {b['status']} -> {a['status']}")
            failing = [f"{s.get('name')}: {s.get('explanation')}" for s in a.get("scores") or []
                       if isinstance(s, dict) and not s.get("passed")]
            if failing:  # why, in the row itself
                details.append(("failed " + "; ".join(failing))[:300])
            regression |= worse
        mb, ma = b.get("metrics") or {}, a.get("metrics") or {}
        if mb.get("outcome") != ma.get("outcome"):
            details.append(f"outcome {mb.get('outcome')} -> {ma.get('outcome')}")
            regression |= mb.get("outcome") == "deal"
        for key, (better, tol) in TRACKED.items():
            x, y = mb.get(key), ma.get(key)
            if x is None or y is None or abs(y - x) <= tol:
                continue
            worse = (y < x) if better == "higher" else (y > x)
            details.append(f"{key} {x} -> {y}{' (worse)' if worse else ''}")
            regression |= worse and key in ("violations", "leaks", "advantage", "margin_kept", "discount_percent")
        if details:
            rows.append({"id": cid, "change": "changed", "regression": regression, "details": details})
    for cid in before:
        if cid not in after:
            rows.append({"id": cid, "change": "removed", "regression": False, "details": ["not in this run"]})
    data = []
    for key in ("catalog", "policy"):  # what the two runs ran on, when a report says (older ones do not)
        was, now = (baseline.get("meta") or {}).get(key), (current.get("meta") or {}).get(key)
        if isinstance(was, dict) and isinstance(now, dict) and was.get("version") != now.get("version"):
            data.append(f"{key} {was.get('path')} ({str(was.get('version'))[:15]}) -> "
                        f"{now.get('path')} ({str(now.get('version'))[:15]})")
    return {"baseline_date": (baseline.get("meta") or {}).get("date"), "data_changes": data, "rows": rows,
            "regressions": sorted(r["id"] for r in rows if r["regression"])}


# --- terminal --------------------------------------------------------------------------

STYLE = {"pass": "green", "fail": "red", "error": "red", "xfail": "yellow", "xpass": "magenta", "skip": "dim"}


def _f(x: Any, nd: int = 2) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def divergence_note(r: dict[str, Any]) -> str:
    """A case result's divergence from its recording, in words ("" when it has none)."""
    m = r.get("metrics") or {}
    if m.get("divergences"):
        return "diverged at " + describe(m["divergences"])
    if m.get("diverged_at") is not None:
        return f"diverged at turn {m['diverged_at']}"
    return ""


def print_table(report: dict[str, Any], console: Console) -> None:
    table = Table("case", "status", "outcome", "price", "disc %", "adv", "rounds", "viol", "blocks", "esc",
                  "p50 ms", "why", title="dealdesk evals")
    for r in report["cases"]:
        m = r.get("metrics") or {}
        price = ", ".join(f"{ln['unit_price']}" for ln in m.get("lines", [])[:2])
        why = "; ".join(f"{s['name']}: {s['explanation']}" for s in r["scores"] if not s["passed"])[:120]
        if r["xfail"] and r["status"] == "xfail":
            why = f"known: {r['xfail']}"[:120]
        if r["status"] == "skip":
            why = r["scores"][0]["explanation"][:120]
        diverged = divergence_note(r)
        if diverged and "no_divergence" not in why:  # a failed must_not divergence already says where and what
            why = "; ".join(x for x in (why, diverged[:160]) if x)
        name = r["id"] + (f" #{r['trial']}" if r["trial"] else "")
        table.add_row(name, f"[{STYLE.get(r['status'], 'white')}]{r['status']}[/]", m.get("outcome", "-"), price,
                      _f(m.get("discount_percent")), _f(m.get("advantage")), _f(m.get("rounds")),
                      _f(m.get("violations")), _f(m.get("guardrail_blocks")), _f(m.get("escalations")),
                      _f(m.get("latency_p50_ms"), 0), escape(why))
    console.print(table)
    s = report["summary"]
    agg = s["metrics"]
    console.print(
        f"{s['cases']} cases, {s['trials']} trials: " + ", ".join(f"{k} {v}" for k, v in sorted(s["statuses"].items()))
        + f" | diverged {s.get('diverged', 0)}"
        + f" | pass^k {s['pass_hat_k']} | deal rate {_f(agg.get('deal_rate'))} | violations {agg.get('violations')}"
        f" | leaks {agg.get('leaks')} | guardrail blocks {agg.get('guardrail_blocks')}, revisions {agg.get('revisions')}"
        f" | advantage {_f(agg.get('advantage_mean'))} | latency p50/p95 {_f(agg.get('latency_p50_ms'), 0)}/"
        f"{_f(agg.get('latency_p95_ms'), 0)} ms | model calls/turn {_f(agg.get('model_calls_per_turn'))}"
        f" | {report['meta']['seconds']} s", highlight=False)
    if report.get("baseline"):
        d = report["baseline"]
        for change in d.get("data_changes") or []:
            console.print(f"data changed since the baseline: {change}", highlight=False, markup=False)
        console.print(f"baseline diff: {len(d['rows'])} changed, regressions: {', '.join(d['regressions']) or 'none'}")
        for row in d["rows"]:
            mark = "[red]REGRESSION[/red] " if row["regression"] else ""
            console.print(f"  {mark}{row['id']}: {'; '.join(row['details'])}", highlight=False)


def print_simulation(report: dict[str, Any], console: Console) -> None:
    table = Table("strategy", "n", "deal", "missed", "walk-away ok", "impossible deal", "viol", "leaks",
                  "blocks", "fallbacks", "esc", "errors", "adv", "disc %", "rounds", "p50 ms", "p95 ms",
                  title="dealdesk simulate")
    rows = list(report["by_strategy"].items()) + [("all", report["summary"])]
    for name, s in rows:
        v = s["verdicts"]
        table.add_row(name, str(s["negotiations"]), str(v.get("deal", 0)), str(v.get("missed_deal", 0)),
                      str(v.get("correct_walkaway", 0)), str(v.get("impossible_deal", 0)), str(s["violations"]),
                      str(s["leaks"]), _f(s.get("guardrail_blocks")), _f(s.get("fallbacks")), _f(s.get("escalations")),
                      ", ".join(f"{k} {n}" for k, n in sorted((s.get("error_codes") or {}).items())) or "-",
                      _f(s.get("advantage_mean")), _f(s.get("discount_percent_mean")),
                      _f(s.get("rounds_to_close_mean")), _f(s.get("latency_p50_ms"), 0), _f(s.get("latency_p95_ms"), 0))
    console.print(table)
    s = report["summary"]
    console.print(f"{s['negotiations']} negotiations in {s.get('seconds')} s ({s.get('negotiations_per_second')}/s, "
                  f"jobs {report['meta']['jobs']}, {s.get('cpu_seconds')} CPU s in the workers): {s['violations']} violations, {s['leaks']} leaks, "
                  f"{s['impossible_deals']} impossible deals, {s['harness_errors']} harness errors, "
                  f"{s['exceptions']} seller exceptions; deal rate when possible {_f(s['deal_rate_when_possible'])}",
                  highlight=False)


# --- HTML ------------------------------------------------------------------------------


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.find("<svg"):]


def concession_svg(case: dict[str, Any]) -> str | None:
    """Offer against round per SKU, with the floor and list price drawn in."""
    points = case.get("series", {}).get("points") or []
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"
    skus = sorted({p["sku"] for p in points})[:3]
    fig, ax = plt.subplots(figsize=(5.2, 2.6))
    colours = {"seller": "#1f77b4", "buyer": "#ff7f0e", "deal": "#2ca02c"}
    for sku in skus:
        for side in ("seller", "buyer", "deal"):
            xs = [p["round"] for p in points if p["sku"] == sku and p["side"] == side]
            ys = [float(p["price"]) for p in points if p["sku"] == sku and p["side"] == side]
            if xs:
                ax.plot(xs, ys, marker="o" if side != "deal" else "*", markersize=4 if side != "deal" else 12,
                        linestyle="-" if side != "deal" else "none", color=colours[side],
                        label=f"{side} {sku}" if len(skus) > 1 else side)
        lines = case["series"]["lines"].get(sku)
        if lines:
            ax.axhline(float(lines["list"]), color="#555", linestyle="--", linewidth=0.8)
            ax.axhline(float(lines["floor"]), color="#d62728", linestyle=":", linewidth=1)
            ax.annotate("list", (0.995, float(lines["list"])), xycoords=("axes fraction", "data"), ha="right",
                        va="bottom", fontsize=7, color="#555")
            ax.annotate("floor", (0.995, float(lines["floor"])), xycoords=("axes fraction", "data"), ha="right",
                        va="bottom", fontsize=7, color="#d62728")
    ax.set_xlabel("round")
    ax.set_ylabel("unit price")
    ax.set_title(case["id"], fontsize=9)
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    svg = _svg(fig)
    plt.close(fig)
    return svg


def outcome_svg(report: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"
    outcomes = Counter((r.get("metrics") or {}).get("outcome", "harness error") for r in report["cases"])
    statuses = Counter(r["status"] for r in report["cases"])
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 2.6))
    a1.bar(list(outcomes), list(outcomes.values()), color="#1f77b4")
    a1.set_title("outcomes", fontsize=9)
    a2.bar(list(statuses), list(statuses.values()),
           color=[{"pass": "#2ca02c", "fail": "#d62728", "error": "#d62728", "xfail": "#bcbd22",
                   "xpass": "#9467bd"}.get(k, "#777") for k in statuses])
    a2.set_title("statuses", fontsize=9)
    svg = _svg(fig)
    plt.close(fig)
    return svg


CSS = """body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}th{background:#f3f3f3}
.pass{color:#2a2}.fail,.error{color:#c22;font-weight:bold}.xfail{color:#a80}.xpass{color:#838}
.reg{background:#fdd}.charts{display:flex;flex-wrap:wrap;gap:12px}.chart{border:1px solid #eee;padding:4px}
code{font-size:12px}"""


def write_html(report: dict[str, Any], path: Path) -> None:
    e = html.escape
    s, agg = report["summary"], report["summary"]["metrics"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>dealdesk evals</title><style>{CSS}</style>"
             "</head><body>", "<h1>dealdesk evals</h1>",
             f"<p>{e(str(report['meta']['date']))} &middot; suites {e(', '.join(report['meta']['suites']))} &middot; "
             f"model {e(report['meta']['model'])} &middot; {report['meta']['seconds']} s</p>",
             "<h2>Summary</h2><table><tr>" + "".join(f"<th>{e(k)}</th>" for k in (
                 "cases", "trials", "statuses", "diverged", "pass^k", "deal rate", "violations", "leaks",
                 "guardrail blocks", "revisions", "escalations", "advantage", "margin kept", "discount %",
                 "rounds to close", "latency p50/p95 ms", "model calls/turn", "tokens/turn")) + "</tr><tr>" + "".join(
                 f"<td>{e(str(v))}</td>" for v in (
                     s["cases"], s["trials"], s["statuses"],
                     f"{s.get('diverged', 0)}" + (f" ({', '.join(s['diverged_cases'])})"
                                                  if s.get("diverged_cases") else ""),
                     s["pass_hat_k"], agg.get("deal_rate"),
                     agg.get("violations"), agg.get("leaks"), agg.get("guardrail_blocks"), agg.get("revisions"),
                     agg.get("escalations"), agg.get("advantage_mean"), agg.get("margin_kept_mean"),
                     agg.get("discount_percent_mean"), agg.get("rounds_to_close_mean"),
                     f"{agg.get('latency_p50_ms')}/{agg.get('latency_p95_ms')}", agg.get("model_calls_per_turn"),
                     agg.get("tokens_per_turn"))) + "</tr></table>",
             "<h2>Outcomes</h2>", outcome_svg(report)]
    if report.get("baseline"):
        d = report["baseline"]
        parts.append(f"<h2>Baseline diff</h2><p>baseline of {e(str(d.get('baseline_date')))}; regressions: "
                     f"{e(', '.join(d['regressions']) or 'none')}</p>"
                     + "".join(f"<p>data changed since the baseline: {e(c)}</p>" for c in d.get("data_changes") or [])
                     + "<table><tr><th>case</th><th>change</th>"
                     "<th>details</th></tr>")
        for row in d["rows"]:
            parts.append(f"<tr class='{'reg' if row['regression'] else ''}'><td>{e(row['id'])}</td>"
                         f"<td>{e(row['change'])}{' &mdash; regression' if row['regression'] else ''}</td>"
                         f"<td>{e('; '.join(row['details']))}</td></tr>")
        parts.append("</table>")
    parts.append("<h2>Cases</h2><table><tr><th>case</th><th>status</th><th>outcome</th><th>final prices</th>"
                 "<th>discount %</th><th>advantage</th><th>rounds</th><th>violations</th><th>blocks</th>"
                 "<th>escalations</th><th>errors</th><th>failed checks</th><th>divergence from the recording</th>"
                 "</tr>")
    for r in report["cases"]:
        m = r.get("metrics") or {}
        bad = "; ".join(f"{x['name']}: {x['explanation']}" for x in r["scores"] if not x["passed"])
        if r["xfail"]:
            bad = f"[known: {r['xfail']}] " + bad
        parts.append(
            f"<tr><td><a href='#c-{e(r['id'])}'>{e(r['id'])}</a>{' #' + str(r['trial']) if r['trial'] else ''}</td>"
            f"<td class='{r['status']}'>{r['status']}</td><td>{e(str(m.get('outcome', '-')))}</td>"
            f"<td>{e(', '.join(ln['sku'] + ' ' + ln['unit_price'] for ln in m.get('lines', [])))}</td>"
            f"<td>{_f(m.get('discount_percent'))}</td><td>{_f(m.get('advantage'))}</td><td>{_f(m.get('rounds'))}</td>"
            f"<td>{_f(m.get('violations'))}</td><td>{_f(m.get('guardrail_blocks'))}</td>"
            f"<td>{_f(m.get('escalations'))}</td><td>{e(', '.join(m.get('error_codes') or []))}</td>"
            f"<td>{e(bad)}</td><td>{e(divergence_note(r))}</td></tr>")
    parts.append("</table><h2>Concession charts</h2><div class='charts'>")
    for r in report["cases"]:
        if r["trial"]:
            continue
        svg = concession_svg(r)
        if svg:
            parts.append(f"<div class='chart' id='c-{e(r['id'])}'>{svg}</div>")
    parts.append("</div></body></html>\n")
    path.write_text("\n".join(parts), encoding="utf-8")
