"""The eval runner: replay each case through the seller in-process, score it, gather metrics.

Structured like inspect_ai: a *dataset* (cases from JSONL suites), a *solver*
(`run_case`: the case's turns against a `Seller` on a throwaway SQLite store
with in-memory checkpoints) and *scorers* (`evals.scorers`). Cases run in
worker processes with `jobs > 1`; with `repeat` K each case runs K times and
the report gives pass^k.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import multiprocessing as mp
import re
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from agent.graph import SellerConfig
from agent.service import Buyer
from evals.case import BuyerTurn, Case, ClockTurn, OperatorTurn, RecordedReply, RestartTurn
from evals.clock import EvalClock
from evals.divergence import divergence
from evals.fixtures import load_fixture
from evals.metrics import aggregate, conversation_metrics, pass_hat_k
from evals.scorers import score_case
from evals.session import (NO_PENDING, Session, ThrowawayDb, Transcript, make_model, normalise, open_seller,
                           scratch_dir, substitute)

_SCRATCH: Path | None = None


def worker_scratch() -> Path:
    global _SCRATCH
    if _SCRATCH is None:
        _SCRATCH = scratch_dir()
        atexit.register(shutil.rmtree, str(_SCRATCH), True)
    return _SCRATCH


_PLACEHOLDER = re.compile(r"\$(?:proposal_id|version|price(?::[A-Za-z0-9_\-]+)?)")


def _placeholders(data: Any, text: str | None) -> list[str]:
    """The placeholders a buyer turn names ($proposal_id, $version, $price[:SKU]), in its data part or text."""
    return sorted(set(_PLACEHOLDER.findall(json.dumps(data) if data is not None else "") +
                      _PLACEHOLDER.findall(text or "")))


class HarnessError(RuntimeError):
    """The case cannot be played as written (e.g. an operator turn with no approval to decide): not a seller
    finding, reported as the case's harness error with this message."""


def needs_clock(case: Case) -> bool:
    return case.fixture.clock is not None or any(isinstance(t, ClockTurn) for t in case.turns)


def run_case(case: Case, *, model: str = "offline", trial: int = 0,
             data: tuple[str | None, str | None] = (None, None)) -> dict[str, Any]:
    """Run one case once; returns the JSON-able result (status, scores, metrics, series).

    `data`: the run's (catalog, policy) files for cases that name none (None: the demo files)."""
    started = time.perf_counter()
    catalog, policy = load_fixture(case.fixture, catalog=data[0], policy=data[1])
    b = case.fixture.buyer
    buyer = Buyer(org=b.org, region=b.region, segment=b.segment, currency=b.currency, payment_terms=b.payment_terms)
    db = ThrowawayDb(worker_scratch(), f"{case.id}-{trial}-{uuid.uuid4().hex[:8]}")
    config = SellerConfig(max_revisions=case.fixture.max_revisions) if case.fixture.max_revisions is not None else None
    clock = EvalClock(case.fixture.clock) if needs_clock(case) else None
    seller = open_seller(catalog, policy, db.url, model=make_model(model), config=config)
    try:
        session = Session(seller, catalog, policy, buyer, f"eval-{case.id}-{trial}", clock=clock)
        play(case, session)
        transcript = session.finish()
    finally:
        seller.close()
        db.remove()
    return result_of(case, transcript, trial, time.perf_counter() - started)


def play(case: Case, session: Any) -> None:
    """Play a case's turns into a session (in-process `Session` or `evals.remote.RemoteSession`).

    A turn whose recorded seller reply differs marks the divergence (each differing field with its recorded and
    live value, `TurnRecord.divergence`); `on_divergence: stop` ends there. An operator turn that finds no
    pending approval is a `HarnessError` ("turn N: no pending approval to approve").
    """
    for turn in case.turns:
        if isinstance(turn, ClockTurn):
            session.advance(dt.timedelta(days=turn.advance_days, hours=turn.advance_hours))
            continue
        if isinstance(turn, RestartTurn):
            session.restart()
            continue
        if isinstance(turn, BuyerTurn):
            early = _placeholders(turn.data, turn.text) if session.current is None else []
            if early:
                raise HarnessError(f"turn {len(session.transcript.turns)}: {', '.join(early)} used before the seller "
                                   "made any proposal")
            rec = session.send(data=substitute(turn.data, session.current),
                               text=substitute(turn.text, session.current) if turn.text is not None else None)
        else:
            assert isinstance(turn, OperatorTurn)
            rec = session.operator(turn.action, by=turn.by, note=turn.note, prices=turn.prices)
            if rec.note == NO_PENDING and rec.reply is None and not rec.exception:
                raise HarnessError(f"turn {rec.index}: no pending approval to {turn.action}")
            if rec.refused:
                raise HarnessError(f"turn {rec.index}: operator {turn.action} refused: {rec.refused}")
        diffs = divergence(turn.seller, (rec.reply or {}).get("data"), rec.index) if turn.seller is not None else []
        if diffs:
            rec.diverged = True
            rec.divergence = diffs
            if session.transcript.diverged_at is None:
                session.transcript.diverged_at = rec.index
            if case.on_divergence == "stop":
                session.transcript.stopped = True
                break
        if rec.exception:
            break


def series_of(t: Transcript) -> dict[str, Any]:
    """The concession chart's data: offers per round and side, with each SKU's list and floor."""
    points: list[dict[str, Any]] = []
    rnd = 0
    lines: dict[str, dict[str, str]] = {}
    for turn in t.turns:
        lines.update(turn.lines)
        if turn.role == "buyer":
            rnd += 1
            for sku, price in turn.asked.items():
                points.append({"round": rnd, "side": "buyer", "sku": sku, "price": price})
        data = (turn.reply or {}).get("data") or {}
        if data.get("type") in ("proposal", "deal"):
            for i in data.get("items") or []:
                points.append({"round": rnd, "side": "deal" if data["type"] == "deal" else "seller",
                               "sku": i["sku"], "price": str(i["unit_price"])})
    return {"points": points, "lines": {k: {"list": v["list"], "floor": v["floor"], "walk_away": v["walk_away"]}
                                        for k, v in lines.items()}}


def result_of(case: Case, t: Transcript, trial: int, seconds: float) -> dict[str, Any]:
    m = conversation_metrics(t)
    scores = score_case(case, t, m)
    passed = all(s.passed for s in scores)
    if case.xfail:
        status = "xpass" if passed else "xfail"
    else:
        status = "pass" if passed else "fail"
    return {
        "id": case.id, "trial": trial, "tags": case.tags, "description": case.description, "xfail": case.xfail,
        "status": status, "passed": passed, "seconds": round(seconds, 3),
        "scores": [s.as_dict() for s in scores], "metrics": m, "series": series_of(t),
        "transcript": [{"index": x.index, "role": x.role, "sent": x.sent,
                        "reply": None if x.reply is None else {"type": x.reply.get("type"),
                                                               "summary": normalise(x.reply.get("data")),
                                                               "text": (x.reply.get("text") or "")[:400]},
                        "latency_ms": x.latency_ms, "violations": x.violations, "leaks": x.leaks,
                        "guardrail_blocks": x.guardrail_blocks, "fallback": x.fallback, "escalation": x.escalation,
                        "diverged": x.diverged, "divergence": x.divergence,
                        "note": x.note if x.exception else None, "exception": x.exception}
                       for x in t.turns],
    }


def _run_task(args: tuple[str, int, str, Any, tuple[str | None, str | None]]) -> dict[str, Any]:
    case_json, trial, model, target, data = args
    case = Case.model_validate_json(case_json)
    try:
        if target is not None:
            from evals.remote import run_remote_case

            return run_remote_case(case, target, trial=trial)
        return run_case(case, model=model, trial=trial, data=data)
    except Exception as exc:  # a harness or fixture problem: report it as a failed case
        return harness_error(case, trial, exc)


def skipped(case: Case, trial: int, reason: str) -> dict[str, Any]:
    return {"id": case.id, "trial": trial, "tags": case.tags, "description": case.description, "xfail": case.xfail,
            "status": "skip", "passed": True, "seconds": 0.0,
            "scores": [{"name": "skipped", "passed": True, "explanation": reason}],
            "metrics": None, "series": {"points": [], "lines": {}}, "transcript": []}


def harness_error(case: Case, trial: int, exc: BaseException) -> dict[str, Any]:
    msg = str(exc) if isinstance(exc, HarnessError) else f"{type(exc).__name__}: {exc}"
    return {"id": case.id, "trial": trial, "tags": case.tags, "description": case.description, "xfail": case.xfail,
            "status": "error", "passed": False, "seconds": 0.0,
            "scores": [{"name": "harness", "passed": False, "explanation": msg[:2000]}],
            "metrics": None, "series": {"points": [], "lines": {}}, "transcript": []}


def quiet_worker() -> None:
    """Worker initializer: decision records go through structlog into the void, not onto the terminal."""
    import os

    from agent.records import configure_logging

    configure_logging(open(os.devnull, "w"))  # noqa: SIM115


def pool_context() -> mp.context.BaseContext:
    """forkserver (with the seller preloaded) where available: no fork of a threaded parent, fast workers."""
    try:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["evals.runner", "evals.simulate"])
        return ctx
    except ValueError:
        return mp.get_context("spawn")


def run_cases(cases: Sequence[Case], *, jobs: int = 1, repeat: int = 1, model: str = "offline",
              progress: Callable[[dict[str, Any]], None] | None = None, target: Any = None,
              catalog: str | Path | None = None, policy: str | Path | None = None) -> list[dict[str, Any]]:
    """All cases x `repeat` trials; results in case order. `target` (evals.remote.Target): a live server.
    `catalog` / `policy`: the files every case that names none runs on (default: the demo files)."""
    data = (None if catalog is None else str(catalog), None if policy is None else str(policy))
    tasks = [(c.model_dump_json(), trial, model, target, data) for c in cases for trial in range(repeat)]
    results: list[dict[str, Any]] = []
    if jobs <= 1 or len(tasks) <= 1:
        for task in tasks:
            r = _run_task(task)
            results.append(r)
            if progress:
                progress(r)
    else:
        with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=pool_context(),
                                 initializer=quiet_worker) as pool:
            futures = [pool.submit(_run_task, t) for t in tasks]
            for f in as_completed(futures):
                r = f.result()
                results.append(r)
                if progress:
                    progress(r)
    order = {c.id: i for i, c in enumerate(cases)}
    results.sort(key=lambda r: (order[r["id"]], r["trial"]))
    return results


def summarise(results: list[dict[str, Any]], *, repeat: int = 1) -> dict[str, Any]:
    """The report's summary: statuses, pass^k, aggregate metrics."""
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    trials: dict[str, list[bool]] = {}
    for r in results:
        if r["xfail"] or r["status"] == "skip":
            continue
        trials.setdefault(r["id"], []).append(r["passed"])
    diverged = sorted({r["id"] for r in results if (r["metrics"] or {}).get("diverged_at") is not None})
    out = {
        "cases": len({r["id"] for r in results}),
        "trials": len(results),
        "repeat": repeat,
        "statuses": statuses,
        "failed": sorted({r["id"] for r in results if r["status"] in ("fail", "error")}),
        "diverged": len(diverged),  # cases a seller reply of which differed from the recording (any trial)
        "diverged_cases": diverged,
        "pass_hat_k": {str(k): pass_hat_k(trials, k) for k in range(1, repeat + 1)},
        "metrics": aggregate([r["metrics"] for r in results if r["metrics"] is not None]),
    }
    return out


def failed(results: list[dict[str, Any]]) -> bool:
    return any(r["status"] in ("fail", "error") for r in results)


def unrecordable(results: list[dict[str, Any]]) -> dict[str, str]:
    """Case id -> why its replies cannot be recorded: a harness error (fixture, override, a turn that cannot be
    played) or a turn the seller raised on (the rest of the case never ran)."""
    out: dict[str, str] = {}
    for r in results:
        if r["trial"] != 0:
            continue
        if r["status"] == "error":
            out[r["id"]] = "; ".join(s["explanation"] for s in r["scores"] if not s["passed"]) or "harness error"
            continue
        crashed = [f"turn {x['index']}: {x['exception']}" for x in r["transcript"] if x.get("exception")]
        if crashed:
            out[r["id"]] = "; ".join(crashed)
    return out


def record(cases: Sequence[Case], results: list[dict[str, Any]]) -> list[Case]:
    """The cases with each buyer/operator turn's `seller` set to the reply just observed (snapshot update).

    A case that could not run through (`unrecordable`) is returned unchanged.
    """
    by_id = {r["id"]: r for r in results if r["trial"] == 0}
    skip = unrecordable(results)
    out = []
    for case in cases:
        r = by_id.get(case.id)
        if r is None or not r["transcript"] or case.id in skip:
            out.append(case)
            continue
        turns = []
        for turn, seen in zip(case.turns, r["transcript"]):
            if isinstance(turn, (BuyerTurn, OperatorTurn)) and seen.get("reply") is not None:
                summary = {k: v for k, v in (seen["reply"]["summary"] or {}).items() if v is not None}
                turn = turn.model_copy(update={"seller": RecordedReply(**summary)})
            turns.append(turn)
        turns += case.turns[len(turns):]
        out.append(case.model_copy(update={"turns": turns}))
    return out
