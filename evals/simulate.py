"""`dealdesk eval simulate`: simulated procurement agents against the seller, in-process.

Scenarios are drawn deterministically from (seed, index): a SKU with stock in
the buyer's region, a quantity, a segment, payment terms and a reservation
price set from the decision surface so that a deal is possible (reservation at
or above the lowest price the seller may grant with the simulated operator) or
impossible (below it). Each worker process keeps one seller; with the default
throwaway store it resets stock between negotiations so each one sees the
catalog's stock, and every negotiation has its own buyer organisation (the
strategy's cross-negotiation memory is per organisation). With `--db` the
negotiations are written to that database as they are (no reset): an
operator's demo.

The report tells a missed deal (possible, no deal) from a correct walk-away
(impossible, no deal); a deal that was impossible by construction is flagged.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from decimal import Decimal
from typing import Any

from sqlalchemy import update

from agent.service import Buyer, Seller
from agent.store import schema as tables
from agent.store.db import transaction
from evals.buyers import STRATEGIES, Scenario
from evals.buyers.base import money
from evals.metrics import aggregate, conversation_metrics
from evals.runner import pool_context, quiet_worker, worker_scratch
from evals.session import Session, ThrowawayDb, open_seller
from tools.catalog.models import Catalog
from tools.errors import DealdeskError
from tools.policy.desk import Desk
from tools.policy.models import Policy
from tools.pricing.engine import today
from tools.pricing.models import BuyerContext

MAX_MESSAGES = 24
SEGMENTS = ("standard", "strategic", "distributor")
QUANTITIES = (1, 2, 5, 10, 18, 20, 25, 36, 50, 100, 150, 200, 250, 500, 1000, 1500, 2000)


# --- scenarios -------------------------------------------------------------------------


def _pool(catalog: Catalog, region: str) -> list[str]:
    book = catalog.book_for(region)
    if book is None:
        return []
    return sorted(sku for sku, p in catalog.products.items()
                  if book.id in p.prices and p.inventory.on_hand >= 30)


def scenario(index: int, strategy: str, seed: int, catalog: Catalog, policy: Policy, *,
             operator: str = "approve", on: dt.date | None = None, p_possible: float = 0.75) -> Scenario:
    rng = random.Random(f"{seed}:{index}:{strategy}")
    on = on or today()
    for _attempt in range(50):
        region = rng.choice(sorted(catalog.regions()))
        pool = _pool(catalog, region)
        if not pool:
            continue
        sku = rng.choice(pool)
        product = catalog.products[sku]
        segment = rng.choice(SEGMENTS)
        terms = rng.choices([None, "NET60", "PREPAY"], weights=[8, 1, 1])[0]
        desk = Desk(catalog, policy, BuyerContext(region=region, segment=segment,
                                                  payment_terms=terms or policy.doc.global_.payment_terms.default,
                                                  on=on))
        cap = product.inventory.on_hand * 4 // 10
        try:
            probe = desk.surface(sku, 1, terms)
        except DealdeskError:
            continue
        if probe.max_hold_units is not None:
            cap = min(cap, probe.max_hold_units)
        if probe.max_order_quantity is not None:
            cap = min(cap, probe.max_order_quantity)
        quantities = [q for q in QUANTITIES if probe.moq <= q <= cap]
        if not quantities:
            continue
        qty = rng.choice(quantities)
        try:
            s = desk.surface(sku, qty, terms)
        except DealdeskError:
            continue
        if terms is not None and terms not in s.allowed_terms:
            continue
        if operator == "approve":
            limit: Decimal | None = s.walk_away_price
        else:
            limit = s.auto_limit_price
            over_cap = s.autonomy_max_deal_value is not None and limit * qty > s.autonomy_max_deal_value
            if not s.autonomous or over_cap:
                limit = None
        possible = limit is not None and rng.random() < p_possible
        lst = s.list_price
        if possible:
            assert limit is not None
            reservation = max(limit, money(limit + (lst - limit) * Decimal(str(round(rng.uniform(0.1, 0.9), 4)))))
        else:
            base = limit if limit is not None else lst
            reservation = money(base * Decimal(str(round(rng.uniform(0.80, 0.97), 4))))
            if limit is not None and reservation >= limit:
                reservation = limit - Decimal("0.01")
        tier_q = None
        if strategy == "qswitch":
            bigger = [q for q in quantities if q > qty]
            tier_q = s.next_tier_min if s.next_tier_min and s.next_tier_min <= cap else (bigger[0] if bigger else None)
        return Scenario(index=index, strategy=strategy, seed=seed, sku=sku, quantity=qty, region=region,
                        segment=segment, currency=s.currency, terms=terms, list_price=lst, limit=limit,
                        reservation=reservation, possible=possible, tier_quantity=tier_q)
    raise RuntimeError("no scenario could be drawn from this catalog")


def scenarios(strategies: Sequence[str], n: int, seed: int, catalog: Catalog, policy: Policy, *,
              operator: str = "approve") -> list[Scenario]:
    """n scenarios, strategies in turn (index i plays strategies[i % len])."""
    on = today()
    return [scenario(i, strategies[i % len(strategies)], seed, catalog, policy, operator=operator, on=on)
            for i in range(n)]


# --- one negotiation -------------------------------------------------------------------


def play(seller: Seller, catalog: Catalog, policy: Policy, sc: Scenario, *, run: str,
         operator: str = "approve") -> dict[str, Any]:
    """One simulated negotiation; returns its result row."""
    rng = random.Random(f"{sc.seed}:{sc.index}:{sc.strategy}:buyer")
    bot = STRATEGIES[sc.strategy](sc, rng)
    org = f"sim-{sc.strategy}-{run}-{sc.index}"
    session = Session(seller, catalog, policy, Buyer(org=org, region=sc.region, segment=sc.segment),
                      f"sim-{run}-{sc.index:05d}")
    message = bot.opening()
    sent = 0
    while message is not None and sent < MAX_MESSAGES:
        rec = session.send(data=message.get("data"), text=message.get("text"))
        sent += 1
        if rec.exception:
            break
        reply = rec.reply or {}
        if operator in ("approve", "reject") and seller.store.pending_approval(session.nid) is not None:
            op = session.operator(operator, by="sim-operator")
            if op.reply is not None and op.reply.get("data") is not None:
                reply = op.reply
        message = bot.respond(reply.get("data"), reply.get("text") or "")
    t = session.finish()
    m = conversation_metrics(t)
    deal = m["outcome"] == "deal"
    price = next((r["unit_price"] for r in m["lines"] if r["sku"] == sc.sku), None) if deal else None
    if deal:
        verdict = "deal" if sc.possible else "impossible_deal"
    else:
        verdict = "missed_deal" if sc.possible else "correct_walkaway"
    return {"scenario": sc.as_dict(), "verdict": verdict, "price": price,
            "above_reservation": bool(deal and price is not None and Decimal(price) > sc.reservation),
            "metrics": m,
            "violations": [v for x in t.turns for v in x.violations],
            "leaks": [v for x in t.turns for v in x.leaks]}


# --- workers ---------------------------------------------------------------------------

_WORKER: dict[tuple[str, str, str], Any] = {}


def _seller(db: str | None, catalog: Catalog, policy: Policy) -> Seller:
    key = (db or "memory", catalog.version, policy.version)  # a seller per data: another policy is another seller
    if key not in _WORKER:
        if db:
            _WORKER[key] = open_seller(catalog, policy, db, durable_checkpoints=True)
        else:
            tmp = ThrowawayDb(worker_scratch(), f"sim-{secrets.token_hex(4)}")
            _WORKER[key] = open_seller(catalog, policy, tmp.url)
    return _WORKER[key]


def restock(seller: Seller) -> None:
    """Throwaway store only: release every hold and allocation, so the next negotiation sees full stock."""
    with transaction(seller.store.engine) as conn:
        conn.execute(update(tables.holds).where(tables.holds.c.status == "active").values(status="released"))
        conn.execute(update(tables.inventory).values(held=0, allocated=0))


def _data(catalog_path: str | None, policy_path: str | None) -> tuple[Catalog, Policy]:
    from agent.config import load_data

    return load_data(catalog_path, policy_path)


def data_meta(catalog: Catalog, policy: Policy, catalog_path: str | None = None,
              policy_path: str | None = None) -> dict[str, Any]:
    """A report's `catalog` and `policy`: the file each was read from and its content digest (`version`), so two
    reports say whether they ran on the same data."""
    from agent.config import catalog_path as cat_path
    from agent.config import policy_path as pol_path

    return {"catalog": {"path": str(cat_path(catalog_path)), "version": catalog.version},
            "policy": {"path": str(pol_path(policy_path)), "version": policy.version}}


def run_chunk(args: tuple[list[dict[str, Any]], str, str | None, str, str | None, str | None]) -> list[dict[str, Any]]:
    rows, run, db, operator, catalog_path, policy_path = args
    catalog, policy = _data(catalog_path, policy_path)
    seller = _seller(db, catalog, policy)
    out = []
    for row in rows:
        sc = Scenario(**{**row, "list_price": Decimal(row["list_price"]), "reservation": Decimal(row["reservation"]),
                         "limit": None if row["limit"] is None else Decimal(row["limit"])})
        cpu = time.process_time()
        try:
            out.append(play(seller, catalog, policy, sc, run=run, operator=operator))
        except Exception as exc:  # a harness failure is a result too, never a silent skip
            out.append({"scenario": row, "verdict": "harness_error", "price": None, "above_reservation": False,
                        "metrics": None, "violations": [], "leaks": [], "error": f"{type(exc).__name__}: {exc}"})
        if db is None:
            restock(seller)
        out[-1]["cpu_seconds"] = round(time.process_time() - cpu, 4)  # this worker's CPU, all its threads
    return out


def simulate(strategies: Sequence[str], n: int, *, seed: int = 0, jobs: int = 1, db: str | None = None,
             operator: str = "approve", catalog_path: str | None = None, policy_path: str | None = None,
             chunk: int = 10, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise ValueError(f"unknown strategies {unknown}; choose from {', '.join(STRATEGIES)}")
    started = time.perf_counter()
    catalog, policy = _data(catalog_path, policy_path)
    plan = [sc.as_dict() for sc in scenarios(list(strategies), n, seed, catalog, policy, operator=operator)]
    run = secrets.token_hex(3)
    chunks = [plan[i:i + chunk] for i in range(0, len(plan), chunk)]
    tasks = [(c, run, db, operator, catalog_path, policy_path) for c in chunks]
    rows: list[dict[str, Any]] = []
    if jobs <= 1:
        for task in tasks:
            got = run_chunk(task)
            rows += got
            if progress:
                progress(len(got))
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=pool_context(), initializer=quiet_worker) as pool:
            for f in as_completed([pool.submit(run_chunk, t) for t in tasks]):
                got = f.result()
                rows += got
                if progress:
                    progress(len(got))
    rows.sort(key=lambda r: r["scenario"]["index"])
    seconds = time.perf_counter() - started
    return {"meta": {"strategies": list(strategies), "n": n, "seed": seed, "jobs": jobs, "db": db or "throwaway",
                     "operator": operator, "seconds": round(seconds, 2),
                     **data_meta(catalog, policy, catalog_path, policy_path)},
            "summary": summarise(rows, seconds), "by_strategy": {s: summarise([r for r in rows
                                                                                if r["scenario"]["strategy"] == s])
                                                                   for s in strategies},
            "negotiations": rows}


def summarise(rows: list[dict[str, Any]], seconds: float | None = None) -> dict[str, Any]:
    ok = [r for r in rows if r["metrics"] is not None]
    verdicts = Counter(r["verdict"] for r in rows)
    possible = sum(1 for r in rows if r["scenario"]["possible"])
    agg = aggregate([r["metrics"] for r in ok]) if ok else {}
    out = {
        "negotiations": len(rows),
        "possible": possible,
        "verdicts": dict(verdicts),
        "deal_rate_when_possible": round(verdicts["deal"] / possible, 4) if possible else None,
        "violations": sum(len(r["violations"]) for r in rows),
        "leaks": sum(len(r["leaks"]) for r in rows),
        "impossible_deals": verdicts["impossible_deal"],
        "harness_errors": verdicts["harness_error"],
        "exceptions": sum(len(r["metrics"]["exceptions"]) for r in ok),
        **{k: agg.get(k) for k in ("turns", "deal_rate", "guardrail_blocks", "revisions", "fallbacks", "escalations",
                                    "error_codes", "violation_codes", "advantage_mean", "margin_kept_mean",
                                    "discount_percent_mean", "rounds_to_close_mean", "latency_p50_ms",
                                    "latency_p95_ms", "model_calls_per_turn", "tokens_per_turn")},
    }
    out["cpu_seconds"] = round(sum(r.get("cpu_seconds", 0) for r in rows), 2)
    if seconds is not None:
        out["seconds"] = round(seconds, 2)
        out["negotiations_per_second"] = round(len(rows) / seconds, 2) if seconds else None
    return out


def simulate_failed(report: dict[str, Any]) -> bool:
    s = report["summary"]
    return bool(s["violations"] or s["leaks"] or s["impossible_deals"] or s["harness_errors"] or s["exceptions"])


