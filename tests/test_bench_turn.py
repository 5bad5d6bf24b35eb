"""The seller-turn benchmarks run on the current graph (their numbers are BENCHMARKS.md's, not tested):
a short run of each, so a change to the graph's state cannot leave them broken."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> str:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


def test_turn_benchmark_runs_and_reports_the_ratio() -> None:
    out = _run("bench/turn.py", "--turns", "8")
    assert "bare graph, 9 no-op nodes" in out and "target (issue 3): ratio <= 2x" in out
    assert "structured: replies {'proposal': 8}" in out and "LEFT OUT" not in out


def test_turn_benchmark_says_what_a_stubbed_run_left_out() -> None:
    out = _run("bench/turn.py", "--turns", "4", "--stub", "text_check,log")
    assert "LEFT OUT of the seller's turn (--stub): text_check, log" in out
    assert "(left out: text_check, log; not dealdesk as it runs)" in out


def test_turn_anatomy_runs_and_reports_the_checkpoint_and_the_nodes() -> None:
    out = _run("bench/turn_anatomy.py", "--negotiations", "1")
    assert "conversation entries" in out and "node bodies over 3 turns" in out
    assert "rfq: " in out and "statements" in out
    assert "WAL frames" in out and "nodes replaying recorded outputs" in out
    assert "after spinning as long" in out and "(node bodies " in out
    busy = re.search(r"bare graph, nodes busy as long +([\d.]+) +\(node bodies ([\d.]+), the rest ([\d.]+)\)", out)
    assert busy is not None, out
    total, bodies, rest = (float(x) for x in busy.groups())
    assert bodies > 0 and abs(total - bodies - rest) < 0.5  # per-turn medians: they need not add up exactly
