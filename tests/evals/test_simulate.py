"""Simulated buyers: every strategy plays, nothing violates the policy, scenarios are deterministic."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from agent.cli import app
from agent.config import load_data
from evals.buyers import STRATEGIES
from evals.simulate import scenarios, simulate, simulate_failed


def test_small_simulation_has_no_violations() -> None:
    report = simulate(list(STRATEGIES), 18, seed=7, jobs=1)
    s = report["summary"]
    assert s["negotiations"] == 18
    assert s["violations"] == 0, [r["violations"] for r in report["negotiations"] if r["violations"]]
    assert s["leaks"] == 0
    assert s["impossible_deals"] == 0
    assert s["harness_errors"] == 0 and s["exceptions"] == 0
    assert not simulate_failed(report)
    assert set(report["by_strategy"]) == set(STRATEGIES)
    verdicts = set(s["verdicts"])
    assert verdicts <= {"deal", "missed_deal", "correct_walkaway"}
    assert "deal" in verdicts
    # the fuzzer's malformed messages are answered with typed errors, never crashes
    assert (report["by_strategy"]["fuzzer"]["error_codes"] or {}).keys() <= {
        "malformed_message", "unknown_sku", "unknown_proposal", "unsupported_currency", "proposal_superseded",
        "invalid_quantity", "negotiation_closed"}


def test_a_buyer_that_writes_only_words_reaches_every_deal_there_is() -> None:
    """`texter` quotes, counters with a unit price or a budget for the whole order, asks questions between its
    counters and accepts, all in plain text: the offline parser has to read every one of its messages."""
    report = simulate(["texter"], 12, seed=3, jobs=1)
    s = report["summary"]
    assert s["violations"] == 0 and s["leaks"] == 0 and s["harness_errors"] == 0 and s["exceptions"] == 0
    assert set(s["verdicts"]) <= {"deal", "correct_walkaway"}, s["verdicts"]  # no deal that was possible missed
    assert s["verdicts"].get("deal", 0) >= 6


def test_scenarios_are_deterministic_and_possible_by_construction() -> None:
    cat, pol = load_data()
    a = scenarios(list(STRATEGIES), 60, 11, cat, pol)
    b = scenarios(list(STRATEGIES), 60, 11, cat, pol)
    assert a == b
    for sc in a:
        if sc.possible:
            assert sc.limit is not None and sc.reservation >= sc.limit
        elif sc.limit is not None:
            assert sc.reservation < sc.limit
    assert any(sc.possible for sc in a) and any(not sc.possible for sc in a)
    # without an operator, non-autonomous lines cannot be closed at all
    none = scenarios(["boulware"], 40, 3, cat, pol, operator="none")
    assert all(sc.limit is None for sc in none if sc.sku.startswith("MTR-"))


def test_simulate_cli_writes_a_report(tmp_path: Path) -> None:
    out = tmp_path / "sim.json"
    res = CliRunner().invoke(app, ["eval", "simulate", "--buyers", "conceder,split", "--n", "4", "--seed", "2",
                                   "--report", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert doc["summary"]["negotiations"] == 4 and doc["summary"]["violations"] == 0
    assert "missed" in res.output and "walk-away ok" in res.output


def test_unknown_strategy_is_refused() -> None:
    res = CliRunner().invoke(app, ["eval", "simulate", "--buyers", "nope", "--n", "1"])
    assert res.exit_code != 0


def test_empty_names_in_buyers_are_ignored_and_none_at_all_refused() -> None:
    res = CliRunner().invoke(app, ["eval", "simulate", "--buyers", "conceder,,", "--n", "2", "--seed", "1"])
    assert res.exit_code == 0, res.output
    none = CliRunner().invoke(app, ["eval", "simulate", "--buyers", " , ", "--n", "1"])
    assert none.exit_code == 2 and "no strategy named" in none.output, none.output
