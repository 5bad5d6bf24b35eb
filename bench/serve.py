"""Serving benchmark: concurrent simulated buyers over HTTP against `dealdesk serve`, next to a bare a2a-sdk server.

Run: `.venv/bin/python bench/serve.py [--buyers 1,8,32] [--seconds S] [--warmup W] [--db sqlite|postgres]
[--workers N] [--json out.json] [--profile]` (results go in BENCHMARKS.md, section "Serving").

What runs:

- The servers, each under uvicorn in a subprocess on a free port, on a fresh database of its own (a SQLite
  file in a temp dir, or a fresh PostgreSQL schema `dd_bench_<hex>`, dropped afterwards):
  - `bare`: bench/bare_a2a.py, the SDK's request handler and JSON-RPC route on the same task store and
    database configuration as dealdesk, with an executor that answers at once with a fixed proposal
    (INPUT_REQUIRED) and a fixed deal on accept (COMPLETED): the floor cost of the protocol stack;
  - `dealdesk`: `dealdesk serve --workers 1` (offline model, rate limit out of the way, access log off,
    decision records to a file as deployed), with buyer keys made beforehand;
  - with `--workers N` (N > 1, PostgreSQL): then `dealdesk serve --workers N` on a schema of its own
    (`--workers-servers dealdesk,bare` adds the bare server with N workers, after it).
  The two single-process servers run side by side and the levels are interleaved (each level: bare, then
  dealdesk), so load from other processes on the machine falls on both alike. An N-worker server runs
  alone afterwards (phase 2): N dealdesk processes may hold ~50 PostgreSQL connections each under load,
  and a default PostgreSQL allows 100 in all.
- The load, in this process (one asyncio loop, raw JSON-RPC 2.0 `SendMessage` over httpx; the same
  client code for every server). `--connections per-negotiation` (the default): each negotiation opens a
  connection of its own, kept alive for its four messages. `per-buyer`: one long-lived connection per
  buyer; with it the kernel handed all 8 connections of a level to one of two workers in some runs
  (`ss -tnp` showed 8 on one worker, none on the other), which measured the accept race, not the
  workers; a new connection per negotiation also costs the bare server relatively more (its turns are
  cheap), so both are reported. N simulated buyers, each negotiating in a loop: rfq -> two
  counter-offers (3% and 1.5% under the offered unit price) -> accept the last proposal, each message on
  the same task. Buyers rotate over 17 well-stocked SKUs, 10 units a line, and each negotiates as a fresh
  buyer organisation of its own (per level), moving to the next of its `--orgs-per-buyer` organisations
  after each round of the SKUs: dealdesk counts an organisation's earlier rounds on a SKU (30 days) towards
  the maximum rounds, so an organisation that haggles on a SKU again is soon told the last offer stands.
- A *turn* is one SendMessage answered as expected: rfq and counters -> INPUT_REQUIRED with an offered
  proposal, accept -> COMPLETED with a deal. Anything else (HTTP error, JSON-RPC error, another answer)
  is an *error*, and that buyer starts a new negotiation. Per level: `--warmup` seconds uncounted, then
  `--seconds` counted: turns per second = turns that finished inside the window / seconds (a turn of 32
  buyers can take longer than the warm-up: it counts where it ends); p50 and p99 of their latencies;
  errors that happened inside the window.

Ratios: dealdesk's throughput / bare's, and dealdesk's p50 / bare's, at each level (one process each).
With --workers N: dealdesk's N-worker throughput / its own single process. Targets (issue 4): throughput
at 8 and 32 buyers >= 30% of bare's (one process), N workers on PostgreSQL >= 1.2x dealdesk's single
process, p50 at 1 buyer <= 3x bare's, 0 errors. Exit status 1 if an error was seen.

`--tweak slots=N` / `--tweak switch=S` (experiments, repeatable): one more dealdesk x1 beside the others,
started through `serve_tweaked` (at most N seller turns at once; GIL switch interval S); nothing in
agent/ changes.

`--profile`: afterwards, one more dealdesk server (one worker) runs under cProfile in every thread (the
event loop and the worker threads that run the seller turns), `--profile-buyers` buyers load it for
`--seconds`, and the hot spots are printed: own time by area (file:function) and share, and the cost of
the main steps per turn. cProfile slows Python code about 2x: shares, not absolute times.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from machine import cpu_model, mem_gib  # noqa: E402 (bench/ is the script's directory)
from pgschema import throwaway_schema  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# Demo catalog SKUs with at least 1000 units on hand, sold in EU-EUR, minimum order 1.
SKUS = ["FST-M8-WSH-A2", "FST-M8-NUT-A2", "FST-M8X30-A2", "BRG-SEAL-20477", "BRG-6204", "SNS-CBL-PUR-4C",
        "SAF-GLV-NIT-L", "FST-M10X40-88Z", "BRG-6205", "SAF-GLV-CUT5", "BRG-6204-ZZ", "FST-M8-NYL-A2",
        "SNS-CBL-M12-5M", "PTR-CHN-08B1", "FST-M6X20-SHCS", "SNS-RFL-50", "SAF-HVV-L"]
QUANTITY = "10"
COUNTERS = (Decimal("0.97"), Decimal("0.985"))  # each counter asks this share of the offered unit price


# --- machine --------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu, mem = cpu_model(), mem_gib()
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gib": mem, "python": platform.python_version(),
            "date": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(), "loadavg_start": os.getloadavg()}


# --- databases and servers ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Databases:
    """Fresh databases, one per server: SQLite files in a temp dir, or PostgreSQL schemas dropped at the end."""

    def __init__(self, kind: str, pg_url: str, stack: ExitStack):
        self.kind, self.pg_url, self.stack = kind, pg_url, stack
        self.tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dd-bench-serve-")))

    def new(self, name: str) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.tmp / name}.db"
        if self.kind != "postgres":
            raise SystemExit(f"unknown --db {self.kind}")
        return throwaway_schema(self.pg_url, self.stack)


def make_keys(db_url: str, counts: list[int], orgs_per_buyer: int) -> list[list[list[str]]]:
    """Buyer keys for dealdesk: per level, per buyer, `orgs_per_buyer` fresh EU organisations (a buyer takes
    the next one for each negotiation: with 17 SKUs, an organisation meets a SKU again only after
    17 x orgs_per_buyer negotiations; dealdesk counts an organisation's earlier rounds on a SKU)."""
    from agent.store import Store
    from agent.store.keys import KeyStore

    store = Store(db_url)
    try:
        keys = KeyStore(store.engine)
        return [[[keys.create("buyer", org=f"bench-{level}-{i}-{k}-{secrets.token_hex(3)}", region="EU",
                              segment="standard", currency="EUR", label="bench buyer")[1]
                  for k in range(orgs_per_buyer)] for i in range(n)]
                for level, n in enumerate(counts)]
    finally:
        store.dispose()


@dataclass
class Server:
    name: str  # bare | dealdesk
    workers: int
    db_url: str
    port: int
    proc: subprocess.Popen
    log: Path
    keys: list[list[list[str]]] = field(default_factory=list)  # per level, per buyer: its organisations' keys
    tweak: str | None = None  # an experimental `--tweak` (dealdesk only)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def label(self) -> str:
        return f"{self.name} x{self.workers}" + (f" [{self.tweak}]" if self.tweak else "")

    def wait_ready(self, timeout: float = 180) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.label} exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"{self.label} did not become ready:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self, timeout: float = 20) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # its own process group (start_new_session)
                self.proc.wait(5)


def start_server(name: str, workers: int, db_url: str, tmp: Path, *, keys: list[list[list[str]]] | None = None,
                 profile_out: Path | None = None, tweak: str | None = None) -> Server:
    port = free_port()
    log = tmp / f"{name}-x{workers}-{port}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if name == "bare":
        cmd = [sys.executable, str(ROOT / "bench" / "bare_a2a.py"), "--port", str(port), "--db", db_url,
               "--workers", str(workers), "--log-level", "warning"]
    else:
        serve_args = ["--host", "127.0.0.1", "--port", str(port), "--db", db_url, "--workers", str(workers),
                      "--no-demo", "--rate", "1000000", "--burst", "1000000", "--log-level", "warning"]
        cmd = [sys.executable, "-m", "agent.cli", "serve", *serve_args]
        if profile_out is not None:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-profiled", str(profile_out), "--",
                   *serve_args]
        elif tweak:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-tweaked", tweak, "--", *serve_args]
        env.update(DEALDESK_LOG=str(tmp / f"decisions-{port}.log"), DEALDESK_MODEL="offline")
    fh = open(log, "wb")  # noqa: SIM115 - the process keeps it
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return Server(name=name, workers=workers, db_url=db_url, port=port, proc=proc, log=log, keys=keys or [],
                  tweak=tweak)


# --- the load -------------------------------------------------------------------------------------


@dataclass
class Turn:
    kind: str
    start: float
    end: float
    error: str | None = None


class Failed(Exception):
    pass


def _money(x: Decimal) -> str:
    return str(x.quantize(Decimal("0.01")))


class BuyerBot:
    """One simulated buyer: rfq -> counters -> accept, again and again, over raw JSON-RPC."""

    def __init__(self, make_client: Any, url: str, keys: list[str], first_sku: int, turns: list[Turn]):
        self.make_client, self.url, self.turns = make_client, url, turns
        self.client: Any = None
        self.headers = [{"Authorization": f"Bearer {key}", "A2A-Version": "1.0"} for key in keys]
        self.n = first_sku
        self.negotiations = 0

    async def send(self, kind: str, data: dict[str, Any], task: dict[str, Any] | None,
                   headers: dict[str, str]) -> tuple[dict, dict]:
        msg: dict[str, Any] = {"messageId": uuid.uuid4().hex, "role": "ROLE_USER",
                               "parts": [{"data": data, "mediaType": "application/json"}]}
        if task is not None:
            msg["taskId"], msg["contextId"] = task["id"], task["contextId"]
        body = {"jsonrpc": "2.0", "id": msg["messageId"], "method": "SendMessage", "params": {"message": msg}}
        turn = Turn(kind, time.monotonic(), 0.0)
        try:
            r = await self.client.post(self.url, json=body, headers=headers)
            if r.status_code != 200:
                raise Failed(f"HTTP {r.status_code}: {r.text[:200]}")
            answer = r.json()
            if "error" in answer:
                raise Failed(f"JSON-RPC error {answer['error'].get('code')}: {answer['error'].get('message')}"[:200])
            task = answer["result"]["task"]
            state = task["status"]["state"]
            out = next((p["data"] for p in task["status"]["message"]["parts"] if "data" in p), {})
            want = ("TASK_STATE_COMPLETED", "deal") if kind == "accept" else ("TASK_STATE_INPUT_REQUIRED", "proposal")
            if (state, out.get("type")) != want or (kind != "accept" and out.get("status") != "offered"):
                raise Failed(f"{kind}: {state} {out.get('type')} {out.get('status') or out.get('code') or ''} "
                             f"{out.get('reason') or out.get('message') or ''}"[:200])
            return task, out
        except Failed as exc:
            turn.error = str(exc)
            raise
        except Exception as exc:
            turn.error = f"{type(exc).__name__}: {exc}"[:200]
            raise Failed(turn.error) from exc
        finally:
            turn.end = time.monotonic()
            self.turns.append(turn)

    async def negotiate(self) -> None:
        sku = SKUS[self.n % len(SKUS)]
        self.n += 1
        headers = self.headers[self.negotiations // len(SKUS) % len(self.headers)]  # next org after a SKU round
        self.negotiations += 1
        if self.client is not None:  # one connection for all of this buyer's negotiations
            await self._negotiate(sku, headers)
            return
        try:
            async with self.make_client() as self.client:  # a connection per negotiation (see the module doc)
                await self._negotiate(sku, headers)
        finally:
            self.client = None

    async def _negotiate(self, sku: str, headers: dict[str, str]) -> None:
        task, proposal = await self.send("rfq", {"type": "rfq", "items": [{"sku": sku, "quantity": QUANTITY}]}, None,
                                         headers)
        for share in COUNTERS:
            items = [{"sku": i["sku"], "quantity": i["quantity"],
                      "unit_price": _money(Decimal(i["unit_price"]) * share)} for i in proposal["items"]]
            task, proposal = await self.send("counter", {
                "type": "counter_offer", "proposal_id": proposal["proposal_id"], "version": proposal["version"],
                "items": items}, task, headers)
        await self.send("accept", {"type": "accept", "proposal_id": proposal["proposal_id"],
                                   "version": proposal["version"]}, task, headers)

    async def run(self, stop_at: float) -> None:
        while time.monotonic() < stop_at:
            try:
                await self.negotiate()
            except Failed:
                await asyncio.sleep(0.01)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


async def load(server: Server, buyers: int, level: int, warmup: float, seconds: float,
               connections: str = "per-negotiation") -> dict[str, Any]:
    import httpx

    turns: list[Turn] = []
    keys = server.keys[level] if server.keys else [[f"dd_buyer_bare_{i:04d}_{'0' * 32}"] for i in range(buyers)]
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    def make_client() -> Any:
        return httpx.AsyncClient(timeout=120, limits=limits)

    start = time.monotonic()
    window = (start + warmup, start + warmup + seconds)
    bots = [BuyerBot(make_client, server.url + "/", keys[i], i * 5 + level, turns) for i in range(buyers)]
    if connections == "per-buyer":
        for b in bots:
            b.client = make_client()
    try:
        await asyncio.gather(*[b.run(window[1]) for b in bots])
    finally:
        for b in bots:
            if b.client is not None:
                await b.client.aclose()
    inside = [t for t in turns if window[0] <= t.end <= window[1]]  # finished in the window
    ok = [t for t in inside if t.error is None]
    errors = [t for t in inside if t.error is not None]
    latencies = [(t.end - t.start) * 1000 for t in ok]
    by_kind = {k: round(statistics.median([(t.end - t.start) * 1000 for t in ok if t.kind == k]), 1)
               for k in ("rfq", "counter", "accept") if any(t.kind == k for t in ok)}
    return {"server": server.name + (f"[{server.tweak}]" if server.tweak else ""), "workers": server.workers,
            "buyers": buyers, "turns": len(ok),
            "turns_per_s": round(len(ok) / seconds, 1), "p50_ms": round(pct(latencies, 0.5), 1),
            "p99_ms": round(pct(latencies, 0.99), 1), "errors": len(errors),
            "error_samples": sorted({e.error for e in errors if e.error})[:5], "p50_ms_by_kind": by_kind,
            "errors_outside_window": sum(1 for t in turns if t.error is not None) - len(errors),
            "turns_all": sum(1 for t in turns if t.error is None)}


# --- profiling (inside the profiled server process) ----------------------------------------------


def serve_profiled(out: str, serve_args: list[str]) -> None:
    """Run `dealdesk serve` with cProfile in this thread and in every thread started later (the seller turns
    run in worker threads); SIGUSR1 clears what was collected so far (the bench sends it once the server is
    ready, so start-up is left out); the merged stats go to `out` when the server stops (SIGINT)."""
    import cProfile
    import pstats
    import threading

    import uvicorn  # noqa: F401 - imported before profiling starts

    import agent.cli
    import agent.graph
    import agent.server.a2a
    import agent.server.app

    profiles: list[cProfile.Profile] = []
    guard = threading.Lock()

    def start_thread_profile(*_: Any) -> None:
        sys.setprofile(None)
        p = cProfile.Profile()
        with guard:
            profiles.append(p)
        p.enable()

    def clear(*_: Any) -> None:
        with guard:
            for p in profiles:
                p.clear()

    signal.signal(signal.SIGUSR1, clear)
    threading.setprofile(start_thread_profile)
    main = cProfile.Profile()
    profiles.append(main)
    main.enable()
    try:
        sys.argv = ["dealdesk", "serve", *serve_args]
        agent.cli.main()
    except SystemExit:
        pass
    finally:
        main.disable()
        threading.setprofile(None)
        stats = None
        with guard:
            for p in profiles:
                try:
                    if stats is None:
                        stats = pstats.Stats(p)
                    else:
                        stats.add(p)
                except Exception as exc:  # noqa: BLE001 - a thread's profile that cannot be read is left out
                    print(f"profile of a thread left out: {exc!r}", file=sys.stderr)
        if stats is not None:
            stats.dump_stats(out)


def serve_tweaked(spec: str, serve_args: list[str]) -> None:
    """Run `dealdesk serve` with an experimental tweak (nothing in agent/ changes; for `--tweak` only):
    `slots=N` caps the seller turns running at once in the process (agent.server.a2a_executor.turn_slots),
    `switch=S` sets the interpreter's GIL switch interval (sys.setswitchinterval)."""
    import agent.cli
    import agent.server.a2a_executor as executor

    for item in filter(None, spec.split(",")):
        name, _, value = item.partition("=")
        if name == "slots":
            executor.turn_slots = lambda _ctx, n=int(value): n
        elif name == "switch":
            sys.setswitchinterval(float(value))
        else:
            raise SystemExit(f"unknown tweak {name!r}")
    sys.argv = ["dealdesk", "serve", *serve_args]
    agent.cli.main()


# Where a thread waits rather than works: the idle event loop, idle worker threads (anyio's pool, aiosqlite's
# connection thread), sleeps. Reported apart from the busy time.
IDLE = {"<method 'poll' of 'select.epoll' objects>", "<method 'run_until_complete' of 'uvloop.loop.Loop' objects>",
        "<method 'run_forever' of 'uvloop.loop.Loop' objects>", "<built-in method time.sleep>",
        "<method 'acquire' of '_thread.lock' objects>", "<method 'get' of '_queue.SimpleQueue' objects>",
        "_connection_worker_thread", "_worker", "run"}


def _idle(file: str, func: str) -> bool:
    if func in ("_connection_worker_thread", "_worker", "run"):
        return file.endswith(("aiosqlite/core.py", "concurrent/futures/thread.py", "asyncio/runners.py",
                              "anyio/_backends/_asyncio.py"))
    return file == "~" and func in IDLE


def _area(path: str, func: str) -> str:
    p = path.replace("\\", "/")
    if "/work/" in p or p.startswith(str(ROOT)):
        rel = p.split(str(ROOT) + "/", 1)[-1]
        return rel.rsplit("/", 1)[0] if "/" in rel else rel
    if "site-packages/" in p:
        return "site:" + p.split("site-packages/", 1)[1].split("/", 1)[0]
    if p == "~":
        return "builtin:" + func.split(" of ")[0].strip("{<").split(" ")[-1].split(".")[0][:40]
    return "stdlib:" + Path(p).stem


def report_profile(path: Path, turns: int, top: int = 25) -> dict[str, Any]:
    import pstats

    st = pstats.Stats(str(path))
    raw = st.stats  # type: ignore[attr-defined]
    rows = []
    idle = 0.0
    for (file, _line, func), (_cc, nc, tt, ct, _callers) in raw.items():
        if _idle(file, func):
            idle += tt
            continue
        rows.append({"where": f"{_short(file)}:{func}", "area": _area(file, func), "calls": nc, "own_s": tt,
                     "cum_s": ct})
    total = sum(r["own_s"] for r in rows) or 1.0
    areas: dict[str, float] = {}
    for r in rows:
        areas[r["area"]] = areas.get(r["area"], 0.0) + r["own_s"]
    top_own = sorted(rows, key=lambda r: -r["own_s"])[:top]
    steps = {}
    for label, file_part, func in STEPS:
        found = [(v[3], v[1]) for (f, _l, fn), v in raw.items() if fn == func and file_part in f]
        if found:
            cum, calls = max(found)
            steps[label] = {"ms_per_turn": round(cum * 1000 / max(turns, 1), 2), "calls": calls,
                            "calls_per_turn": round(calls / max(turns, 1), 1), "share": round(cum / total, 3)}
    # Who runs the database statements (SQLite's execute includes waiting for the write lock and the fsync of
    # a COMMIT; psycopg's, the round trip to PostgreSQL): the own time of the driver call by its caller.
    db_callers: dict[str, float] = {}
    for (file, _line, func), (_cc, _nc, _tt, _ct, callers) in raw.items():
        if func in DB_CALLS:
            for (cfile, cline, cfunc), (_c, _n, tt, _t) in callers.items():
                where = f"{_short(cfile)}:{cfunc}"
                db_callers[where] = db_callers.get(where, 0.0) + tt
    own_code = sorted(((f"{_short(file)}:{func}", nc, ct) for (file, _line, func), (_cc, nc, _tt, ct, _c) in raw.items()
                       if _short(file).startswith(("agent/", "tools/"))), key=lambda x: -x[2])[:top]
    return {"busy_s": round(total, 2), "idle_s": round(idle, 2), "turns": turns,
            "own_code": [{"where": w, "calls_per_turn": round(nc / max(turns, 1), 1),
                          "ms_per_turn": round(ct * 1000 / max(turns, 1), 2), "share": round(ct / total, 3)}
                         for w, nc, ct in own_code],
            "db_callers": [(w, round(t / total, 3), round(t * 1000 / max(turns, 1), 2))
                           for w, t in sorted(db_callers.items(), key=lambda x: -x[1])[:12]],
            "areas": sorted(((a, round(s / total, 3)) for a, s in areas.items()), key=lambda x: -x[1])[:20],
            "top_own": [{**r, "share": round(r["own_s"] / total, 3), "own_s": round(r["own_s"], 3),
                         "cum_s": round(r["cum_s"], 3)} for r in top_own],
            "steps": steps}


def _short(file: str) -> str:
    if file == "~":
        return "builtin"
    p = file.replace("\\", "/")
    if str(ROOT) in p:
        return p.split(str(ROOT) + "/", 1)[1]
    if "site-packages/" in p:
        return p.split("site-packages/", 1)[1]
    return Path(p).name


DB_CALLS = {"<method 'execute' of 'sqlite3.Cursor' objects>", "<method 'executemany' of 'sqlite3.Cursor' objects>",
            "<method 'execute' of 'sqlite3.Connection' objects>", "<method 'commit' of 'sqlite3.Connection' objects>"}

# (label, file part, function): the main steps of a dealdesk turn, cumulative time per turn.
STEPS = [
    ("HTTP request in the app (all middleware + endpoints)", "starlette/applications.py", "__call__"),
    ("limits middleware", "agent/server/limits.py", "__call__"),
    ("auth: key lookup (worker thread)", "agent/server/auth.py", "principal_from_header"),
    ("A2A on_message_send (dealdesk handler)", "agent/server/a2a.py", "on_message_send"),
    ("  message log claim", "agent/server/a2a_tasks.py", "claim"),
    ("  message log complete", "agent/server/a2a_tasks.py", "complete"),
    ("  task store get", "a2a/server/cluster/database_task_store.py", "get"),
    ("  task store save", "a2a/server/cluster/database_task_store.py", "save"),
    ("  SDK on_message_send", "a2a/server/request_handlers/default_request_handler_v2.py", "on_message_send"),
    ("seller turn (worker thread): Seller._run", "agent/service.py", "_run"),
    ("  graph invoke", "langgraph/pregel/main.py", "invoke"),
    ("  node begin", "agent/graph.py", "begin"),
    ("  node understand", "agent/graph.py", "understand"),
    ("  node prepare", "agent/graph.py", "prepare"),
    ("  node agent", "agent/graph.py", "agent"),
    ("  node guardrail", "agent/graph.py", "guardrail"),
    ("  node approval", "agent/graph.py", "approval"),
    ("  node commit", "agent/graph.py", "commit"),
    ("  store.save_proposal", "agent/store/store.py", "save_proposal"),
    ("  store.accept", "agent/store/store.py", "accept"),
    ("  turn lock", "agent/store/store.py", "turn_lock"),
    ("  checkpoint put", "langgraph/checkpoint/sqlite/__init__.py", "put"),
    ("  checkpoint put (PG)", "langgraph/checkpoint/postgres/__init__.py", "put"),
    ("  decision records logged", "agent/records.py", "make_record"),
    ("SQLite statements (all threads)", "~", "<method 'execute' of 'sqlite3.Cursor' objects>"),
    ("SQLite commits (all threads)", "~", "<method 'commit' of 'sqlite3.Connection' objects>"),
    ("SQLite rollbacks (all threads; read-only sessions end so)", "~",
     "<method 'rollback' of 'sqlite3.Connection' objects>"),
    ("SQLAlchemy statements, sync + async (all threads)", "sqlalchemy/engine/default.py", "do_execute"),
    ("psycopg statements (PostgreSQL; all threads)", "psycopg/cursor.py", "execute"),
    ("psycopg async statements (PostgreSQL)", "psycopg/cursor_async.py", "execute"),
]


# --- the run --------------------------------------------------------------------------------------


def fmt_row(r: dict[str, Any], bare: dict[str, Any] | None) -> str:
    ratio = ""
    if bare and r["server"] != "bare" and bare["turns_per_s"]:
        ratio = f"{r['turns_per_s'] / bare['turns_per_s']:.2f}x / {r['p50_ms'] / bare['p50_ms']:.1f}x"
    return (f"| {r['server']} | {r['workers']} | {r['buyers']} | {r['turns_per_s']:.1f} | {r['p50_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['errors']} | {ratio} |")


def targets(results: list[dict[str, Any]], workers: int, db: str) -> list[tuple[str, bool | None, str]]:
    def get(server: str, w: int, n: int) -> dict[str, Any] | None:
        return next((r for r in results if (r["server"], r["workers"], r["buyers"]) == (server, w, n)), None)

    out = []
    for n in (8, 32):
        d, b = get("dealdesk", 1, n), get("bare", 1, n)
        if d and b:
            share = d["turns_per_s"] / b["turns_per_s"] if b["turns_per_s"] else 0
            out.append((f"throughput at {n} buyers >= 30% of bare (one process)", share >= 0.30, f"{share:.0%}"))
    d, b = get("dealdesk", 1, 1), get("bare", 1, 1)
    if d and b:
        ratio = d["p50_ms"] / b["p50_ms"]
        out.append(("p50 at 1 buyer <= 3x bare's", ratio <= 3.0, f"{ratio:.1f}x"))
    if workers > 1:
        for r in results:
            if r["server"] == "dealdesk" and r["workers"] == workers and r["buyers"] > 1:
                one = get("dealdesk", 1, r["buyers"])
                if one and one["turns_per_s"]:
                    x = r["turns_per_s"] / one["turns_per_s"]
                    ok = x >= 1.2 if db == "postgres" else None
                    out.append((f"{workers} workers at {r['buyers']} buyers >= 1.2x one process ({db})", ok,
                                f"{x:.2f}x"))
    errors = sum(r["errors"] for r in results)
    out.append(("0 errors", errors == 0, str(errors)))
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve-profiled"]:  # internal: the profiled server process
        serve_profiled(argv[1], argv[3:] if argv[2:3] == ["--"] else argv[2:])
        return 0
    if argv[:1] == ["--serve-tweaked"]:  # internal: an experimental server process
        serve_tweaked(argv[1], argv[3:] if argv[2:3] == ["--"] else argv[2:])
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--buyers", default="1,8,32", help="concurrency levels, comma-separated")
    p.add_argument("--seconds", type=float, default=10.0, help="counted seconds per level and server")
    p.add_argument("--warmup", type=float, default=3.0, help="uncounted seconds before each level")
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--pg-url", default=os.environ.get("DEALDESK_TEST_PG_URL") or DEFAULT_PG_URL)
    p.add_argument("--workers", type=int, default=1, help="also run dealdesk with N workers (PostgreSQL), alone")
    p.add_argument("--workers-servers", default="dealdesk",
                   help="which servers to run with N workers, one after the other (dealdesk,bare)")
    p.add_argument("--servers", default="bare,dealdesk", help="which servers (default both)")
    p.add_argument("--connections", choices=("per-negotiation", "per-buyer"), default="per-negotiation",
                   help="a connection per negotiation (default), or one long-lived connection per buyer")
    p.add_argument("--orgs-per-buyer", type=int, default=16,
                   help="organisations each simulated buyer negotiates as, in turn (a fresh one every 17 negotiations)")
    p.add_argument("--json", type=Path, help="write the results as JSON here")
    p.add_argument("--tweak", action="append", default=[],
                   help="experiment: also run dealdesk x1 with a tweak beside the others, e.g. slots=2 or "
                        "switch=0.001 (repeatable; see serve_tweaked)")
    p.add_argument("--profile", action="store_true", help="then profile dealdesk (one worker) under load")
    p.add_argument("--profile-buyers", type=int, default=8)
    p.add_argument("--profile-top", type=int, default=25)
    args = p.parse_args(argv)
    levels = [int(x) for x in args.buyers.split(",") if x.strip()]
    names = [x.strip() for x in args.servers.split(",") if x.strip()]
    if args.workers > 1 and args.db == "sqlite":
        raise SystemExit("--workers > 1 needs --db postgres (dealdesk serve refuses several workers on SQLite)")
    info = machine()
    command = "python bench/serve.py " + " ".join(argv)
    print(f"{info['date']}  {info['cpu']}, {info['cores']} cores, {info['mem_gib']} GiB, Python {info['python']}, "
          f"load average {info['loadavg_start'][0]:.2f}")
    print(f"command: {command}")
    results: list[dict[str, Any]] = []
    profile: dict[str, Any] | None = None
    with ExitStack() as stack:
        dbs = Databases(args.db, args.pg_url, stack)
        servers: list[Server] = []
        stack.callback(lambda: [s.stop() for s in servers])
        # Phase 1: the single-process servers side by side, levels interleaved. Phase 2 (--workers N): each
        # N-worker server alone: N dealdesk processes can hold ~50 PostgreSQL connections each under load
        # (see BENCHMARKS.md), so nothing else runs beside them.
        phases: list[list[tuple[str, int, str | None]]] = [
            [(n, 1, None) for n in names] + [("dealdesk", 1, t) for t in args.tweak]]
        if args.workers > 1:
            phases += [[(n, args.workers, None)] for n in args.workers_servers.split(",") if n in names]
        for phase in phases:
            group: list[Server] = []
            for name, workers, tweak in phase:
                url = dbs.new(f"{name}-x{workers}-{len(servers)}")
                keys = make_keys(url, levels, args.orgs_per_buyer) if name == "dealdesk" else None
                group.append(start_server(name, workers, url, dbs.tmp, keys=keys, tweak=tweak))
                servers.append(group[-1])
            for s in group:
                s.wait_ready()
            for level, n in enumerate(levels):
                for s in group:
                    r = asyncio.run(load(s, n, level, args.warmup, args.seconds, args.connections))
                    r["loadavg"] = round(os.getloadavg()[0], 2)
                    results.append(r)
                    extra = f"  errors: {r['error_samples']}" if r["errors"] else ""
                    print(f"  {s.label:<12} {n:>3} buyers: {r['turns_per_s']:7.1f} turns/s  p50 {r['p50_ms']:7.1f} ms  "
                          f"p99 {r['p99_ms']:7.1f} ms  errors {r['errors']}  by kind {r['p50_ms_by_kind']}  "
                          f"load {r['loadavg']}{extra}", flush=True)
            for s in group:
                s.stop()
        if args.profile:
            url = dbs.new("dealdesk-profiled")
            keys = make_keys(url, [args.profile_buyers], args.orgs_per_buyer)
            out = dbs.tmp / "dealdesk.prof"
            s = start_server("dealdesk", 1, url, dbs.tmp, keys=keys, profile_out=out)
            servers.append(s)
            s.wait_ready()
            s.proc.send_signal(signal.SIGUSR1)  # forget start-up
            time.sleep(0.2)
            r = asyncio.run(load(s, args.profile_buyers, 0, args.warmup, args.seconds, args.connections))
            s.stop(timeout=60)
            profile = report_profile(out, max(r["turns_all"], 1), args.profile_top)
            profile["load"] = r
    print_results(results, args, info, command, profile)
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "command": command, "results": results,
                                         "targets": [{"target": t, "met": ok, "value": v}
                                                     for t, ok, v in targets(results, args.workers, args.db)],
                                         "profile": profile}, indent=2))
    return 1 if any(r["errors"] for r in results) else 0


def print_results(results: list[dict[str, Any]], args: argparse.Namespace, info: dict[str, Any], command: str,
                  profile: dict[str, Any] | None) -> None:
    print()
    print(f"Serving, --db {args.db}: {args.seconds:g} s counted per level after {args.warmup:g} s warm-up")
    print("| server | workers | buyers | turns/s | p50 ms | p99 ms | errors | vs bare x1 (turns/s, p50) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        bare = next((b for b in results if b["server"] == "bare" and b["workers"] == 1 and b["buyers"] == r["buyers"]),
                    None)
        print(fmt_row(r, bare))
    print()
    for name, ok, value in targets(results, args.workers, args.db):
        mark = "n/a" if ok is None else ("met" if ok else "NOT MET")
        print(f"  {name}: {value} ({mark})")
    print(f"  load average at the end: {os.getloadavg()[0]:.2f}")
    if profile:
        print()
        load_ = profile["load"]
        print(f"Profile: dealdesk x1 under cProfile (all threads), {load_['buyers']} buyers, {load_['turns']} counted "
              f"turns ({load_['turns_per_s']} turns/s under the profiler); busy time {profile['busy_s']} s in all "
              f"threads, idle waits apart ({profile['idle_s']} s)")
        print("Own time by area (share of the busy time):")
        for area, share in profile["areas"]:
            print(f"  {share:6.1%}  {area}")
        print(f"Top {len(profile['top_own'])} functions by own time:")
        for r in profile["top_own"]:
            print(f"  {r['share']:6.1%}  {r['own_s']:8.3f} s  {r['calls']:>9} calls  {r['where']}")
        print("dealdesk's own functions (agent/, tools/) by cumulative time per turn:")
        for r in profile["own_code"]:
            print(f"  {r['ms_per_turn']:8.2f} ms  {r['share']:6.1%}  {r['calls_per_turn']:>6} calls/turn  {r['where']}")
        print("SQLite statements (execute, incl. lock waits and COMMIT fsyncs) by caller: share of busy, ms per turn:")
        for where, share, ms in profile["db_callers"]:
            print(f"  {share:6.1%}  {ms:8.2f} ms  {where}")
        print(f"Main steps (cumulative time per turn, over all {load_['turns_all']} turns incl. warm-up; for "
              "coroutines, the time they ran, not the time they waited):")
        for label, s in profile["steps"].items():
            print(f"  {s['ms_per_turn']:8.2f} ms  {s['share']:6.1%}  {s['calls_per_turn']:>6} calls/turn  {label}")


if __name__ == "__main__":
    sys.exit(main())
