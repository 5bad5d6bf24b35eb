"""A policy change makes a known case regress: the runner reports it, flags it against the baseline, exits 1."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from agent.cli import app
from evals.case import Case, load_suite, write_suite

SUITES = Path(__file__).resolve().parents[2] / "evals" / "suites"
runner = CliRunner()


def _known_case() -> Case:
    return next(c for c in load_suite(SUITES / "haggling.jsonl") if c.id == "haggle-deal-eu")


def test_policy_change_regresses_and_fails(tmp_path: Path) -> None:
    case = _known_case()
    good = tmp_path / "good.jsonl"
    write_suite(good, [case])
    baseline = tmp_path / "baseline.json"
    res = runner.invoke(app, ["eval", "run", str(good), "--report", str(baseline)])
    assert res.exit_code == 0, res.output
    assert json.loads(baseline.read_text())["cases"][0]["status"] == "pass"

    # The vendor raises BRG-6204's floor above its list price: the deal the case expects is no longer allowed.
    fixture = case.fixture.model_copy(update={"policy_overrides": {
        "products": {"BRG-6204": {"floor_price": {"EUR": "3.30", "USD": "3.70"}}}}})
    bad = tmp_path / "bad.jsonl"
    write_suite(bad, [case.model_copy(update={"fixture": fixture})])
    report, page = tmp_path / "after.json", tmp_path / "after.html"
    res = runner.invoke(app, ["eval", "run", str(bad), "--baseline", str(baseline), "--report", str(report),
                              "--html", str(page)])
    assert res.exit_code == 1, res.output
    assert "FAILED" in res.output and "haggle-deal-eu" in res.output
    assert "REGRESSION" in res.output
    doc = json.loads(report.read_text())
    result = doc["cases"][0]
    assert result["status"] == "fail"
    failing = {s["name"] for s in result["scores"] if not s["passed"]}
    assert "unit_price" in failing
    assert doc["baseline"]["regressions"] == ["haggle-deal-eu"]
    html = page.read_text()
    assert "<svg" in html and "Baseline diff" in html and "regression" in html


def test_lower_max_discount_fails_a_discount_bound(tmp_path: Path) -> None:
    """Fixture override of the approval chain: the same conversation now escalates, which the case forbids."""
    case = _known_case()
    fixture = case.fixture.model_copy(update={"policy_overrides": {"global": {"approval_chain": [
        {"name": "auto", "max_discount_percent": "1"}, {"name": "manager", "max_discount_percent": "25"},
        {"name": "director", "max_discount_percent": "30"}]}}})
    suite = tmp_path / "s.jsonl"
    write_suite(suite, [case.model_copy(update={"fixture": fixture})])
    res = runner.invoke(app, ["eval", "run", str(suite)])
    assert res.exit_code == 1, res.output


def test_target_unreachable_server_fails_and_unsupported_cases_skip(tmp_path: Path) -> None:
    """--target runs cases over A2A; a dead server is a failure, a case a live server cannot set up is skipped."""
    case = _known_case()
    pinned = case.model_copy(update={"id": "pinned", "fixture": case.fixture.model_copy(
        update={"policy_overrides": {"global": {"max_rounds": 3}}})})
    suite = tmp_path / "t.jsonl"
    write_suite(suite, [case, pinned])
    report = tmp_path / "t.json"
    res = runner.invoke(app, ["eval", "run", str(suite), "--target", "http://127.0.0.1:9", "--report", str(report)])
    assert res.exit_code == 1, res.output
    statuses = {r["id"]: r["status"] for r in json.loads(report.read_text())["cases"]}
    assert statuses == {"haggle-deal-eu": "fail", "pinned": "skip"}
    res = runner.invoke(app, ["eval", "run", str(suite), "--target", "http://127.0.0.1:9", "--buyer-key", "nonsense"])
    assert res.exit_code == 2
