"""Anatomy of a seller turn: the SQL statements each kind of turn runs, and the wall time of each graph node.

Run: `.venv/bin/python bench/turn_anatomy.py [--negotiations 40]` (offline model, SQLite in a temp dir).

- Statements: every statement the store's engine sends (a SQLAlchemy `before_cursor_execute`
  listener), for an `rfq`, a `counter_offer` that makes a new proposal version, and a text question,
  each on a fresh negotiation after a warm-up. BENCHMARKS.md's "statements per turn" come from here.
  On SQLite the store runs the turn's statements on the sqlite3 connection, past SQLAlchemy's events
  (agent/store/direct.py), except while anyone listens to them: with this listener attached every
  statement goes through SQLAlchemy, so the list holds exactly the statements (the same SQL, one
  entry per execute or executemany) that the driver path sends once the listener is gone.
  SQLite's BEGINs are not among them since the store begins through the dialect's hook (agent/store/db.py).
- Checkpoint: after four structured turns, the messages the negotiation's checkpoint holds, their size and
  the time to load them (every later turn loads them again).
- Statement overhead: one indexed SELECT through SQLAlchemy Core and through the driver.
- Node bodies: the seller graph's node methods (and the tools node) timed by a wrapper over rfq /
  counter / reject negotiations, the heap frozen out of the cyclic GC first (as a server worker does); what is left of a turn is LangGraph, the checkpointer and
  `Seller._run` around the graph. Of those, also timed: the turn's view (`Seller._open_view`, before the
  graph), the decision log lines (written when the turn ends), and the store's write transactions
  (the COMMIT apart).
- The store's WAL frames of one counter-offer: what its COMMIT writes (a frame per page it changed).
- LangGraph alone: `invoke` of structured negotiations (an rfq, three counter-offers) run live (split per
  turn into the node bodies and the rest: LangGraph's own steps and the checkpointer), then on a graph
  whose nodes give back the outputs one live negotiation recorded (the same writes, Commands and
  checkpoints, no node work), then on the same graph with each node first spinning in a loop for as long
  as it took live (the time, not the work), and the bare graph of bench/turn.py. The rest of a live turn
  against the replayed one is what the node work costs LangGraph's own steps beyond its own time.
  A last control runs the bare graph (no state to speak of, no writes) with nodes that compute (a plain
  Python loop, calibrated, no clock polled inside) for about as long as the live node at that position
  took: its invoke less those bodies, against the no-op bare graph, is what busy nodes cost LangGraph's
  steps when there is no dealdesk state at all.

It uses only `Seller` and `SellerGraph`'s node methods, so it runs on earlier commits too (for a
before / after comparison; the parts an earlier commit lacks are left out).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event  # noqa: E402

import agent.graph as graph_module  # noqa: E402
import agent.records as records_module  # noqa: E402
import agent.store.store as store_module  # noqa: E402
from agent.config import load_data  # noqa: E402
from agent.records import configure_logging  # noqa: E402
from agent.server import heap  # noqa: E402
from agent.service import Buyer, Seller  # noqa: E402

SKU = "BRG-6204"
NODES = ("begin", "understand", "prepare", "agent", "guardrail", "approval", "commit")


def rfq(qty: int = 10) -> dict:
    return {"type": "rfq", "items": [{"sku": SKU, "quantity": str(qty)}]}


def counter(proposal: dict, price: str) -> dict:
    return {"type": "counter_offer", "proposal_id": proposal["proposal_id"], "version": proposal["version"],
            "items": [{"sku": SKU, "quantity": proposal["items"][0]["quantity"], "unit_price": price}]}


def statements(seller: Seller) -> dict[str, Counter]:
    seen: list[str] = []

    @event.listens_for(seller.store.engine, "before_cursor_execute")
    def _seen(conn, cursor, statement, params, context, executemany):  # noqa: ANN001
        seen.append(" ".join(statement.split()[:3]))

    def one(label: str, send) -> tuple[str, Counter]:  # noqa: ANN001
        seen.clear()
        send()
        return label, Counter(seen)

    out = {}
    nid = seller.start(Buyer(org="anatomy-a", region="EU"))
    first = seller.send(nid, data=rfq())
    nid2 = seller.start(Buyer(org="anatomy-b", region="EU"))
    out.update([one("rfq", lambda: seller.send(nid2, data=rfq()))])
    out.update([one("counter_offer (new version)", lambda: seller.send(nid, data=counter(first.data, "2.60")))])
    out.update([one("text question", lambda: seller.send(nid, text=f"what is the bore of {SKU}?"))])
    event.remove(seller.store.engine, "before_cursor_execute", _seen)
    return out


def node_times(seller: Seller, n: int) -> tuple[float, dict[str, float]]:
    spent: dict[str, float] = defaultdict(float)
    cls = graph_module.SellerGraph
    originals = {name: getattr(cls, name) for name in NODES}

    def timed(name: str, fn):  # noqa: ANN001, ANN202
        def wrapper(self, *args, **kwargs):  # noqa: ANN001, ANN202
            t0 = time.perf_counter()
            try:
                return fn(self, *args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t0
        return wrapper

    for name, fn in originals.items():
        setattr(cls, name, timed(name, fn))
    extra = {}  # outside the node bodies, or parts of them: (owner, attribute) -> original
    extra[(Seller, "_open_view")] = Seller._open_view
    Seller._open_view = timed("(view, before the graph)", Seller._open_view)
    if hasattr(records_module, "_log"):  # a turn's log lines, written when it ends
        extra[(records_module, "_log")] = records_module._log
        log = records_module._log

        def logged(*args):  # noqa: ANN002, ANN202
            t0 = time.perf_counter()
            try:
                return log(*args)
            finally:
                spent["(log lines, at the end)"] += time.perf_counter() - t0
        records_module._log = logged
    transaction = store_module.transaction
    extra[(store_module, "transaction")] = transaction

    @contextmanager
    def timed_transaction(engine, **kw):  # noqa: ANN001, ANN003, ANN202
        with transaction(engine, **kw) as conn:
            yield conn
            t0 = time.perf_counter()  # the body is done: what is left is the COMMIT (and the checkin)
        spent["of which the COMMIT"] += time.perf_counter() - t0
    store_module.transaction = timed_transaction
    try:  # the tools node, where it is dealdesk's own (agent/tool_calls.py)
        from agent.tool_calls import ToolCalls
    except ImportError:
        ToolCalls = None  # noqa: N806
    tools_call = ToolCalls.__call__ if ToolCalls is not None else None
    if tools_call is not None:
        def tools(self, state):  # noqa: ANN001, ANN202
            t0 = time.perf_counter()
            try:
                return tools_call(self, state)
            finally:
                spent["tools"] += time.perf_counter() - t0
        ToolCalls.__call__ = tools
    try:
        # the graph was compiled with the original methods bound: compile a fresh one through them
        seller.graph.graph = seller.graph._build().compile(checkpointer=seller.checkpointer)
        turns, t0 = 0, time.perf_counter()
        for i in range(n):
            nid = seller.start(Buyer(org=f"anatomy-t{i}", region="EU"))
            p = seller.send(nid, data=rfq()).data
            seller.send(nid, data=counter(p, "2.60"))
            seller.send(nid, data={"type": "reject", "proposal_id": p["proposal_id"], "reason": "bench"})
            turns += 3
        wall = (time.perf_counter() - t0) / turns
    finally:
        for name, fn in originals.items():
            setattr(cls, name, fn)
        for (owner, attr), fn in extra.items():
            setattr(owner, attr, fn)
        if tools_call is not None:
            ToolCalls.__call__ = tools_call
    return wall, {k: v / turns for k, v in spent.items()}


def checkpoint_history(seller: Seller, loads: int = 200) -> tuple[int, int, float]:
    """After an rfq and three counter-offers (as bench/turn.py's structured turns): the entries of the
    checkpointed conversation, the serialised size of the whole checkpoint, and the time to deserialise
    it, which every later turn pays."""
    nid = seller.start(Buyer(org="anatomy-history", region="EU"))
    p = seller.send(nid, data=rfq()).data
    for price in ("2.40", "2.50", "2.60"):
        p = seller.send(nid, data=counter(p, price)).data
    saver = seller.graph.graph.checkpointer
    checkpoint = saver.get_tuple({"configurable": {"thread_id": nid}}).checkpoint
    kind, blob = saver.serde.dumps_typed(checkpoint)
    t0 = time.perf_counter()
    for _ in range(loads):
        saver.serde.loads_typed((kind, blob))
    return len(checkpoint["channel_values"].get("history") or []), len(blob), (time.perf_counter() - t0) / loads


def wal_frames(seller: Seller) -> int:
    """The store's WAL frames (pages) one counter-offer's COMMIT writes."""
    path = seller.store.engine.url.database
    with seller.store.engine.connect() as conn:
        page = conn.connection.driver_connection.execute("PRAGMA page_size").fetchone()[0]
        nid = seller.start(Buyer(org="anatomy-wal", region="EU"))
        p = seller.send(nid, data=rfq()).data
        # An empty WAL (its pages copied into the database), so the turn's frames are all the WAL holds.
        busy, _, _ = conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise RuntimeError("the store's WAL could not be emptied (a reader or writer is open)")
        seller.send(nid, data=counter(p, "2.60"))
    return (os.path.getsize(path + "-wal") - 32) // (page + 24)  # the WAL's header; a frame's header and page


def _time_invoke(graph, into: list[float]) -> None:  # noqa: ANN001
    """Add the seconds of each of the compiled graph's `invoke` calls to `into`."""
    invoke = graph.invoke

    def timed(*args, **kw):  # noqa: ANN002, ANN003, ANN202
        t0 = time.perf_counter()
        try:
            return invoke(*args, **kw)
        finally:
            into.append(time.perf_counter() - t0)
    graph.invoke = timed


def langgraph_alone(catalog, policy, tmp: str, n: int) -> dict[str, float] | None:  # noqa: ANN001
    """Per structured turn (p50, seconds): `invoke` run live, and of it the node bodies and what is left
    (LangGraph's own steps and the checkpointer); `invoke` with the nodes replaying recorded outputs
    (LangGraph alone, the same writes); with the nodes replaying them after spinning as long as the live
    bodies took (time spent, no work done); and the bare graph (see the module's docstring). None on a commit
    whose nodes are not wrapped by `_on_channels`."""
    on_channels = getattr(graph_module, "_on_channels", None)
    if on_channels is None:
        return None
    import turn as bench_turn  # noqa: PLC0415 - bench/turn.py: the bare graph, as its ratio uses it

    tape: dict[tuple[int, int], object] = {}
    took: dict[tuple[int, int], list[float]] = defaultdict(list)  # live seconds of each node call
    mode, at, inside = ["live"], [0, 0], [0.0]  # (turn of the negotiation, node call of the turn)

    def taped(node):  # noqa: ANN001, ANN202
        live = on_channels(node)

        def run(state):  # noqa: ANN001, ANN202
            key = (at[0], at[1])
            at[1] += 1
            if mode[0] == "replay":
                return tape[key]
            if mode[0] == "spin":
                t0 = time.perf_counter()
                end = t0 + statistics.median(took[key])
                while time.perf_counter() < end:
                    pass
                inside[0] += time.perf_counter() - t0
                return tape[key]
            t0 = time.perf_counter()
            out = live(state)
            spent_here = time.perf_counter() - t0
            inside[0] += spent_here
            if mode[0] == "record":
                tape[key] = out
            else:
                took[key].append(spent_here)
            return out
        return run

    graph_module._on_channels = taped
    try:
        seller = Seller.open(catalog, policy, f"sqlite:///{tmp}/alone.db")
    finally:
        graph_module._on_channels = on_channels
    spent: list[float] = []
    _time_invoke(seller.graph.graph, spent)

    def negotiation(label: str, bodies: list[float]) -> None:
        nid = seller.start(Buyer(org=f"anatomy-{label}", region="EU"))
        p = None
        for k, price in enumerate((None, "2.40", "2.50", "2.60")):
            at[:] = [k, 0]
            inside[0] = 0.0
            replaying = mode[0] in ("replay", "spin")
            p = seller.send(nid, data=rfq() if p is None or replaying else counter(p, price)).data
            bodies.append(inside[0])
    try:
        mode[0] = "record"
        negotiation("record", [])
        runs: dict[str, tuple[list[float], list[float]]] = {m: ([], []) for m in ("live", "replay", "spin")}
        for i in range(n):
            for kind, (invokes, bodies) in runs.items():
                mode[0] = kind
                spent.clear()
                negotiation(f"{kind}{i}", bodies)
                invokes.extend(spent)
        bare = bench_turn.BareSeller(bench_turn.bare_graph([f"n{i}" for i in range(9)],
                                                           bench_turn.make_checkpointer(f"sqlite:///{tmp}/bare.db")))
        bare_spent: list[float] = []
        _time_invoke(bare.graph.graph, bare_spent)
        # the busy control: per node position, the median live time of that node over the structured turns
        per_position = [statistics.median(v for (_, pos), vs in took.items() if pos == i for v in vs)
                         for i in range(9)]
        rate = _loop_rate()
        busy_in = [0.0]

        def busy(iterations: int):  # noqa: ANN202
            def node(state):  # noqa: ANN001, ANN202
                t0 = time.perf_counter()
                _compute(iterations)
                busy_in[0] += time.perf_counter() - t0
                return {}
            return node
        busy_bare = bench_turn.BareSeller(bench_turn.bare_graph(
            [f"n{i}" for i in range(9)], bench_turn.make_checkpointer(f"sqlite:///{tmp}/busy.db"),
            bodies=[busy(int(t * rate)) for t in per_position]))
        busy_spent: list[float] = []
        busy_bodies: list[float] = []
        _time_invoke(busy_bare.graph.graph, busy_spent)
        for i in range(n + 1):  # interleaved, negotiation by negotiation: the machine's drift falls on both
            for _ in range(bench_turn.TURNS_PER_NEGOTIATION):
                busy_in[0] = 0.0
                busy_bare.send(f"anatomy-busy-{i}", "need 120 x BRG-6204")
                busy_bodies.append(busy_in[0])
            bench_turn.run_bare(bare, [], "anatomy", i)
    finally:
        seller.close()

    def rest(kind: str) -> float:  # per turn, invoke less its node bodies
        invokes, bodies = runs[kind]
        return statistics.median(a - b for a, b in zip(invokes, bodies, strict=True))
    return {"live": statistics.median(runs["live"][0]), "live_bodies": statistics.median(runs["live"][1]),
            "live_rest": rest("live"), "replayed": statistics.median(runs["replay"][0]),
            "spin": statistics.median(runs["spin"][0]), "spin_rest": rest("spin"),
            "bare": statistics.median(bare_spent[4:]),
            "busy_bare": statistics.median(busy_spent[4:]), "busy_bodies": statistics.median(busy_bodies[4:]),
            "busy_rest": statistics.median(a - b for a, b in zip(busy_spent[4:], busy_bodies[4:], strict=True))}


def _compute(iterations: int) -> int:
    """The busy control's work: a plain loop, no clock polled, nothing written."""
    x = 0
    for i in range(iterations):
        x += i * i
    return x


def _loop_rate() -> float:
    """Iterations a second of `_compute` on this machine (the best of five timings)."""
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        _compute(200_000)
        best = min(best, time.perf_counter() - t0)
    return 200_000 / best


def statement_overhead(seller: Seller, n: int = 3000) -> tuple[float, float]:
    """One indexed single-row SELECT through SQLAlchemy Core (statement built once) and through the
    sqlite3 driver itself: seconds a statement."""
    from sqlalchemy import bindparam, select

    from agent.store import schema

    stmt = select(schema.negotiations).where(schema.negotiations.c.id == bindparam("id"))
    sql = "SELECT * FROM dd_negotiations WHERE id = ?"
    with seller.store.engine.connect() as conn:
        t0 = time.perf_counter()
        for _ in range(n):
            conn.execute(stmt, {"id": "none"}).first()
        core = (time.perf_counter() - t0) / n
        raw = conn.connection.driver_connection
        t0 = time.perf_counter()
        for _ in range(n):
            raw.execute(sql, ("none",)).fetchone()
        driver = (time.perf_counter() - t0) / n
    return core, driver


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--negotiations", type=int, default=40, help="negotiations (3 turns each) for the node times")
    args = p.parse_args()
    configure_logging(io.StringIO())
    catalog, policy = load_data()
    with tempfile.TemporaryDirectory(prefix="dd-anatomy-") as tmp:
        seller = Seller.open(catalog, policy, f"sqlite:///{tmp}/dealdesk.db")
        try:
            for label, counts in statements(seller).items():
                print(f"{label}: {sum(counts.values())} statements")
                for stmt, k in counts.most_common():
                    print(f"  {k:3d}  {stmt}")
            node_times(seller, 3)  # warm-up
            # As `dealdesk serve` does once started: a full collection of the cyclic GC (tens of ms, every
            # hundred turns or so) would otherwise land in whichever node allocates at that moment.
            heap.settle()
            wall, nodes = node_times(seller, args.negotiations)
            count, size, load = checkpoint_history(seller)
            core, driver = statement_overhead(seller)
            frames = wal_frames(seller)
        finally:
            seller.close()
        alone = langgraph_alone(catalog, policy, tmp, args.negotiations)
    print(f"\ncheckpoint after an rfq and 3 counter-offers: {count} conversation entries, {size} bytes, "
          f"{load * 1000:.2f} ms to load")
    print(f"one indexed SELECT: {core * 1e6:.1f} us through SQLAlchemy Core, {driver * 1e6:.1f} us through sqlite3")
    print(f"\nnode bodies over {args.negotiations * 3} turns (rfq, counter, reject), {wall * 1000:.2f} ms/turn:")
    inside = {k: v for k, v in nodes.items() if not k.startswith("(") and not k.startswith("of which")}
    for name, sec in sorted(inside.items(), key=lambda kv: -kv[1]):
        print(f"  {name:11s} {sec * 1000:6.2f} ms")
        if name == "commit" and "of which the COMMIT" in nodes:
            print(f"    {'of which the store COMMIT':23s} {nodes['of which the COMMIT'] * 1000:6.2f} ms")
    print(f"  {'(the rest)':11s} {(wall - sum(inside.values())) * 1000:6.2f} ms  "
          "(LangGraph, the checkpointer, Seller._run), of which:")
    for name in ("(view, before the graph)", "(log lines, at the end)"):
        if name in nodes:
            print(f"    {name[1:-1]:23s} {nodes[name] * 1000:6.2f} ms")
    print(f"\nthe store's COMMIT of a counter-offer: {frames} WAL frames (a page each)")
    if alone is not None:
        ms = {k: v * 1000 for k, v in alone.items()}
        print(f"LangGraph alone, invoke p50 of {args.negotiations * 4} structured turns (ms):")
        print(f"  live                                  {ms['live']:6.2f}  (node bodies {ms['live_bodies']:.2f}, "
              f"the rest {ms['live_rest']:.2f})")
        print(f"  nodes replaying recorded outputs      {ms['replayed']:6.2f}")
        print(f"  the same, after spinning as long      {ms['spin']:6.2f}  (the rest {ms['spin_rest']:.2f})")
        print(f"  bare graph (9 no-op nodes)            {ms['bare']:6.2f}")
        print(f"  bare graph, nodes busy as long        {ms['busy_bare']:6.2f}  (node bodies {ms['busy_bodies']:.2f}, "
              f"the rest {ms['busy_rest']:.2f})")

if __name__ == "__main__":
    main()
