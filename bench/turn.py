"""Seller turn benchmark: latency of one buyer message through `Seller.send`, against a bare LangGraph graph.

Run: `.venv/bin/python bench/turn.py [--turns 200] [--db sqlite|memory|postgres] [--freeze] [--json out.json] [--profile]
[--stub PART,...]`. `--stub` leaves parts of the seller's turn out (bench/turn_instructions.py's STUBS: the
records' persistence and audit entry, the guardrail's text check, the input digests, the log lines), to see what
they cost in time; the report then says so, and such a run is not a measure of dealdesk.

What is measured (offline model, in process, one thread, results go in BENCHMARKS.md):

- *Structured turns*: data parts on demo SKUs, an `rfq` then three `counter_offer`s
  per negotiation (a fresh negotiation every four turns, so none closes on max rounds).
- *Text turns*: plain text through the offline model, per negotiation
  "need 120 x BRG-6204, can you do 3.13 EUR?", "what is the bore of BRG-6204?",
  "can you do 3.23?", "what's the lead time?".
- *Bare graph*: a chain of no-op LangGraph nodes, as many as the seller graph runs in
  a turn (named by a callback in the warm-up: begin, understand, prepare, agent, tools,
  agent, guardrail, approval, commit; counted for every timed turn from the checkpoint
  steps), on the same kind of checkpointer (`make_checkpointer`: a SqliteSaver on a WAL
  file for SQLite), invoked through `Seller._run` itself with the store calls stubbed
  (so the same input state, thread_id per negotiation, RECURSION_LIMIT and durability;
  four turns a thread). ratio = dealdesk p50 / bare p50; the issue's target is <= 2x.
- Model calls per turn (`Reply.model_calls`), reply types, guardrail trips and fallbacks.
  Any error or closed reply in a timed turn makes the run exit 1.

The three kinds are interleaved negotiation by negotiation, so load from other
processes on the machine falls on all of them alike. Databases:

- sqlite (default, the deployment default): store and checkpoints in files in a temp dir.
- memory: `sqlite:///:memory:` for the store, hence an InMemorySaver (what the service
  builds for it); the bare graph gets an InMemorySaver too. No file I/O, no fsync.
- postgres: `--pg-url` (default postgresql://postgres@127.0.0.1:5432/test), in a fresh
  schema `dd_bench_<hex>` that is dropped afterwards (also on SIGTERM); nothing else is
  touched. lock_timeout=20s, so a turn stuck on a lock fails instead of hanging.

Decision records are logged to a file in the temp dir, as `dealdesk` deploys them.

`--profile` adds two untimed passes and prints the hot spots: a wall-clock stack sampler
(pyinstrument is not installed) for where a turn's time goes, by graph node and by
cross-cutting bucket (store, COMMIT, pricing, guardrail, records...), worker threads
included; and cProfile for calls per turn and own time of C functions. Both lean: the sampler is a
thread, so it mostly gets to look while the calling thread has released the GIL (in a sqlite3 or psycopg
call, a lock wait), which it then over-counts (it gave a SQLite turn's statements many times the share
their own timing shows); cProfile adds a fixed cost to every Python call, so call-heavy code looks
dearer than it is. For before/after work count instructions with `bench/turn_instructions.py`.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import importlib.metadata as md
import io
import json
import os
import platform
import pstats
import secrets
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack, nullcontext
from contextvars import ContextVar
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, TypedDict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from machine import cpu_model, mem_gib  # noqa: E402 (bench/ is the script's directory)
from pgschema import throwaway_schema  # noqa: E402
from turn_instructions import STUBS, apply_stubs, stub_names  # noqa: E402

from langchain_core.callbacks import BaseCallbackHandler  # noqa: E402
from langchain_core.tracers.context import register_configure_hook  # noqa: E402
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from langgraph.graph import END, START, StateGraph  # noqa: E402

from agent.config import load_data  # noqa: E402
from agent.records import configure_logging  # noqa: E402
from agent.server import heap  # noqa: E402
from agent.service import TURN_LOCK_STRIPES, Buyer, Reply, Seller, make_checkpointer  # noqa: E402
from tools.policy.desk import Desk  # noqa: E402
from tools.pricing.models import BuyerContext  # noqa: E402

ROOT = str(Path(__file__).resolve().parent.parent) + os.sep
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
TURNS_PER_NEGOTIATION = 4
# Demo SKUs with enough stock for many negotiations' holds (EU book).
STRUCTURED_SKUS = [("BRG-6204", 120), ("FST-M8X30-A2", 200), ("BRG-6205", 80), ("SNS-CBL-PUR-4C", 60),
                   ("FST-M8-NUT-A2", 300), ("BRG-SEAL-20477", 150)]
TEXT_SKUS = [("BRG-6204", 120), ("BRG-6205", 80), ("BRG-6204-ZZ", 60)]  # bearings: they have a bore
CENT = Decimal("0.01")


# --- machine -------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu, mem = cpu_model(), mem_gib()

    def ver(name: str) -> str | None:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return None

    def git(*cmd: str) -> str | None:
        import subprocess

        try:
            return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    dirty = git("status", "--porcelain", "--", "agent", "tools")
    return {"commit": git("rev-parse", "--short", "HEAD"),
            "uncommitted_agent_tools_files": len(dirty.splitlines()) if dirty else 0,
            "cpu": cpu, "cores": os.cpu_count(), "mem_gib": mem, "arch": platform.machine(),
            "python": platform.python_version(), "langgraph": ver("langgraph"),
            "langgraph_checkpoint_sqlite": ver("langgraph-checkpoint-sqlite"),
            "langgraph_checkpoint_postgres": ver("langgraph-checkpoint-postgres"), "sqlalchemy": ver("sqlalchemy"),
            "date": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(), "loadavg_start": os.getloadavg()}


# --- databases ---------------------------------------------------------------------------


class Db:
    """Where the store and the checkpoints live for one run; cleans up after itself."""

    def __init__(self, kind: str, pg_url: str, stack: ExitStack):
        self.kind = kind
        self.stack = stack
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dd-bench-turn-")))
        self.tmp = tmp
        if kind == "sqlite":
            self.url = f"sqlite:///{tmp}/dealdesk.db"
            self.bare_url = f"sqlite:///{tmp}/bare.db"
        elif kind == "memory":
            self.url = "sqlite:///:memory:"  # the service pairs it with an InMemorySaver
            self.bare_url = None
        elif kind == "postgres":
            self.url = self._pg_schema(pg_url)
            self.bare_url = self.url  # same schema; the bare graph has its own thread ids
        else:
            raise SystemExit(f"unknown --db {kind}")

    def _pg_schema(self, pg_url: str) -> str:
        # lock_timeout: a turn that waits on a lock fails instead of hanging (an open transaction
        # would also hold up other sessions' CREATE INDEX CONCURRENTLY, e.g. PostgresSaver.setup).
        return throwaway_schema(pg_url, self.stack, options="-clock_timeout=20s")

    def seller(self, catalog, policy) -> Seller:
        seller = Seller.open(catalog, policy, self.url)
        self.stack.callback(seller.close)
        return seller

    def bare_checkpointer(self) -> Any:
        cp = InMemorySaver() if self.bare_url is None else make_checkpointer(self.bare_url)
        conn = getattr(cp, "conn", None)
        if conn is not None:
            self.stack.callback(conn.close)
        return cp


# --- the bare graph ---------------------------------------------------------------------


class BareState(TypedDict, total=False):
    negotiation_id: str
    buyer_org: str
    turn: int
    message_id: str
    inbound: dict[str, Any]


def _noop(state: BareState) -> dict[str, Any]:
    return {}


def bare_graph(names: list[str], checkpointer: Any, bodies: list[Callable[[BareState], dict]] | None = None):
    """A chain of no-op nodes, one per node the seller graph visits in a turn (or `bodies`, one per node:
    bench/turn_anatomy.py's control with nodes that are busy and write nothing)."""
    g = StateGraph(BareState)
    seen: Counter[str] = Counter()
    unique = []
    for n in names:
        seen[n] += 1
        unique.append(n if seen[n] == 1 else f"{n}_{seen[n]}")
    for i, n in enumerate(unique):
        g.add_node(n, bodies[i] if bodies else _noop)
    g.add_edge(START, unique[0])
    for a, b in zip(unique, unique[1:]):
        g.add_edge(a, b)
    g.add_edge(unique[-1], END)
    return g.compile(checkpointer=checkpointer)


# --- buyer scripts ------------------------------------------------------------------------


def _money(x: Decimal) -> str:
    return str(x.quantize(CENT, rounding=ROUND_HALF_UP))


class Scripts:
    """The buyer messages of one negotiation, structured or text; list prices from the EU book."""

    def __init__(self, catalog, policy):
        desk = Desk(catalog, policy, BuyerContext(region="EU", on=dt.date.today()))
        self.list = {(s, q): desk.surface(s, q).list_price for s, q in {*STRUCTURED_SKUS, *TEXT_SKUS}}
        self.n = 0

    def structured(self, send: Callable[[dict], Reply]) -> list[Reply]:
        sku, qty = STRUCTURED_SKUS[self.n % len(STRUCTURED_SKUS)]
        self.n += 1
        lp = self.list[(sku, qty)]
        replies = [send({"type": "rfq", "items": [{"sku": sku, "quantity": str(qty)}]})]
        for share in ("0.80", "0.84", "0.87"):
            last = replies[-1].data or {}
            if last.get("type") != "proposal":
                break
            replies.append(send({"type": "counter_offer", "proposal_id": last["proposal_id"],
                                 "version": last["version"],
                                 "items": [{"sku": sku, "quantity": str(qty),
                                            "unit_price": _money(lp * Decimal(share))}]}))
        return replies

    def text_messages(self, k: int) -> list[str]:
        sku, qty = TEXT_SKUS[k % len(TEXT_SKUS)]
        lp = self.list[(sku, qty)]
        return [f"need {qty} x {sku}, can you do {_money(lp * Decimal('0.92'))} EUR?",
                f"what is the bore of {sku}?",
                f"can you do {_money(lp * Decimal('0.94'))}?",
                "what's the lead time?"]


# --- running -------------------------------------------------------------------------------


_TRACE: ContextVar[Any] = ContextVar("dealdesk_bench_node_trace", default=None)


class NodeTrace(BaseCallbackHandler):
    """Records the graph nodes a turn runs (LangGraph tags each node's run with its name and step)."""

    def __init__(self) -> None:
        self.seen: dict[tuple[int, str], None] = {}

    def on_chain_start(self, serialized: Any, inputs: Any, *, metadata: dict[str, Any] | None = None,
                       **kw: Any) -> None:
        md = metadata or {}
        node, step = md.get("langgraph_node"), md.get("langgraph_step")
        if node and step is not None and node != "__start__":
            self.seen.setdefault((int(step), str(node)), None)

    def path(self) -> list[str]:
        return [n for _, n in sorted(self.seen)]


register_configure_hook(_TRACE, inheritable=True)


def last_step(graph: Any, nid: str) -> int:
    """The step of the thread's latest checkpoint (-1 before the first turn)."""
    snap = graph.get_state({"configurable": {"thread_id": nid}})
    return int((snap.metadata or {}).get("step", -1)) if snap and snap.metadata else -1


class Sample:
    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.model_calls: list[int] = []
        self.types: Counter[str] = Counter()
        self.nodes: Counter[int] = Counter()
        self.paths: Counter[str] = Counter()
        self.trips = 0
        self.fallbacks = 0

    def add(self, seconds: float, reply: Reply, nodes: int, path: list[str] | None) -> None:
        self.seconds.append(seconds)
        self.model_calls.append(reply.model_calls)
        self.types[reply.type or ("answer" if reply.text else "none")] += 1
        self.nodes[nodes] += 1
        if path is not None:
            self.paths[" > ".join(path)] += 1
        self.trips += sum(1 for r in reply.records if r.get("gen_ai.guardrail.tripwire"))
        self.fallbacks += sum(1 for r in reply.records if r.get("dealdesk.fallback"))


class Runner:
    def __init__(self, seller: Seller, scripts: Scripts, buyer_prefix: str, trace: bool = False):
        self.seller = seller
        self.scripts = scripts
        self.prefix = buyer_prefix
        self.trace = trace  # name the nodes of each turn (a callback: for untimed calibration turns)
        self.k = 0
        self.steps: dict[str, int] = {}

    def _nid(self, kind: str) -> str:
        self.k += 1
        org = f"{self.prefix}-{kind}-{self.k}"  # one org per negotiation: holds never hit the per-org cap
        return self.seller.start(Buyer(org=org, region="EU"), negotiation_id=f"{org}-neg")

    def _timed(self, nid: str, sample: Sample | None, **message: Any) -> Reply:
        tracer = NodeTrace() if self.trace else None
        token = _TRACE.set(tracer) if tracer else None
        try:
            t0 = time.perf_counter()
            reply = self.seller.send(nid, **message)
            elapsed = time.perf_counter() - t0
        finally:
            if token is not None:
                _TRACE.reset(token)
        if sample is not None:
            # Nodes run = steps since the previous turn's last checkpoint, less the input step and the
            # __start__ step (each step of the seller graph runs one node); works with any durability.
            step = last_step(self.seller.graph.graph, nid)
            sample.add(elapsed, reply, step - self.steps.get(nid, -2) - 2, tracer.path() if tracer else None)
            self.steps[nid] = step
        return reply

    def structured(self, sample: Sample | None) -> None:
        nid = self._nid("s")
        self.scripts.structured(lambda data: self._timed(nid, sample, data=data))

    def text(self, sample: Sample | None) -> None:
        nid = self._nid("t")
        for msg in self.scripts.text_messages(self.k):
            self._timed(nid, sample, text=msg)


class _BareStore:
    """The store calls of `Seller._run`, as no-ops."""

    def turn_lock(self, negotiation_id: str) -> Any:
        return nullcontext()


class _BareView:
    """What `Seller._run` reads from a turn's view: the turn number and the buyer organisation."""

    def __init__(self, negotiation_id: str, turn: int):
        self.turn = turn
        self.negotiation = SimpleNamespace(id=negotiation_id, buyer_org=f"{negotiation_id}-org")


class BareSeller:
    """Runs the bare graph through `Seller._run` itself, store stubbed: the same invoke call (input
    state, thread_id per negotiation, RECURSION_LIMIT, durability) as the seller's, whatever it becomes."""

    _lock = Seller._lock

    def __init__(self, graph: Any):
        self.graph = SimpleNamespace(graph=graph, open_turn=lambda state, view: None, close_turn=lambda key: None,
                                     output_keys=graph.output_channels)  # all of its channels
        self.store = _BareStore()
        self.turns: Counter[str] = Counter()
        self._turn_locks = tuple(threading.Lock() for _ in range(TURN_LOCK_STRIPES))

    def _open_view(self, negotiation_id: str) -> _BareView:
        self.turns[negotiation_id] += 1
        return _BareView(negotiation_id, self.turns[negotiation_id])

    def send(self, negotiation_id: str, text: str) -> Reply:
        return Seller._run(self, negotiation_id, {"text": text}, None)  # type: ignore[arg-type]


def run_bare(bare: BareSeller, sample: list[float], prefix: str, k: int) -> None:
    nid = f"{prefix}-bare-{k}"
    for _ in range(TURNS_PER_NEGOTIATION):
        t0 = time.perf_counter()
        bare.send(nid, "need 120 x BRG-6204")
        sample.append(time.perf_counter() - t0)


class FullCollections:
    """Counts the cyclic GC's full (generation 2) collections while it runs, and their time."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._started = 0.0
        gc.callbacks.append(self._seen)

    def _seen(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                self._started = time.perf_counter()
            else:
                self.times.append(time.perf_counter() - self._started)

    def stop(self) -> dict[str, float]:
        gc.callbacks.remove(self._seen)
        return {"count": len(self.times), "total_ms": sum(self.times) * 1000,
                "longest_ms": max(self.times, default=0.0) * 1000}


# --- statistics and output -------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    xs = sorted(values)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summary(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "p50_ms": pct(ms, 0.5), "p99_ms": pct(ms, 0.99), "mean_ms": statistics.fmean(ms),
            "min_ms": min(ms), "max_ms": max(ms)}


Func = tuple[str, int, str]


def _where(func: Func) -> str:
    file, _line, name = func
    if file == "~":
        return name
    if "site-packages" + os.sep in file:
        return f"{file.split('site-packages' + os.sep, 1)[1]}:{name}"
    if file.startswith(ROOT):
        return f"{file[len(ROOT):]}:{name}"
    return f"{Path(file).name}:{name}"


# Cross-cutting buckets: a sample counts for a bucket when any frame of its stack is in it (so nesting is
# counted once); buckets overlap where one calls into another (the guardrail prices lines, for instance).
def _in(*parts: str) -> Callable[[str, str], bool]:
    prefixes = tuple(ROOT + os.path.join(*p.split("/")) for p in parts)
    return lambda file, name: file.startswith(prefixes)


def _site(pkg: str) -> Callable[[str, str], bool]:
    return lambda file, name: (os.sep + "site-packages" + os.sep + pkg + os.sep) in file


BUCKETS: dict[str, Callable[[str, str], bool]] = {
    "store (agent/store: queries and transactions, SQLAlchemy + SQLite)": _in("agent/store/"),
    "  connection churn (SQLAlchemy pool: connect, 4 PRAGMAs, close)": _site("sqlalchemy/pool"),
    "  COMMIT (store and checkpoint commits; an fsync for deals)": lambda file, name: name in ("do_commit", "commit")
    and "sqlalchemy" in file,
    "turn lock (flock / advisory lock)": lambda file, name: name == "turn_lock",
    "pricing and policy (Desk.surface: tools/pricing, tools/policy)": _in("tools/pricing", "tools/policy"),
    "strategy (tools/strategy)": _in("tools/strategy"),
    "guardrail checks (agent/guardrail)": _in("agent/guardrail"),
    "decision records (agent/records.py: digest, JSON log line)": _in("agent/records.py"),
    "offline model and playbook (agent/models, agent/offline, agent/playbook.py)":
        _in("agent/models", "agent/offline", "agent/playbook.py"),
    "checkpointer on the calling thread (langgraph/checkpoint)": _site("langgraph/checkpoint"),
}
NODES = ("begin", "understand", "prepare", "agent", "guardrail", "fallback", "revise", "approval", "commit")
_IDLE = {("threading.py", "wait"), ("threading.py", "_wait_for_tstate_lock"), ("thread.py", "_worker"),
         ("queue.py", "get"), ("threading.py", "acquire")}


class Sampler:
    """A small wall-clock stack sampler (pyinstrument is not installed): every `interval` seconds it
    records the stack of the calling thread and of busy worker threads."""

    def __init__(self, interval: float = 0.0005):
        self.interval = interval
        self.main: list[tuple[tuple[str, str], ...]] = []
        self.workers: list[tuple[tuple[str, str], ...]] = []
        self._stop = threading.Event()
        self._target = threading.get_ident()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _stack(frame) -> tuple[tuple[str, str], ...]:
        out = []
        while frame is not None:
            out.append((frame.f_code.co_filename, frame.f_code.co_name))
            frame = frame.f_back
        return tuple(reversed(out))

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.is_set():
            for tid, frame in sys._current_frames().items():
                if tid == me:
                    continue
                stack = self._stack(frame)
                if tid == self._target:
                    self.main.append(stack)
                elif stack and (Path(stack[-1][0]).name, stack[-1][1]) not in _IDLE:
                    self.workers.append(stack)
            time.sleep(self.interval)

    def __enter__(self) -> Sampler:
        self._switch = sys.getswitchinterval()
        sys.setswitchinterval(self.interval)  # let the sampler in while the turn runs Python code
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        sys.setswitchinterval(self._switch)


def _part(stack: tuple[tuple[str, str], ...]) -> str:
    graph_py = ROOT + os.path.join("agent", "graph.py")
    in_graph = False
    for file, name in stack:
        if file == graph_py and name in NODES:
            return f"node {name}"
        if name == "tool_node_call" or (os.sep + "langgraph" + os.sep + "prebuilt" + os.sep) in file:
            return "node tools (ToolNode and the tools)"
        if (os.sep + "langgraph" + os.sep + "pregel" + os.sep) in file:
            in_graph = True
    if not in_graph:
        return "Seller._run outside the graph (turn lock, the turn view)"
    inner = (Path(stack[-1][0]).name, stack[-1][1])
    if inner in _IDLE or any((os.sep + "concurrent" + os.sep) in f for f, _ in stack[-3:]):
        return "LangGraph: waiting for worker threads (checkpoint write, executor shutdown)"
    if any((os.sep + "langgraph" + os.sep + "checkpoint" + os.sep) in f for f, _ in stack):
        return "LangGraph: checkpointer on the calling thread (serialise, get, put)"
    return "LangGraph: runtime (channels, tasks, config)"


def _worker_part(stack: tuple[tuple[str, str], ...]) -> str:
    files = [f for f, _ in stack]
    if any((os.sep + "langgraph" + os.sep + "checkpoint" + os.sep) in f for f in files):
        if any(name in ("commit", "__exit__") for _, name in stack[-3:]):
            return "checkpoint writes: commit (fsync)"
        return "checkpoint writes: serialise + INSERT"
    if any(f.startswith(ROOT + "tools") or f.startswith(ROOT + "agent") for f in files):
        return "tool calls"
    return "other (LangGraph / executor)"


def profile_pass(seller: Seller, scripts: Scripts, negotiations: int, top: int) -> dict[str, Any]:
    """Two passes over `negotiations` structured and text negotiations each: a stack sampler
    (where the wall-clock time goes, worker threads included) and cProfile (calls per turn, own time)."""
    turns = negotiations * TURNS_PER_NEGOTIATION * 2
    runner = Runner(seller, scripts, f"prof{secrets.token_hex(3)}")
    with Sampler() as sampler:
        t0 = time.perf_counter()
        for _ in range(negotiations):
            runner.structured(None)
            runner.text(None)
        wall = time.perf_counter() - t0
    send_file = ROOT + os.path.join("agent", "service.py")
    main = [st for st in sampler.main if any(f == send_file and n == "send" for f, n in st)]
    per_sample_ms = wall * 1000 / max(1, len(sampler.main)) / turns  # ms per turn one sample stands for
    n = max(1, len(main))
    parts = Counter(_part(st) for st in main)
    buckets = {b: sum(1 for st in main if any(m(f, fn) for f, fn in st)) for b, m in BUCKETS.items()}
    project = Counter()
    leaves = Counter()
    for st in main:
        project.update({f"{_where((f, 0, fn))}" for f, fn in st
                        if f.startswith((ROOT + "agent", ROOT + "tools")) and not f.endswith("service.py")
                        and not (f.endswith("graph.py") and fn in NODES)})
        inner = next(((f, fn) for f, fn in reversed(st)), ("?", "?"))
        leaves[_where((inner[0], 0, inner[1]))] += 1
    workers = Counter(_worker_part(st) for st in sampler.workers)

    prof = cProfile.Profile()
    prof.enable()
    for _ in range(negotiations):
        runner.structured(None)
        runner.text(None)
    prof.disable()
    rows = pstats.Stats(prof, stream=io.StringIO()).stats  # type: ignore[attr-defined]
    own = sorted(rows.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    total_tt = sum(v[2] for v in rows.values())
    calls = sorted(((f, v) for f, v in rows.items() if f[0].startswith((ROOT + "agent" + os.sep + "store",))
                    or "sqlite3" in f[2] or f[2] == "_pragmas"), key=lambda kv: kv[1][1], reverse=True)[:top]
    return {
        "turns": turns,
        "wall_ms_per_turn": wall * 1000 / turns,
        "samples": len(main),
        "partition": [{"part": p, "share": c / n} for p, c in parts.most_common()],
        "buckets": [{"bucket": b, "share": c / n} for b, c in buckets.items()],
        "project_cumulative": [{"where": w, "share": c / n} for w, c in project.most_common(top)],
        "leaves": [{"where": w, "share": c / n} for w, c in leaves.most_common(top)],
        "workers": [{"part": p, "ms_per_turn": c * per_sample_ms} for p, c in workers.most_common()],
        "cprofile_own_time": [{"where": _where(f), "calls_per_turn": v[1] / turns, "share": v[2] / total_tt}
                              for f, v in own],
        "cprofile_calls": [{"where": _where(f), "calls_per_turn": v[1] / turns} for f, v in calls],
    }


def print_report(res: dict[str, Any]) -> None:
    m = res["machine"]
    print(f"dealdesk seller turn benchmark -- {m['date']}")
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['mem_gib']} GiB; Python {m['python']}, "
          f"langgraph {m['langgraph']}, langgraph-checkpoint-sqlite {m['langgraph_checkpoint_sqlite']}")
    print(f"code: commit {m['commit']}, {m['uncommitted_agent_tools_files']} uncommitted file(s) in agent/ and tools/")
    print(f"load average: start {'/'.join(f'{x:.2f}' for x in m['loadavg_start'])}, "
          f"end {'/'.join(f'{x:.2f}' for x in m['loadavg_end'])}")
    print(f"database: {res['db']} (store and checkpointer: {res['checkpointer']}); "
          f"{res['turns']} timed turns per kind, {res['warmup_negotiations']} warm-up negotiation(s) per kind"
          + (f"; heap frozen after the warm-up ({m['gc_frozen']} objects)" if m.get("gc_frozen") else "")
          + (f"\nLEFT OUT of the seller's turn (--stub): {', '.join(res['stubbed'])}" if res.get("stubbed") else "")
          + "\n")
    hdr = (f"{'kind':<26}{'n':>5}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'max ms':>9}{'nodes':>7}"
           f"{'model calls/turn':>18}{'ratio p50':>11}")
    print(hdr)
    print("-" * len(hdr))
    for kind in ("structured", "text"):
        r = res[kind]
        s = r["latency"]
        nodes = ",".join(str(k) for k in sorted(r["nodes_per_turn"]))
        mc = r["model_calls"]
        print(f"{kind + ' (Seller.send)':<26}{s['n']:>5}{s['p50_ms']:>9.1f}{s['p99_ms']:>9.1f}{s['mean_ms']:>9.1f}"
              f"{s['max_ms']:>9.1f}{nodes:>7}{mc['mean']:>12.2f} ({mc['min']}-{mc['max']}){r['ratio_p50']:>10.1f}x")
    for n, b in sorted(res["bare"].items()):
        s = b["latency"]
        print(f"{'bare graph, ' + str(n) + ' no-op nodes':<26}{s['n']:>5}{s['p50_ms']:>9.1f}{s['p99_ms']:>9.1f}"
              f"{s['mean_ms']:>9.1f}{s['max_ms']:>9.1f}{n:>7}{'-':>18}{'1.0x':>11}")
    print()
    for kind in ("structured", "text"):
        r = res[kind]
        print(f"{kind}: replies {dict(r['reply_types'])}; guardrail trips {r['guardrail_trips']}, "
              f"fallbacks {r['fallbacks']}; model calls {dict(r['model_calls']['histogram'])}")
        print(f"  nodes run per timed turn (from checkpoint steps): {r['nodes_per_turn']}")
        for path, count in r["paths_traced_in_warmup"].items():
            print(f"  warm-up, traced: {count:>3} x {path}")
    g = res["full_gc"]
    print(f"full (generation 2) GC collections during the timed turns: {g['count']}, "
          f"{g['total_ms']:.1f} ms in all, the longest {g['longest_ms']:.1f} ms")
    print(f"\ntarget (issue 3): ratio <= 2x -- structured {res['structured']['ratio_p50']:.1f}x, "
          f"text {res['text']['ratio_p50']:.1f}x"
          + (f" (left out: {', '.join(res['stubbed'])}; not dealdesk as it runs)" if res.get("stubbed") else ""))
    prof = res.get("profile")
    if prof:
        print(f"\nprofile over {prof['turns']} turns (half structured, half text), "
              f"{prof['wall_ms_per_turn']:.1f} ms/turn while sampled; {prof['samples']} stack samples of the "
              "calling thread, shares of Seller.send")
        print("  (the sampler looks mostly while the calling thread waits without the GIL: calls into sqlite3,\n"
              "   psycopg and locks are over-counted; for before/after, bench/turn_instructions.py)")
        print("  where a turn's time goes (a partition, by the outermost graph node on the stack):")
        for row in prof["partition"]:
            print(f"    {row['share']:6.1%}  {row['part']}")
        print("  cross-cutting buckets (any frame on the stack; they overlap):")
        for row in prof["buckets"]:
            print(f"    {row['share']:6.1%}  {row['bucket']}")
        print("  project functions on the stack (inclusive):")
        for row in prof["project_cumulative"]:
            print(f"    {row['share']:6.1%}  {row['where']}")
        print("  innermost Python frame (own time; C calls show as their Python caller):")
        for row in prof["leaves"]:
            print(f"    {row['share']:6.1%}  {row['where']}")
        print("  busy worker threads, ms per turn (they overlap the calling thread's waits):")
        for row in prof["workers"]:
            print(f"    {row['ms_per_turn']:6.1f} ms  {row['part']}")
        print("  cProfile, calling thread: store and SQLite calls per turn:")
        for row in prof["cprofile_calls"]:
            print(f"    {row['calls_per_turn']:6.1f}  {row['where']}")
        print("  cProfile, calling thread: own time (C functions included):")
        for row in prof["cprofile_own_time"]:
            print(f"    {row['share']:6.1%} {row['calls_per_turn']:7.1f} calls/turn  {row['where']}")


def run(args: argparse.Namespace, res: dict[str, Any], catalog: Any, policy: Any) -> None:
    """Warm up, then the interleaved timed turns, then the profile passes; fills `res`."""
    with ExitStack() as stack:
        db = Db(args.db, args.pg_url, stack)
        log = stack.enter_context(open(db.tmp / "decisions.log", "a", encoding="utf-8"))
        configure_logging(log)  # decision records go to a file, as `dealdesk` deploys them
        seller = db.seller(catalog, policy)
        res["checkpointer"] = type(seller.checkpointer).__name__
        scripts = Scripts(catalog, policy)
        prefix = f"bench{secrets.token_hex(3)}"
        runner = Runner(seller, scripts, prefix)

        # Warm-up (imports, caches, connections), traced: names the nodes a turn runs, so the bare
        # graph gets as many no-op nodes as the seller graph visits.
        tracer = Runner(seller, scripts, prefix + "w", trace=True)
        warm = {"structured": Sample(), "text": Sample()}
        for _ in range(max(1, args.warmup)):
            tracer.structured(warm["structured"])
            tracer.text(warm["text"])
        shapes = {kind: Counter(s.paths).most_common(1)[0][0].split(" > ") for kind, s in warm.items()}
        by_len = {len(p): p for p in shapes.values()}
        bare = {n: BareSeller(bare_graph(p, db.bare_checkpointer())) for n, p in by_len.items()}
        bare_samples: dict[int, list[float]] = {n: [] for n in bare}
        for n, g in bare.items():
            run_bare(g, [], prefix, -n)  # warm-up
        if args.freeze:  # as `dealdesk serve` does once its start-up is over (agent/server/heap.py)
            res["machine"]["gc_frozen"] = heap.settle()

        samples = {"structured": Sample(), "text": Sample()}
        k = 0
        full_gc = FullCollections()
        while min(len(s.seconds) for s in samples.values()) < args.turns:
            k += 1
            if len(samples["structured"].seconds) < args.turns:
                runner.structured(samples["structured"])
            if len(samples["text"].seconds) < args.turns:
                runner.text(samples["text"])
            for n, g in bare.items():
                if len(bare_samples[n]) < args.turns:
                    run_bare(g, bare_samples[n], prefix, k)
        res["full_gc"] = full_gc.stop()

        res["bare"] = {n: {"nodes": shapes_n, "latency": summary(bare_samples[n][:args.turns]),
                           "samples_ms": [x * 1000 for x in bare_samples[n][:args.turns]]}
                       for n, shapes_n in by_len.items()}
        for kind, s in samples.items():
            n = args.turns
            lat = summary(s.seconds[:n])
            bare_n = len(shapes[kind])
            mc = s.model_calls[:n]
            res[kind] = {
                "latency": lat,
                "ratio_p50": lat["p50_ms"] / res["bare"][bare_n]["latency"]["p50_ms"],
                "ratio_mean": lat["mean_ms"] / res["bare"][bare_n]["latency"]["mean_ms"],
                "bare_nodes": bare_n,
                "nodes_per_turn": dict(s.nodes),
                "paths_traced_in_warmup": dict(warm[kind].paths.most_common()),
                "model_calls": {"mean": statistics.fmean(mc), "min": min(mc), "max": max(mc),
                                "histogram": dict(sorted(Counter(mc).items()))},
                "reply_types": dict(s.types),
                "guardrail_trips": s.trips,
                "fallbacks": s.fallbacks,
                "samples_ms": [x * 1000 for x in s.seconds[:n]],
            }
        if args.profile:
            res["profile"] = profile_pass(seller, scripts, args.profile_negotiations, args.top)
        res["machine"]["loadavg_end"] = os.getloadavg()



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=100, help="timed turns per kind (structured, text)")
    parser.add_argument("--db", choices=("sqlite", "memory", "postgres"), default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("DEALDESK_TEST_PG_URL") or DEFAULT_PG)
    parser.add_argument("--json", type=Path, help="also write the results (and the raw samples) here")
    parser.add_argument("--freeze", action="store_true",
                        help="after the warm-up, freeze the heap out of the cyclic GC, as a server worker does")
    parser.add_argument("--warmup", type=int, default=1, help="untimed negotiations per kind first")
    parser.add_argument("--profile", action="store_true",
                        help="add profiling passes (stack sampler, cProfile) and print the hot spots")
    parser.add_argument("--profile-negotiations", type=int, default=10, help="per kind and per pass")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--stub", default="", metavar="PART[,PART]",
                        help=f"leave parts of the seller's turn out ({', '.join(STUBS)}: bench/turn_instructions.py), "
                             "to see what they cost in time; such a run does not measure dealdesk")
    args = parser.parse_args()
    stubs = stub_names(parser, args.stub)
    apply_stubs(stubs)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up (temp files, PG schema) when killed

    res: dict[str, Any] = {"machine": machine(), "db": args.db, "turns": args.turns,
                           "warmup_negotiations": args.warmup, "stubbed": stubs}
    catalog, policy = load_data()
    try:
        run(args, res, catalog, policy)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        print(f"turn benchmark failed on --db {args.db}: {type(exc).__name__}: {first}", file=sys.stderr)
        raise

    print_report(res)
    if args.json:
        args.json.write_text(json.dumps(res, indent=2, default=str), encoding="utf-8")
        print(f"\nwrote {args.json}")
    bad = {k: t for k in ("structured", "text") for t in res[k]["reply_types"] if t in ("error", "closed", "none")}
    if bad:
        print(f"\nWARNING: unexpected replies in timed turns: {bad}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
