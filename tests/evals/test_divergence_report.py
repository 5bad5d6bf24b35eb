"""A seller reply that differs from the recording is reported: turn, field path, recorded and live value, in the
console, the JSON report and the HTML page, and counted in the run summary. Whether it fails the case is as
before: only `must_not: divergence` (or the final state after `on_divergence: stop`) fails it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from agent.cli import app
from evals.case import Case, write_suite

runner = CliRunner()
BUYER = {"org": "eval-eu-standard", "region": "EU", "segment": "standard"}
RFQ = {"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "500"}]}
ACCEPT = {"type": "accept", "proposal_id": "$proposal_id", "version": "$version"}


def _case(cid: str, *, first: dict | None = None, second: dict | None = None, **extra) -> Case:
    """500 x BRG-6204 (the seller quotes 3.25 EUR), then accept (a deal)."""
    turns = [{"role": "buyer", "data": RFQ, **({"seller": first} if first else {})},
             {"role": "buyer", "data": ACCEPT, **({"seller": second} if second else {})}]
    return Case.model_validate({"id": cid, "fixture": {"buyer": BUYER}, "turns": turns,
                                "expect": {"outcome": "deal", **extra.pop("expect", {})}, **extra})


PRICE = {"type": "proposal", "items": [{"sku": "BRG-6204", "quantity": "500", "unit_price": "3.20"}]}
CODE = {"type": "error", "code": "unknown_proposal"}


def test_divergence_is_reported_with_field_and_values(tmp_path: Path) -> None:
    suite = tmp_path / "diverging.jsonl"
    write_suite(suite, [_case("diverged-price", first=PRICE, second={"type": "deal"}),
                        _case("diverged-code", second=CODE),
                        _case("matching", first={"type": "proposal", "items": [
                            {"sku": "BRG-6204", "quantity": "500", "unit_price": "3.25"}]})])
    report, page = tmp_path / "r.json", tmp_path / "r.html"
    res = runner.invoke(app, ["eval", "run", str(suite), "--report", str(report), "--html", str(page)])
    # divergence alone still does not fail a case (the cases judge the final state)
    assert res.exit_code == 0, res.output
    doc = json.loads(report.read_text())
    by_id = {r["id"]: r for r in doc["cases"]}
    assert {r["id"]: r["status"] for r in doc["cases"]} == {"diverged-price": "pass", "diverged-code": "pass",
                                                           "matching": "pass"}
    assert by_id["diverged-price"]["metrics"]["divergences"] == [
        {"turn": 0, "field": "items[0].unit_price", "recorded": "3.20", "live": "3.25"}]
    assert by_id["diverged-code"]["metrics"]["divergences"] == [
        {"turn": 1, "field": "type", "recorded": "error", "live": "deal"},
        {"turn": 1, "field": "code", "recorded": "unknown_proposal", "live": None}]
    assert by_id["matching"]["metrics"]["divergences"] == []
    assert by_id["diverged-price"]["transcript"][0]["divergence"] == by_id["diverged-price"]["metrics"]["divergences"]
    assert doc["summary"]["diverged"] == 2
    assert doc["summary"]["diverged_cases"] == ["diverged-code", "diverged-price"]

    out = " ".join(res.output.split())
    assert "diverged 2" in out
    assert "items[0].unit_price recorded 3.20, live 3.25" in out
    assert "code recorded unknown_proposal, live (none)" in out

    html = page.read_text()
    assert "diverged at turn 0: items[0].unit_price recorded 3.20, live 3.25" in html
    assert "turn 1: type recorded error, live deal; code recorded unknown_proposal, live (none)" in html


def test_failing_on_divergence_is_unchanged_and_says_what_diverged(tmp_path: Path) -> None:
    suite = tmp_path / "strict.jsonl"
    write_suite(suite, [
        _case("must-not-diverge", first=PRICE, expect={"must_not": ["divergence"]}),
        _case("stop-on-divergence", first=PRICE, on_divergence="stop")])
    report = tmp_path / "r.json"
    res = runner.invoke(app, ["eval", "run", str(suite), "--report", str(report)])
    assert res.exit_code == 1, res.output
    doc = json.loads(report.read_text())
    by_id = {r["id"]: r for r in doc["cases"]}
    assert by_id["must-not-diverge"]["status"] == "fail"
    (score,) = [s for s in by_id["must-not-diverge"]["scores"] if not s["passed"]]
    assert score["name"] == "no_divergence"
    assert "turn 0: items[0].unit_price recorded 3.20, live 3.25" in score["explanation"]
    # stop: the accept is never sent, so no deal
    stopped = by_id["stop-on-divergence"]
    assert stopped["status"] == "fail" and stopped["metrics"]["outcome"] == "no_deal"
    assert len(stopped["transcript"]) == 1
    assert stopped["metrics"]["divergences"][0]["field"] == "items[0].unit_price"
    assert doc["summary"]["diverged"] == 2
