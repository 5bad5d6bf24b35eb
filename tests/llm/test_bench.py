"""bench/llm_calls.py on its suite: dealdesk against the ReAct baseline, counted at the same scripted server."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "llm_calls.py"


def _bench():
    spec = importlib.util.spec_from_file_location("dealdesk_bench_llm_calls", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_targets_hold_and_every_turn_answers() -> None:
    bench = _bench()
    costs = bench.run("cascade")
    summary = bench.summarise(costs)
    assert all(bench.targets(summary).values()), bench.report(costs, "cascade")
    dealdesk = [c for c in costs if c.design == "dealdesk"]
    assert all(c.calls == 0 for c in dealdesk if c.structured or c.read_by == "parser")
    assert all(c.reply for c in costs)
    # the baseline did its work: three calls for every offer (price, submit, reply)
    react = [c for c in costs if c.design == "react" and c.label in ("rfq", "counter")]
    assert react and all(c.calls == 3 for c in react)
