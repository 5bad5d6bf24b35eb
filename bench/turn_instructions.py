"""Instructions per seller turn and per bare-graph turn, counted by valgrind (cachegrind): a before/after
measure that the machine's load does not move, for changes too small to see in `bench/turn.py`'s timings.

Run: `.venv/bin/python bench/turn_instructions.py [--tree PATH] [--negotiations 5 25] [--stub PART,...]`
(about a minute; needs `valgrind`). `--tree` measures another checkout (a `git worktree` of an earlier
commit) with this venv. `--stub` leaves parts out of the seller's turn (records, text_check, digests, log:
`STUBS`), so the difference to a full run is what they cost.

Each measure runs a process twice under `valgrind --tool=cachegrind --cache-sim=no`: after the same warm-up
(imports, caches, connections), once with the smaller and once with the larger number of negotiations; the
difference of the two instruction totals over the difference of turns is the cost of one turn, start-up
excluded. Seller: offline model, SQLite store and checkpointer in a temp dir, decision records to a file,
the structured and text negotiations of `bench/turn.py` (four turns each), as many of each. Bare: the bare
graph of `bench/turn.py` with its nine no-op nodes, four turns a thread.

Both run with PYTHONHASHSEED=0 (the same work every run). Instructions are user-space instructions of every
thread. They leave out the kernel's share (file writes)
and are not time: valgrind runs sha256 without the CPU's SHA instructions (BENCHMARKS.md measures it), so
hashing counts more than it costs.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
NODES = ["begin", "understand", "prepare", "agent", "tools", "agent", "guardrail", "approval", "commit"]


def _stub_records() -> None:  # the turn's records persisted with their audit entry
    from agent.store.store import Store  # noqa: PLC0415

    Store._insert_records = staticmethod(lambda conn, records, advanced=None: None)


def _stub_text_check() -> None:  # the guardrail's check of the words (the structured offer is still checked)
    import agent.guardrail.check as check  # noqa: PLC0415

    check.check_text = lambda *args, **kwargs: []


def _stub_digests() -> None:  # each record's digest of its node's input
    import agent.records as records  # noqa: PLC0415

    records.digest = lambda value: "sha256:" + "0" * 32


def _stub_log() -> None:  # the records' structlog lines
    import agent.records as records  # noqa: PLC0415

    records._log = lambda *args: None


# What `--stub` can leave out of the seller's turn, to see what a part costs (the rest runs as it is).
STUBS = {"records": _stub_records, "text_check": _stub_text_check, "digests": _stub_digests, "log": _stub_log}


def _split(value: str) -> list[str]:
    return [x for x in value.split(",") if x]


def stub_names(parser: argparse.ArgumentParser, value: str) -> list[str]:
    """The parts a `--stub a,b` names, each one of `STUBS` (else the parser's usage error)."""
    names = _split(value)
    unknown = [x for x in names if x not in STUBS]
    if unknown:
        parser.error(f"unknown --stub {', '.join(unknown)} (one of {', '.join(STUBS)})")
    return names


def apply_stubs(names: list[str]) -> None:
    for name in names:
        STUBS[name]()


def child(kind: str, negotiations: int) -> None:
    """The measured process: warm-up, then `negotiations` of each kind."""
    root = os.environ["DEALDESK_TREE"]
    sys.path[:0] = [str(Path(root) / "bench"), root]
    import turn  # noqa: PLC0415 - the tree's own bench/turn.py

    tmp = tempfile.mkdtemp(prefix="dd-bench-ir-")
    if kind == "bare":
        bare = turn.BareSeller(turn.bare_graph(NODES, turn.make_checkpointer(f"sqlite:///{tmp}/bare.db")))
        for i in range(6):
            turn.run_bare(bare, [], "warm", i)
        for i in range(2 * negotiations):
            turn.run_bare(bare, [], "timed", i)
        return
    apply_stubs(_split(os.environ.get("DEALDESK_STUBS", "")))
    from agent.config import load_data  # noqa: PLC0415
    from agent.records import configure_logging  # noqa: PLC0415
    from agent.service import Seller  # noqa: PLC0415

    configure_logging(open(f"{tmp}/decisions.log", "a", encoding="utf-8"))  # noqa: SIM115
    catalog, policy = load_data()
    seller = Seller.open(catalog, policy, f"sqlite:///{tmp}/dealdesk.db")
    runner = turn.Runner(seller, turn.Scripts(catalog, policy), "ir")
    for _ in range(3):
        runner.structured(None)
        runner.text(None)
    for _ in range(negotiations):
        runner.structured(None)
        runner.text(None)


def instructions(tree: str, kind: str, negotiations: int, stubs: str = "") -> int:
    cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
           sys.executable, str(Path(__file__).resolve()), "--child", kind, str(negotiations)]
    # A fixed hash seed: with a random one, set and dict orders (and so the work done) vary from run to run
    # by a few hundred thousand instructions a turn.
    env = {**os.environ, "DEALDESK_TREE": tree, "PYTHONPATH": tree, "PYTHONHASHSEED": "0", "DEALDESK_STUBS": stubs}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stderr
    m = re.search(r"I\s+refs:\s+([\d,]+)", out)
    if m is None:
        raise SystemExit(f"no instruction count from valgrind:\n{out[-2000:]}")
    return int(m.group(1).replace(",", ""))


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", default=str(HERE.parent), help="the checkout to measure (default: this one)")
    parser.add_argument("--negotiations", type=int, nargs=2, default=(5, 25), metavar=("FEW", "MANY"))
    parser.add_argument("--stub", default="", metavar="PART[,PART]",
                        help=f"leave parts out of the seller's turn: {', '.join(STUBS)}")
    args = parser.parse_args()
    stub_names(parser, args.stub)
    few, many = args.negotiations
    tree = str(Path(args.tree).resolve())
    commit = subprocess.run(["git", "-C", tree, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    per_turn = {}
    for kind, turns_per in (("seller", 8), ("bare", 8)):  # seller: a structured and a text negotiation of 4
        stubs = args.stub if kind == "seller" else ""
        a, b = instructions(tree, kind, few, stubs), instructions(tree, kind, many, stubs)
        per_turn[kind] = (b - a) / ((many - few) * turns_per)
    print(f"tree {tree} (commit {commit or '?'}), negotiations {few} and {many} of each kind")
    print(f"seller turn (structured and text alike){f', without {args.stub}' if args.stub else ''}: "
          f"{per_turn['seller'] / 1e6:.2f} M instructions")
    print(f"bare graph turn, {len(NODES)} no-op nodes:  {per_turn['bare'] / 1e6:.2f} M instructions")
    print(f"ratio: {per_turn['seller'] / per_turn['bare']:.2f}x")


if __name__ == "__main__":
    main()
